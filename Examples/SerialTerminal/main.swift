// A minimal serial terminal, as picocom is: what you type goes to the port, what the port
// sends is printed, Ctrl-] quits. The terminal is put in raw mode for the session and put
// back however it ends.
//
//   swift run serial-terminal /dev/ttyUSB0 115200
//
// Without a device it lists the serial ports sysfs knows. To try it without hardware,
// `socat -d -d pty,raw,echo=0 pty,raw,echo=0` makes two linked pseudo-terminals and prints
// their paths: pass one here, and talk to the other (`cat` and `echo > PATH`).
import Glibc
import Hinix

/// Says what went wrong in one line on standard error and exits (2: a usage error).
func fail(_ message: String, status: Int32 = 1) -> Never {
  _ = try? FileDescriptor.standardError.writeAll("serial-terminal: \(message)\n".utf8)
  exit(status)
}

let arguments = CommandLine.arguments
if arguments.contains("--help") || arguments.contains("-h") || arguments.count < 2 || arguments.count > 3 {
  print("usage: serial-terminal DEVICE [BAUD]   (BAUD 115200 unless given; Ctrl-] quits)")
  for port in (try? SerialPort.list()) ?? [] {
    print("  \(port.path)  \(port.driver ?? "?")  \(port.subsystem ?? "")")
  }
  exit(arguments.count < 2 || arguments.count > 3 ? 2 : 0)
}
guard let rate = arguments.count > 2 ? Int(arguments[2]) : 115_200, rate > 0 else {
  fail("'\(arguments[2])' is not a rate in bits per second", status: 2)
}
let port: Terminal
let keyboard: Terminal
let screen: Terminal
do {
  port = try SerialPort.open(FilePath(arguments[1]), baudRate: BaudRate(bitsPerSecond: rate))
  keyboard = try Terminal.standardInput()
  screen = try Terminal.standardOutput()
} catch {
  fail("\(error)")
}
let quit: UInt8 = 0x1D  // Ctrl-]
print("\(arguments[1]) at \(rate) bit/s; Ctrl-] quits\r")

do {
  try await keyboard.withRawMode {
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        // Keyboard to port, until Ctrl-].
        while true {
          let typed = try await keyboard.read(upTo: 256)
          if typed.isEmpty { return }
          if let end = typed.firstIndex(of: quit) {
            try await port.write(Array(typed[..<end]))
            return
          }
          try await port.write(typed)
        }
      }
      group.addTask {
        // Port to screen, until the port hangs up.
        while true {
          let received = try await port.read(upTo: 4096)
          if received.isEmpty { return }
          try await screen.write(received)
        }
      }
      try await group.next()
      group.cancelAll()
    }
  }
} catch {
  fail("\(error)")
}
print("\nbye")
