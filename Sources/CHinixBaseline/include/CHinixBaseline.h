// Raw C doing the same system calls as Hinix, so that `hinix bench` and the Benchmarks package
// can measure Hinix beside a baseline in the same run. Every function returns 0 or -errno.
#ifndef CHINIX_BASELINE_H
#define CHINIX_BASELINE_H

#include <stddef.h>
#include <stdint.h>

/// CLOCK_MONOTONIC in nanoseconds: the one clock both sides of every benchmark use.
int64_t hinix_c_now_ns(void);

/// Sends `size` bytes on `out` and waits for the reply on `in`, `iterations` times; writes each
/// round trip's duration to `samples` (when not NULL).
int hinix_c_mq_rtt(int out, int in, size_t size, long iterations, int64_t *samples);
/// Receives on `in` and sends the same bytes back on `out`, `iterations` times.
int hinix_c_mq_echo(int in, int out, size_t buffer_size, long iterations);
/// Sends `count` messages of `size` bytes on `out`, then waits for one acknowledgement on `ack`;
/// writes the elapsed time to `elapsed_ns`.
int hinix_c_mq_stream_send(int out, int ack, size_t size, long count, int64_t *elapsed_ns);
/// Receives `count` messages on `in`, then sends a one-byte acknowledgement on `ack`.
int hinix_c_mq_stream_receive(int in, int ack, size_t buffer_size, long count);

/// Adds 1 to `ping` and reads `pong`, `iterations` times, recording each round trip.
int hinix_c_eventfd_rtt(int ping, int pong, long iterations, int64_t *samples);
/// Reads `ping` and adds what it read to `pong`, `iterations` times.
int hinix_c_eventfd_echo(int ping, int pong, long iterations);

#endif
