// The raw C baseline of Hinix's shared-memory message ring: the same design (single producer,
// single consumer, free-running positions on their own cache lines, the producer's view of the
// consumer's position cached, 8-byte frame headers with a padding frame at the wrap, each
// frame published by its header word, stored last, which the consumer polls, and the next
// frame's header word zeroed before it, a sleeping flag announced before
// blocking on the ring's doorbell (a Unix stream socket pair: the waker sends one byte with
// MSG_DONTWAIT, the sleeper reads what came) and checked by the other side after a full
// fence), written the way a
// C programmer would, with no validation of the peer. Each function creates its rings, forks a
// pinned peer, measures, and reaps the peer.
#define _GNU_SOURCE
#include "CHinixBaseline.h"

#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PRODUCER = 128, CONSUMER = 256, CONSUMER_SLEEPING = 384, PRODUCER_SLEEPING = 512, DATA = 4096 };

struct ring {
  uint8_t *base;
  size_t capacity;
  int producer_bell;
  int consumer_bell;
};

struct side {
  uint8_t *data;
  uint64_t capacity;
  uint64_t position;
  uint64_t peer;
  _Atomic uint64_t *published;
  _Atomic uint64_t *peer_published;
  _Atomic uint64_t *sleeping;
  _Atomic uint64_t *peer_sleeping;
  int bell;
  int64_t spin_ns;
  /// A message ring's consumer reads its count from the frame header at its position; a typed
  /// ring's from the producer's position.
  int frames;
};

static int ring_make(struct ring *ring, size_t capacity) {
  int fd = memfd_create("hinix-c-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  if (ftruncate(fd, DATA + (off_t)capacity) < 0) {
    close(fd);
    return -errno;
  }
  void *base = mmap(NULL, DATA + capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return -errno;
  ring->base = base;
  ring->capacity = capacity;
  int bells[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bells) < 0) return -errno;
  ring->producer_bell = bells[0];
  ring->consumer_bell = bells[1];
  return 0;
}

static void ring_free(struct ring *ring) {
  munmap(ring->base, DATA + ring->capacity);
  if (ring->producer_bell >= 0) close(ring->producer_bell);
  if (ring->consumer_bell >= 0) close(ring->consumer_bell);
}

/// After fork, each process keeps only its side's end of the doorbell, so that the other
/// process's exit hangs it up (a recv returns 0) instead of leaving a sleeper waiting.
static void keep_bell(struct ring *ring, int producer) {
  int *other = producer ? &ring->consumer_bell : &ring->producer_bell;
  close(*other);
  *other = -1;
}

static struct side side_of(struct ring *ring, int producer, int64_t spin_ns) {
  struct side s;
  s.data = ring->base + DATA;
  s.capacity = ring->capacity;
  s.position = 0;
  s.peer = 0;
  s.published = (_Atomic uint64_t *)(ring->base + (producer ? PRODUCER : CONSUMER));
  s.peer_published = (_Atomic uint64_t *)(ring->base + (producer ? CONSUMER : PRODUCER));
  s.sleeping = (_Atomic uint64_t *)(ring->base + (producer ? PRODUCER_SLEEPING : CONSUMER_SLEEPING));
  s.peer_sleeping = (_Atomic uint64_t *)(ring->base + (producer ? CONSUMER_SLEEPING : PRODUCER_SLEEPING));
  s.bell = producer ? ring->producer_bell : ring->consumer_bell;
  s.spin_ns = spin_ns;
  s.frames = !producer;
  return s;
}

static inline uint64_t frame_size(uint64_t word) { return 8 + (((word & 0xffffffff) + 7) & ~(uint64_t)7); }

/// The producer's free bytes from the consumer's position; the consumer's bytes from the frame
/// header word at its position, which the producer stores last (0 until a frame is there).
static inline uint64_t available(struct side *s, int producer) {
  if (producer || !s->frames) {
    s->peer = atomic_load_explicit(s->peer_published, memory_order_acquire);
    return producer ? s->capacity - (s->position - s->peer) : s->peer - s->position;
  }
  uint64_t offset = s->position & (s->capacity - 1);
  uint64_t word = atomic_load_explicit((_Atomic uint64_t *)(s->data + offset), memory_order_acquire);
  if (word >> 32 == 2) {
    uint64_t second = atomic_load_explicit((_Atomic uint64_t *)s->data, memory_order_acquire);
    return s->capacity - offset + (second ? frame_size(second) : 0);
  }
  return word ? frame_size(word) : 0;
}

static inline uint64_t cached(struct side *s, int producer) {
  return producer ? s->capacity - (s->position - s->peer) : s->frames ? 0 : s->peer - s->position;
}

/// Waits until `needed` bytes are available: spins for spin_ns (forever if negative), then
/// announces the sleep, checks again, and blocks on its doorbell. The clock is first read after
/// 64 rounds, as Hinix does, so a wait that ends sooner reads no clock.
static int wait_for(struct side *s, int producer, uint64_t needed) {
  if (cached(s, producer) >= needed || available(s, producer) >= needed) return 0;
  if (s->spin_ns != 0) {
    int64_t end = INT64_MAX;
    for (unsigned i = 1;; i++) {
      if (available(s, producer) >= needed) return 0;
      __builtin_ia32_pause();
      if ((i & 63) == 0 && s->spin_ns > 0) {
        int64_t now = hinix_c_now_ns();
        if (i == 64) {
          end = now + s->spin_ns;
        } else if (now >= end) {
          break;
        }
      }
    }
  }
  for (;;) {
    atomic_store_explicit(s->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (available(s, producer) >= needed) {
      atomic_store_explicit(s->sleeping, 0, memory_order_relaxed);
      return 0;
    }
    uint8_t rung[64];
    ssize_t got = recv(s->bell, rung, sizeof rung, 0);
    if (got == 0) return -EPIPE;
    if (got < 0 && errno != EINTR) return -errno;
    atomic_store_explicit(s->sleeping, 0, memory_order_relaxed);
    if (available(s, producer) >= needed) return 0;
  }
}

static inline void commit(struct side *s, uint64_t count) {
  s->position += count;
  atomic_store_explicit(s->published, s->position, memory_order_release);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(s->peer_sleeping, memory_order_relaxed) &&
      atomic_exchange_explicit(s->peer_sleeping, 0, memory_order_seq_cst)) {
    uint8_t ring = 1;
    if (send(s->bell, &ring, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    }
  }
}

/// Writes the message, zeroes the next frame's header word, then stores the frame's header
/// (release), and a padding frame's header after it: the consumer polls the word at its position.
static int send_message(struct side *s, const void *bytes, size_t size) {
  uint64_t frame = 8 + ((size + 7) & ~(uint64_t)7);
  uint64_t at = s->position & (s->capacity - 1);
  uint64_t padding = frame <= s->capacity - at ? 0 : s->capacity - at;
  uint64_t offset = padding ? 0 : at;
  int rc = wait_for(s, 1, padding + frame + 8);
  if (rc) return rc;
  memcpy(s->data + offset + 8, bytes, size);
  atomic_store_explicit((_Atomic uint64_t *)(s->data + ((offset + frame) & (s->capacity - 1))), 0,
                        memory_order_relaxed);
  atomic_store_explicit((_Atomic uint64_t *)(s->data + offset), size | (uint64_t)1 << 32, memory_order_release);
  if (padding) {
    atomic_store_explicit((_Atomic uint64_t *)(s->data + at), padding | (uint64_t)2 << 32, memory_order_release);
  }
  commit(s, padding + frame);
  return 0;
}

static ssize_t receive_message(struct side *s, void *buffer) {
  int rc = wait_for(s, 0, 8);
  if (rc) return rc;
  uint64_t offset = s->position & (s->capacity - 1);
  uint64_t word = *(uint64_t *)(s->data + offset);
  uint64_t skip = 0;
  if (word >> 32 == 2) {
    skip = s->capacity - offset;
    offset = 0;
    word = *(uint64_t *)s->data;
  }
  size_t size = (size_t)(word & 0xffffffff);
  memcpy(buffer, s->data + offset + 8, size);
  commit(s, skip + 8 + ((size + 7) & ~(uint64_t)7));
  return (ssize_t)size;
}

static pid_t fork_on(int cpu) {
  pid_t pid = fork();
  if (pid == 0 && cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  return pid < 0 ? -errno : pid;
}

static int reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -errno;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int hinix_c_ring_throughput(size_t capacity, size_t size, long count, int64_t spin_ns, int cpu,
                            int64_t *elapsed_ns) {
  struct ring ring;
  int rc = ring_make(&ring, capacity);
  if (rc) return rc;
  int done = eventfd(0, EFD_CLOEXEC);
  uint8_t *buffer = aligned_alloc(64, (size + 63) & ~(size_t)63);
  memset(buffer, 7, size);
  pid_t pid = fork_on(cpu);
  if (pid == 0) {
    keep_bell(&ring, 0);
    struct side s = side_of(&ring, 0, spin_ns);
    for (long i = 0; i < count; i++) {
      if (receive_message(&s, buffer) != (ssize_t)size) _exit(1);
    }
    uint64_t one = 1;
    _exit(write(done, &one, sizeof one) == sizeof one ? 0 : 1);
  }
  keep_bell(&ring, 1);
  struct side s = side_of(&ring, 1, spin_ns);
  int64_t start = hinix_c_now_ns();
  for (long i = 0; i < count && rc == 0; i++) rc = send_message(&s, buffer, size);
  uint64_t value;
  if (rc == 0 && read(done, &value, sizeof value) < 0) rc = -errno;
  *elapsed_ns = hinix_c_now_ns() - start;
  if (rc) kill(pid, SIGKILL);
  int reaped = reap(pid);
  free(buffer);
  close(done);
  ring_free(&ring);
  return rc ? rc : reaped;
}

int hinix_c_ring_rtt(size_t capacity, size_t size, long iterations, int64_t spin_ns, int cpu,
                     int64_t *samples) {
  struct ring out, back;
  int rc = ring_make(&out, capacity);
  if (rc == 0) rc = ring_make(&back, capacity);
  if (rc) return rc;
  uint8_t *buffer = aligned_alloc(64, (size + 63) & ~(size_t)63);
  memset(buffer, 7, size);
  pid_t pid = fork_on(cpu);
  if (pid == 0) {
    keep_bell(&out, 0);
    keep_bell(&back, 1);
    struct side in = side_of(&out, 0, spin_ns);
    struct side reply = side_of(&back, 1, spin_ns);
    for (long i = 0; i < iterations; i++) {
      ssize_t n = receive_message(&in, buffer);
      if (n < 0 || send_message(&reply, buffer, (size_t)n) < 0) _exit(1);
    }
    _exit(0);
  }
  keep_bell(&out, 1);
  keep_bell(&back, 0);
  struct side request = side_of(&out, 1, spin_ns);
  struct side in = side_of(&back, 0, spin_ns);
  for (long i = 0; i < iterations && rc == 0; i++) {
    int64_t start = hinix_c_now_ns();
    rc = send_message(&request, buffer, size);
    if (rc == 0) {
      ssize_t n = receive_message(&in, buffer);
      if (n < 0) rc = (int)n;
    }
    samples[i] = hinix_c_now_ns() - start;
  }
  if (rc) kill(pid, SIGKILL);
  int reaped = reap(pid);
  free(buffer);
  ring_free(&out);
  ring_free(&back);
  return rc ? rc : reaped;
}

int hinix_c_pingpong_rtt(long iterations, int cpu, int64_t *samples) {
  _Atomic uint64_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (word == MAP_FAILED) return -errno;
  atomic_store(word, 0);
  pid_t pid = fork_on(cpu);
  if (pid == 0) {
    for (uint64_t i = 0; i < (uint64_t)iterations; i++) {
      while (atomic_load_explicit(word, memory_order_acquire) != 2 * i + 1) __builtin_ia32_pause();
      atomic_store_explicit(word, 2 * i + 2, memory_order_release);
    }
    _exit(0);
  }
  for (uint64_t i = 0; i < (uint64_t)iterations; i++) {
    int64_t start = hinix_c_now_ns();
    atomic_store_explicit(word, 2 * i + 1, memory_order_release);
    while (atomic_load_explicit(word, memory_order_acquire) != 2 * i + 2) __builtin_ia32_pause();
    samples[i] = hinix_c_now_ns() - start;
  }
  int rc = reap(pid);
  munmap((void *)word, 4096);
  return rc;
}

// Never inlined and 64-byte aligned: both rings call this one copy of the loop, at one
// placement, since where a hot loop lands moves these figures by up to 30% on this machine.
__attribute__((noinline, aligned(64))) uint64_t hinix_c_sum(const uint64_t *values, size_t count) {
  uint64_t lanes[8] = {0};
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    for (int lane = 0; lane < 8; lane++) lanes[lane] += values[i + lane];
  }
  uint64_t total = 0;
  for (; i < count; i++) total += values[i];
  for (int lane = 0; lane < 8; lane++) total += lanes[lane];
  return total;
}

// A typed ring of 64-bit elements, the same design with positions counted in elements: the
// producer copies into the contiguous free part, the consumer sums the contiguous filled part.
static uint64_t typed_send(struct side *s, const uint64_t *elements, uint64_t count) {
  uint64_t free = cached(s, 1) >= count ? cached(s, 1) : available(s, 1);
  uint64_t offset = s->position & (s->capacity - 1);
  uint64_t n = count < free ? count : free;
  if (n > s->capacity - offset) n = s->capacity - offset;
  memcpy((uint64_t *)s->data + offset, elements, n * 8);
  commit(s, n);
  return n;
}

static uint64_t typed_receive_sum(struct side *s, uint64_t *sum) {
  uint64_t filled = available(s, 0);
  uint64_t offset = s->position & (s->capacity - 1);
  uint64_t n = filled < s->capacity - offset ? filled : s->capacity - offset;
  *sum += hinix_c_sum((const uint64_t *)s->data + offset, n);
  commit(s, n);
  return n;
}

int hinix_c_ring_same_thread(size_t count, long warm_up, long iterations, int64_t *elapsed_ns,
                             uint64_t *sum) {
  struct ring ring;
  int rc = ring_make(&ring, 2 * count * 8);
  if (rc) return rc;
  uint64_t *source = aligned_alloc(64, count * 8);
  for (size_t i = 0; i < count; i++) source[i] = i + 5;
  struct side producer = side_of(&ring, 1, 0);
  struct side consumer = side_of(&ring, 0, 0);
  producer.capacity = consumer.capacity = 2 * count;
  consumer.frames = 0;
  uint64_t total = 0;
  int64_t start = 0;
  for (long i = 0; i < warm_up + iterations; i++) {
    if (i == warm_up) start = hinix_c_now_ns();
    for (uint64_t sent = 0; sent < count;) {
      uint64_t n = typed_send(&producer, source + sent, count - sent);
      sent += n;
      for (uint64_t got = 0; got < n;) got += typed_receive_sum(&consumer, &total);
    }
  }
  *elapsed_ns = hinix_c_now_ns() - start;
  *sum = total;
  free(source);
  ring_free(&ring);
  return 0;
}

int hinix_c_message_ring_same_thread(size_t size, long count) {
  struct ring ring;
  int rc = ring_make(&ring, 4096);
  if (rc) return rc;
  struct side producer = side_of(&ring, 1, 0);
  struct side consumer = side_of(&ring, 0, 0);
  uint8_t message[256];
  uint8_t back[256];
  if (size > sizeof message) size = sizeof message;
  memset(message, 1, size);
  for (long i = 0; i < count && rc == 0; i++) {
    rc = send_message(&producer, message, size);
    if (rc == 0) {
      ssize_t n = receive_message(&consumer, back);
      if (n != (ssize_t)size) rc = n < 0 ? (int)n : -EIO;
    }
  }
  ring_free(&ring);
  return rc;
}
