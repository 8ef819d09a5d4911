// Raw C doing the same system calls as Hinix, so that `hinix bench` and the Benchmarks package
// can measure Hinix beside a baseline in the same run. Every function returns 0 or -errno.
#ifndef CHINIX_BASELINE_H
#define CHINIX_BASELINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// CLOCK_MONOTONIC in nanoseconds: the one clock both sides of every benchmark use.
int64_t hinix_c_now_ns(void);

/// Sends the first `size` bytes of `buffer` on `out` and receives the reply on `in` into `buffer`
/// (`buffer_size` bytes, at least the queue's message size), `iterations` times; writes each
/// round trip's duration to `samples` (when not NULL). Allocates nothing.
int hinix_c_mq_rtt(int out, int in, void *buffer, size_t buffer_size, size_t size, long iterations,
                   int64_t *samples);
/// Receives on `in` and sends the same bytes back on `out`, `iterations` times.
int hinix_c_mq_echo(int in, int out, size_t buffer_size, long iterations);
/// Sends `count` messages of the first `size` bytes of `buffer` on `out`, then waits for one
/// acknowledgement on `ack`; writes the elapsed time to `elapsed_ns`. Allocates nothing.
int hinix_c_mq_stream_send(int out, int ack, void *buffer, size_t buffer_size, size_t size,
                           long count, int64_t *elapsed_ns);
/// Receives `count` messages on `in`, then sends a one-byte acknowledgement on `ack`.
int hinix_c_mq_stream_receive(int in, int ack, size_t buffer_size, long count);

/// Adds 1 to `ping` and reads `pong`, `iterations` times, recording each round trip.
int hinix_c_eventfd_rtt(int ping, int pong, long iterations, int64_t *samples);
/// Reads `ping` and adds what it read to `pong`, `iterations` times.
int hinix_c_eventfd_echo(int ping, int pong, long iterations);

/// Installs the baseline's signal handler (SA_SIGINFO, writing each siginfo into a pipe).
int hinix_c_signal_listen(int signo);
/// Restores the disposition `hinix_c_signal_listen` replaced.
int hinix_c_signal_unlisten(int signo);
/// Waits for the peer's first signal (it is ready), then times `iterations` round trips: kill
/// the peer, read the reply the handler wrote. The handler must be installed, and with `loop`
/// the thread shaped by `hinix_c_signal_loop`.
int hinix_c_signal_rtt(pid_t peer, int signo, int loop, long iterations, int64_t *samples);
/// The peer: installs the handler, signals its parent that it is ready, then answers each
/// delivery with a kill to its sender. With `loop`, it is shaped as `hinix_c_signal_loop`
/// sets up.
int hinix_c_signal_echo(int signo, long iterations, int loop);
/// Shapes the calling thread as an event loop in a multi-threaded C program, the design of
/// libuv's and libevent's signal watchers: it blocks `signo`, a thread started here takes the
/// signal instead, and each wait for the handler's record is an `epoll_wait` on the pipe
/// before the read. The thread lives until the process ends.
int hinix_c_signal_loop(int signo);
/// Waits for the process of `pidfd` (a child) to exit, as a C program does (poll on the pidfd,
/// then waitid P_PIDFD), and stores when the wait returned.
int hinix_c_pidfd_wait(int pidfd, int64_t *ended);
/// Writes the time now to `fd` and exits with status 0 (the exit-wait peer).
int hinix_c_exit_stamped(int fd);

/// Byte streams (pipes, FIFOs, stream sockets): writes `size` bytes from `buffer` on `out`, then
/// reads exactly `size` bytes back from `in`, `iterations` times, recording each round trip.
int hinix_c_stream_rtt(int out, int in, void *buffer, size_t size, long iterations, int64_t *samples);
/// Reads exactly `size` bytes from `in` and writes them back on `out`, `iterations` times.
int hinix_c_stream_echo(int in, int out, void *buffer, size_t size, long iterations);
/// Writes `count` blocks of `size` bytes on `out`, then waits for a one-byte acknowledgement on
/// `ack`; writes the elapsed time to `elapsed_ns`.
int hinix_c_stream_send(int out, int ack, void *buffer, size_t size, long count, int64_t *elapsed_ns);
/// Reads `total` bytes from `in` in reads of at most `buffer_size`, then writes one byte on `ack`.
int hinix_c_stream_sink(int in, int ack, void *buffer, size_t buffer_size, long long total);

/// Descriptor passing over a connected Unix socket: sends one byte with `passed` attached
/// (SCM_RIGHTS), receives one byte with a descriptor back (MSG_CMSG_CLOEXEC) and closes it,
/// `iterations` times, recording each round trip.
int hinix_c_fdpass_rtt(int socket, int passed, long iterations, int64_t *samples);
/// Receives one byte with a descriptor and sends it back with the same descriptor attached,
/// then closes its copy, `iterations` times.
int hinix_c_fdpass_echo(int socket, long iterations);

/// Pins every thread of this process to `cpu`, this one first so that threads started later
/// (a thread pool's, a reactor's) inherit it: a benchmark's peer on another CPU then never shares
/// its CPU with a thread of this process. Returns 0 or -errno.
int hinix_c_pin_process(int cpu);

/// Forks a peer that pins itself to `cpu` (when `cpu >= 0`) and echoes until killed or until a
/// call fails: kind 0 receives messages on the queue `in` and sends them back on `out`; kind 1
/// reads the eventfd `in` and adds what it read to `out`; kind 2 reads `buffer_size` bytes
/// from the byte stream `in` (a pipe) and writes them to `out`. Returns the pid, or -errno. The child
/// runs only system calls, no allocation, so forking a multi-threaded process is safe.
int hinix_c_fork_echo(int kind, int in, int out, size_t buffer_size, int cpu);

/// Forks a peer pinned to `cpu` (when `cpu >= 0`) that serves the connected socket `fd` until
/// killed or until a call fails: kind 0 echoes blocks of `size` bytes; kind 1 reads `total`
/// bytes and then writes a one-byte acknowledgement, over and over; kind 2 echoes one-byte
/// messages with a descriptor attached. Returns the pid, or -errno. Allocates nothing.
int hinix_c_fork_stream_peer(int kind, int fd, size_t size, long long total, int cpu);

/// The shared-memory message ring of the same design as Hinix's (ring.c). `spin_ns` is each
/// side's spin before it sleeps on its eventfd: 0 sleeps at once, negative spins forever.
/// Sends `count` messages of `size` bytes through a ring of `capacity` bytes to a forked peer
/// pinned to `cpu` that copies each out, until the peer acknowledges the last one; the time
/// goes in `elapsed_ns`. Returns 0 or -errno.
int hinix_c_ring_throughput(size_t capacity, size_t size, long count, int64_t spin_ns, int cpu,
                            int64_t *elapsed_ns);
/// Round trips of `size`-byte messages through two rings to a forked echo peer pinned to `cpu`,
/// each recorded in `samples[0..<iterations]`.
int hinix_c_ring_rtt(size_t capacity, size_t size, long iterations, int64_t spin_ns, int cpu,
                     int64_t *samples);
/// Round trips of one shared 64-bit word bouncing between this process and a forked peer
/// pinned to `cpu`, both busy-polling: the floor of any shared-memory round trip.
int hinix_c_pingpong_rtt(long iterations, int cpu, int64_t *samples);
/// shmem-ipc's benchmark shape (its benches/sharedring1.rs): on this thread, `warm_up` untimed
/// and then `iterations` timed times, copies a slice of `count` 64-bit values into a typed ring
/// of `2 * count` elements and sums them in place on the receiving side. The total of all sums
/// goes in `sum`; the warm-up touches every page of the new ring before the clock starts.
int hinix_c_ring_same_thread(size_t count, long warm_up, long iterations, int64_t *elapsed_ns,
                             uint64_t *sum);
/// `count` messages of `size` bytes (at most 256) sent into a 4096-byte message ring and
/// received out of it (copied) on this thread, for instruction counting. 0 or -errno.
int hinix_c_message_ring_same_thread(size_t size, long count);

/// The wrapping sum of `count` values: the receiving side's work in shmem-ipc's benchmark
/// shape, shared by the C ring and the Hinix ring so that both run the same machine code (eight
/// independent accumulators, so that its speed does not hang on where the loop lands).
uint64_t hinix_c_sum(const uint64_t *values, size_t count);

/// One hot path `count` times on this thread, for instruction counting (`Benchmarks/instructions.sh`):
/// 0, a 64-byte message sent to and received from a queue; 1, 64 bytes written to and read from
/// a pipe; 2, the same through a Unix stream socket pair; 3, a 64-byte slice through the typed
/// ring (`hinix_c_ring_same_thread`); 7, a 64-byte message through a message ring
/// (`hinix_c_message_ring_same_thread`). 0 or -errno.
int hinix_c_instructions(int path, long count);
/// `count` signals sent to this process and taken in the event-loop shape (a thread that takes
/// the signal writes it into a pipe that this thread's epoll loop reads), for instruction counting.
int hinix_c_signal_self(int signo, long count);
/// `count` files created and removed in a new folder, 1,000 at a time, each batch's events
/// read and decoded (`hinix_c_inotify_drain`, or with `raw` `hinix_c_inotify_drain_raw`), for
/// instruction counting.
int hinix_c_inotify_instructions(long count, int raw);

/// Makes the folder `root` (if missing) and below it `fanout` folders per level, `depth`
/// levels deep (fanout 32, depth 3: 33,825 folders with the root). 0 or -errno.
int hinix_c_make_tree(const char *root, int fanout, int depth);
/// Removes a tree of empty folders that hinix_c_make_tree made. 0 or -errno.
int hinix_c_remove_tree(const char *root);
/// Watches the folder `root` and every folder below it on the inotify instance `inotify` as a
/// careful C program does: each folder opened from its parent without following links and
/// watched through /proc/self/fd, then listed with getdents64 for its subfolders. Stores how
/// many folders were watched and how long it took. 0 or -errno.
int hinix_c_watch_tree(int inotify, const char *root, uint32_t mask, long *folders, int64_t *elapsed);
/// Creates and deletes `count` files in `folder` (a create/delete storm for inotify).
int hinix_c_file_storm(const char *folder, int count);
/// An inotify instance (non-blocking) watching `folder` for `mask`: its descriptor, with the
/// watch descriptor in `wd`.
int hinix_c_inotify_watch(const char *folder, uint32_t mask, int *wd);
/// Reads and decodes every queued event (the folder looked up, the path built); stores how
/// many and how long it took.
int hinix_c_inotify_drain(int fd, int wd, const char *folder, long *events, int64_t *elapsed);
/// Reads the queued events of `fd` until none is left, as a program that wants only their
/// fields does: each event's watch is matched and its name's length found, nothing copied.
int hinix_c_inotify_drain_raw(int fd, int wd, long *events, long *name_bytes, int64_t *elapsed);
/// `iterations` times: creates a file in `folder` and times until its event is read.
int hinix_c_inotify_latency(int fd, int wd, const char *folder, long iterations, int64_t *samples);
/// A periodic CLOCK_MONOTONIC timerfd, read blocking `iterations` times: each sample is how
/// long after its expiration the read returned.
int hinix_c_timer_lateness(int64_t period_ns, long iterations, int64_t *samples);
/// `iterations` epoll_wait calls with one ready eventfd registered; stores the time taken.
int hinix_c_epoll_ready_wait(long iterations, int64_t *elapsed);

#endif
