// A pool of worker processes fed by one POSIX message queue, their answers coming back on
// another: a job server whose workers are separate processes, each with its own memory, that
// take jobs as they become free.
//
//   swift run queue-workers [WORKERS] [JOBS]
//
// The server sends jobs and reads answers at the same time (both queues hold 10 messages, so
// doing one after the other would deadlock), then one empty message per worker to stop it.
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

/// A worker: takes jobs until an empty message, answers each on the results queue. A plain
/// blocking loop: a worker process has nothing else to do while it waits.
func runWorker(jobs jobsName: String, results resultsName: String) throws {
  let jobs = try MessageQueue(opening: MessageQueue.Name(jobsName), access: .readOnly)
  let results = try MessageQueue(opening: MessageQueue.Name(resultsName), access: .writeOnly)
  while true {
    let job = try jobs.receive()
    if job.bytes.isEmpty { return }
    let limit = Int(String(decoding: job.bytes, as: UTF8.self)) ?? 0
    try results.send(Array("\(limit) \(primes(upTo: limit)) \(getpid())".utf8))
  }
}

if arguments.count == 4, arguments[1] == "worker" {
  try runWorker(jobs: arguments[2], results: arguments[3])
  exit(0)
}

/// The server: makes both queues, starts the workers, sends the jobs while it reads the
/// answers, and waits for every worker to end.
func runServer(workers: Int, jobCount: Int) async throws {
  let stem = "/hinix-example-\(getpid())"
  let capacity = MessageQueue.Capacity(maxMessages: 10, maxMessageSize: 64)
  let jobs = try MessageQueue(
    creating: "\(stem)-jobs", access: .writeOnly, capacity: capacity, exclusive: true)
  let results = try MessageQueue(
    creating: "\(stem)-results", access: .readOnly, capacity: capacity, exclusive: true)
  // The names go once the workers have opened them; the queues live on while anyone holds them.
  defer {
    try? jobs.unlink()
    try? results.unlink()
  }

  var children: [ChildProcess] = []
  for _ in 0..<workers {
    children.append(
      try ChildProcess.spawn("/proc/self/exe", arguments: ["worker", "\(stem)-jobs", "\(stem)-results"]))
  }

  let answersByWorker = try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      for job in 1...jobCount { try await jobs.send(Array("\(job * 1000)".utf8)) }
      for _ in 0..<workers { try await jobs.send([UInt8]()) }
    }
    var answers: [String: Int] = [:]
    for _ in 0..<jobCount {
      let answer = String(decoding: try await results.receive().bytes, as: UTF8.self).split(separator: " ")
      answers[String(answer[2]), default: 0] += 1
    }
    try await group.waitForAll()
    return answers
  }

  for child in children {
    let termination = try await child.wait()
    guard termination == .exited(0) else {
      print("worker \(child.pid) ended with \(termination)")
      exit(1)
    }
  }
  print("\(jobCount) jobs answered by \(workers) workers:")
  for (worker, count) in answersByWorker.sorted(by: { $0.key < $1.key }) {
    print("  worker \(worker): \(count) jobs")
  }
}

try await runServer(
  workers: arguments.count > 1 ? max(1, Int(arguments[1]) ?? 4) : 4,
  jobCount: arguments.count > 2 ? max(1, Int(arguments[2]) ?? 200) : 200)
