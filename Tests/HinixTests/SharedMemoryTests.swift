import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Memory files: sealed memfds and POSIX shared-memory names, and every refusal.
@Suite("Shared memory", .timeLimit(.minutes(1)))
struct SharedMemoryTests {
  private func uniqueName(_ label: String = #function) -> String {
    "/hinix-test-\(label.filter { $0.isLetter })-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  }

  @Test("a named object another process writes is seen through this mapping")
  func namedAcrossProcesses() async throws {
    let name = uniqueName()
    let memory = try SharedMemory(named: name, creating: 4096)
    defer { try? SharedMemory.unlink(named: name) }
    #expect(memory.count == 4096)
    #expect(!memory.isSealed)
    #expect(memory.bytes.count == 4096)
    let child = try spawnPeer(["shm-write", name, "from the child"])
    #expect(try await child.wait() == .exited(0))
    #expect(String(decoding: memory.bytes.prefix(14), as: UTF8.self) == "from the child")
    // A second mapping by name sees the same bytes; a larger minimum than the file is refused.
    let again = try SharedMemory(named: name, minimumSize: 4096)
    #expect(again.bytes[0] == UInt8(ascii: "f"))
    let small = expectError(.incompatible) { _ = try SharedMemory(named: name, minimumSize: 8192) }
    #expect(small?.description.contains(name) == true)
    // Creating it again is exclusive; after unlink the name is gone.
    expectError(.alreadyExists) { _ = try SharedMemory(named: name, creating: 4096) }
    try SharedMemory.unlink(named: name)
    expectError(.notFound) { _ = try SharedMemory(named: name) }
    expectError(.notFound) { try SharedMemory.unlink(named: name) }
  }

  @Test("bad names and sizes are refused before anything is left behind")
  func refusals() throws {
    for bad in ["no-slash", "/", "/a/b"] {
      let error = expectError(.invalidName) { _ = try SharedMemory(named: bad, creating: 4096) }
      #expect(error?.subject == bad)
    }
    let name = uniqueName()
    let zero = expectError(.invalidArgument) { _ = try SharedMemory(named: name, creating: 0) }
    #expect(zero?.detail.contains("positive") == true)
    // The refused creation removed its name again.
    expectError(.notFound) { _ = try SharedMemory(named: name) }
    expectError(.invalidArgument) { _ = try SharedMemory(creatingAnonymous: "test", size: 0) }
  }

  @Test("only a sealed memfd of the needed size is adopted")
  func adoptionRefusals() throws {
    // A pipe supports no seals.
    let (reader, _) = try Pipe.create()
    let notMemfd = expectError(.incompatible) {
      _ = try SharedMemory(
        adoptingSealed: OwnedDescriptor(adopting: try reader.descriptor.duplicate()), minimumSize: 1)
    }
    #expect(notMemfd?.detail.contains("not a memory file") == true)
    // A sealed memfd smaller than asked for.
    let memory = try SharedMemory(creatingAnonymous: "test", size: 4096)
    let tooSmall = expectError(.incompatible) {
      _ = try SharedMemory(
        adoptingSealed: OwnedDescriptor(adopting: try memory.descriptor.duplicate()), minimumSize: 8192)
    }
    #expect(tooSmall?.detail.contains("8192") == true)
    // The same memfd adopted with a fitting minimum maps the same bytes.
    memory.bytes[0] = 42
    let adopted = try SharedMemory(
      adoptingSealed: OwnedDescriptor(adopting: try memory.descriptor.duplicate()), minimumSize: 4096)
    #expect(adopted.isSealed)
    #expect(adopted.bytes[0] == 42)
  }
}
