import ArgumentParser
struct Bench: ParsableCommand { func run() {} }
struct BenchPeer: ParsableCommand { func run() {} }
