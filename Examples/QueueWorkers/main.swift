// A pool of worker processes fed by one POSIX message queue, their answers coming back on
// another: a job server whose workers are separate processes, each with its own memory, that
// take jobs as they become free.
//
//   swift run queue-workers [WORKERS] [JOBS]
//
// The queues are handed to the workers as descriptors, so their names are removed as soon as
// they are made: nothing is left in /dev/mqueue however the server ends. The server sends jobs
// and reads answers at the same time (both queues hold 10 messages, so doing one after the
// other would deadlock), then one empty message per worker to stop it; a worker that dies
// ends the run with an error instead of leaving the server waiting for its answers.
import Glibc
import Hinix

let arguments = CommandLine.arguments

/// How many primes there are up to `limit`: the work each job asks for.
func primes(upTo limit: Int) -> Int {
  guard limit >= 2 else { return 0 }
  var composite = [Bool](repeating: false, count: limit + 1)
  var count = 0
  for number in 2...limit where !composite[number] {
    count += 1
    for multiple in stride(from: number * number, through: limit, by: number) { composite[multiple] = true }
  }
  return count
}

/// A worker: takes jobs from descriptor 3 until an empty message, answers each on descriptor
/// 4. A plain blocking loop: a worker process has nothing else to do while it waits. It looks
/// up every second whether its server still runs, as nothing else would end its wait if the
/// server were killed.
func runWorker() throws {
  let jobs = try MessageQueue(adopting: FileDescriptor(rawValue: 3))
  let results = try MessageQueue(adopting: FileDescriptor(rawValue: 4))
  let server = getppid()
  while true {
    guard case .completed(let job) = try jobs.blockingReceive(timeout: .seconds(1)) else {
      if getppid() != server { return }
      continue
    }
    if job.bytes.isEmpty { return }
    let limit = Int(String(decoding: job.bytes, as: UTF8.self)) ?? 0
    try results.blockingSend(Array("\(limit) \(primes(upTo: limit)) \(getpid())".utf8))
  }
}

/// A worker that did not end well.
struct WorkerFailed: Error, CustomStringConvertible {
  var pid: pid_t
  var termination: ChildProcess.Termination
  var description: String { "worker \(pid) ended with \(termination)" }
}

/// The server: makes both queues, starts the workers, sends the jobs while it reads the
/// answers, and waits for every worker to end; how many jobs each worker answered.
func runServer(workers: Int, jobCount: Int) async throws -> [String: Int] {
  let stem = "/hinix-example-\(getpid())"
  let capacity = MessageQueue.Capacity(maxMessages: 10, maxMessageSize: 64)
  let jobs = try MessageQueue(creating: "\(stem)-jobs", capacity: capacity, exclusive: true)
  try jobs.unlink()
  let results = try MessageQueue(creating: "\(stem)-results", capacity: capacity, exclusive: true)
  try results.unlink()

  var children: [ChildProcess] = []
  for _ in 0..<workers {
    children.append(
      try ChildProcess.spawn(
        "/proc/self/exe", arguments: ["worker"], passing: [jobs.descriptor: 3, results.descriptor: 4]))
  }

  do {
    return try await collectAnswers(jobs: jobs, results: results, children: children, jobCount: jobCount)
  } catch {
    // Workers still waiting for jobs would wait for ever: stop them.
    for child in children { try? child.kill() }
    throw error
  }
}

/// Sends the jobs and the stop messages, reads the answers, and waits for the workers, at once.
func collectAnswers(
  jobs: MessageQueue, results: MessageQueue, children: [ChildProcess], jobCount: Int
) async throws -> [String: Int] {
  let workers = children.count
  return try await withThrowingTaskGroup(of: [String: Int]?.self) { group in
    group.addTask {
      for job in 1...jobCount { try await jobs.send(Array("\(job * 1000)".utf8)) }
      for _ in 0..<workers { try await jobs.send([UInt8]()) }
      return nil
    }
    group.addTask {
      var answers: [String: Int] = [:]
      for _ in 0..<jobCount {
        let answer = String(decoding: try await results.receive().bytes, as: UTF8.self).split(separator: " ")
        answers[String(answer[2]), default: 0] += 1
      }
      return answers
    }
    for child in children {
      group.addTask {
        let termination = try await child.wait()
        guard termination == .exited(0) else { throw WorkerFailed(pid: child.pid, termination: termination) }
        return nil
      }
    }
    // The first error (a worker that died, a queue that failed) cancels the rest.
    var answers: [String: Int] = [:]
    while let finished = try await group.next() {
      if let finished { answers = finished }
    }
    return answers
  }
}

if arguments.count == 2, arguments[1] == "worker" {
  try runWorker()
  exit(0)
}
if arguments.contains("--help") || arguments.contains("-h") {
  print("usage: queue-workers [WORKERS] [JOBS]: WORKERS processes (4) answer JOBS jobs (200)")
  exit(0)
}
/// The count `arguments[index]` gives (from 1 to `limit`), or `default` when it is not given.
func count(_ index: Int, _ name: String, default value: Int, limit: Int) -> Int {
  guard arguments.count > index else { return value }
  guard let given = Int(arguments[index]), (1...limit).contains(given) else {
    _ = try? FileDescriptor.standardError.writeAll(
      "queue-workers: \(name) '\(arguments[index])' is not a number from 1 to \(limit)\n".utf8)
    exit(2)
  }
  return given
}
if arguments.count > 3 {
  _ = try? FileDescriptor.standardError.writeAll(
    "queue-workers: usage: queue-workers [WORKERS] [JOBS]\n".utf8)
  exit(2)
}
let workers = count(1, "WORKERS", default: 4, limit: 64)
let jobCount = count(2, "JOBS", default: 200, limit: 1_000_000)
do {
  let answers = try await runServer(workers: workers, jobCount: jobCount)
  print("\(jobCount) jobs answered by \(workers) workers:")
  for (worker, count) in answers.sorted(by: { $0.key < $1.key }) {
    print("  worker \(worker): \(count) jobs")
  }
} catch {
  _ = try? FileDescriptor.standardError.writeAll("queue-workers: \(error)\n".utf8)
  exit(1)
}
