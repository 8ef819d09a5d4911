// A parent process streams audio-like blocks of samples to a child through a shared-memory ring
// that the child inherits, and the child answers with a summary over a message ring.
//
//   swift run ring-example
//
// The parent writes samples in place (no copy), the child reads them in place; neither makes a
// system call per block while the other keeps up. If either dies, the other gets `.peerGone`.
import Glibc
import Hinix

let blocks = 10_000
let blockSize = 256

if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "child" {
  // The child: open both rings from the arguments its parent gave it.
  let samples = try RingReceiver<Float>.inherited(from: CommandLine.arguments[2])
  let replies = try MessageSender.inherited(from: CommandLine.arguments[3])
  var count = 0
  var sumOfSquares = 0.0
  while try samples.blockingReceive(
    minimumCount: blockSize,
    { block in
      for sample in block { sumOfSquares += Double(sample * sample) }
      count += block.count
      return block.count
    }) > 0
  {}
  let rms = (sumOfSquares / Double(max(count, 1))).squareRoot()
  try replies.blockingSend(Array("\(count) samples, RMS \(rms)".utf8))
  exit(0)
}

/// The parent: makes both rings for the child, starts it, then writes blocks in place.
func runParent() throws {
  let samples = try RingSender<Float>.createForChild(capacity: 1 << 14)
  let replies = try MessageReceiver.createForChild(capacity: 4096)
  let (samplesChild, repliesChild) = (samples.child, replies.child)
  var passing = samplesChild.passing(from: 3)
  passing.merge(repliesChild.passing(from: 7)) { first, _ in first }
  let child = try ChildProcess.spawn(
    FilePath(CommandLine.arguments[0]),
    arguments: ["child", samplesChild.argument(from: 3), repliesChild.argument(from: 7)], passing: passing)
  samplesChild.close()
  repliesChild.close()

  do {
    let sender = samples.end
    for index in 0..<blocks {
      try sender.blockingSend(minimumCount: blockSize, maxCount: blockSize) { slots in
        for slot in slots.indices {
          let phase = Float(index * blockSize + slot) * 0.01
          slots.initializeElement(at: slot, to: sin(phase))
        }
        return slots.count
      }
    }
    // The sender closes here: the child reads to the end, then replies.
  }
  let receiver = replies.end
  if let reply = try receiver.blockingReceive() {
    print("child:", String(decoding: reply, as: UTF8.self))
  }
  print("child", try child.blockingWait())
}

if CommandLine.arguments.count > 1 {
  let help = CommandLine.arguments[1] == "--help" || CommandLine.arguments[1] == "-h"
  print("usage: ring-example: streams samples to a child through a shared-memory ring; takes no arguments")
  exit(help ? 0 : 2)
}
do {
  try runParent()
} catch {
  _ = try? FileDescriptor.standardError.writeAll("ring-example: \(error)\n".utf8)
  exit(1)
}
