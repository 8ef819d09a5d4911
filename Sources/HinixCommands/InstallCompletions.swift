import ArgumentParser
import Hinix
import SystemPackage

extension CompletionShell: @retroactive ExpressibleByArgument {}

/// `hinix install-completions`: the shell completions of `hinix`, `mqsend` and `mqrecv`, written
/// where bash, zsh and fish look for them under a prefix.
struct InstallCompletions: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "install-completions",
    abstract: "Install shell completions for hinix, mqsend and mqrecv.",
    discussion: """
      Writes each tool's completion script for each shell where that shell looks for them \
      under PREFIX: bash in share/bash-completion/completions, zsh in share/zsh/site-functions, \
      fish in share/fish/vendor_completions.d; prints each path it wrote. The manual pages are \
      in the repository's man/ folder (see the README). Exit status: 0 written, 1 error, 2 usage.
      """)

  @Option(help: "The folder under which the scripts go.")
  var prefix: String = "/usr/local"

  @Option(name: .customLong("shell"), help: "Only this shell (repeatable): bash, zsh or fish.")
  var shells: [CompletionShell] = []

  /// The tools, by their command names.
  static let tools: [(name: String, command: any ParsableCommand.Type)] = [
    ("hinix", HinixCommand.self), ("mqsend", MQSend.self), ("mqrecv", MQRecv.self),
  ]

  /// Where `shell` looks for the completions of `tool`, under `prefix`.
  static func path(of tool: String, for shell: CompletionShell, under prefix: FilePath) -> FilePath {
    switch shell {
    case .zsh: prefix.appending("share/zsh/site-functions/_\(tool)")
    case .fish: prefix.appending("share/fish/vendor_completions.d/\(tool).fish")
    default: prefix.appending("share/bash-completion/completions/\(tool)")
    }
  }

  func validate() throws {
    if prefix.isEmpty {
      throw ValidationError("--prefix is empty; give a folder, such as /usr/local or ~/.local")
    }
  }

  func run() throws {
    let chosen = shells.isEmpty ? [CompletionShell.bash, .zsh, .fish] : shells
    for shell in chosen {
      for tool in Self.tools {
        let path = Self.path(of: tool.name, for: shell, under: FilePath(prefix))
        try writeFile(tool.command.completionScript(for: shell), to: path, makingFolders: true)
        try writeOut("\(path)\n")
      }
    }
  }
}
