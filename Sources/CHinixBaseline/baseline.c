#define _GNU_SOURCE
#include "CHinixBaseline.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <mqueue.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t hinix_c_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int send_all(int q, const char *buf, size_t size) {
  while (mq_send(q, buf, size, 0) < 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

static ssize_t receive_one(int q, char *buf, size_t size) {
  ssize_t n;
  while ((n = mq_receive(q, buf, size, NULL)) < 0) {
    if (errno != EINTR) return -errno;
  }
  return n;
}

int hinix_c_mq_rtt(int out, int in, void *buffer, size_t buffer_size, size_t size, long iterations,
                   int64_t *samples) {
  int rc = 0;
  for (long i = 0; i < iterations && rc == 0; i++) {
    int64_t start = samples ? hinix_c_now_ns() : 0;
    rc = send_all(out, buffer, size);
    if (rc == 0) {
      ssize_t n = receive_one(in, buffer, buffer_size);
      if (n < 0) rc = (int)n;
    }
    if (samples) samples[i] = hinix_c_now_ns() - start;
  }
  return rc;
}

int hinix_c_mq_echo(int in, int out, size_t buffer_size, long iterations) {
  char *buf = malloc(buffer_size);
  if (!buf) return -ENOMEM;
  int rc = 0;
  for (long i = 0; i < iterations && rc == 0; i++) {
    ssize_t n = receive_one(in, buf, buffer_size);
    rc = n < 0 ? (int)n : send_all(out, buf, (size_t)n);
  }
  free(buf);
  return rc;
}

int hinix_c_mq_stream_send(int out, int ack, void *buffer, size_t buffer_size, size_t size,
                           long count, int64_t *elapsed_ns) {
  int rc = 0;
  int64_t start = hinix_c_now_ns();
  for (long i = 0; i < count && rc == 0; i++) rc = send_all(out, buffer, size);
  if (rc == 0) {
    ssize_t n = receive_one(ack, buffer, buffer_size);
    if (n < 0) rc = (int)n;
  }
  *elapsed_ns = hinix_c_now_ns() - start;
  return rc;
}

int hinix_c_mq_stream_receive(int in, int ack, size_t buffer_size, long count) {
  char *buf = malloc(buffer_size);
  if (!buf) return -ENOMEM;
  int rc = 0;
  for (long i = 0; i < count && rc == 0; i++) {
    ssize_t n = receive_one(in, buf, buffer_size);
    if (n < 0) rc = (int)n;
  }
  if (rc == 0) rc = send_all(ack, buf, 1);
  free(buf);
  return rc;
}

static int add(int fd, uint64_t value) {
  while (write(fd, &value, sizeof value) < 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

static int take(int fd, uint64_t *value) {
  while (read(fd, value, sizeof *value) < 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

int hinix_c_eventfd_rtt(int ping, int pong, long iterations, int64_t *samples) {
  int rc = 0;
  uint64_t value;
  for (long i = 0; i < iterations && rc == 0; i++) {
    int64_t start = hinix_c_now_ns();
    rc = add(ping, 1);
    if (rc == 0) rc = take(pong, &value);
    if (samples) samples[i] = hinix_c_now_ns() - start;
  }
  return rc;
}

int hinix_c_eventfd_echo(int ping, int pong, long iterations) {
  int rc = 0;
  uint64_t value;
  for (long i = 0; i < iterations && rc == 0; i++) {
    rc = take(ping, &value);
    if (rc == 0) rc = add(pong, value);
  }
  return rc;
}

// On a non-blocking descriptor (a pty master as Hinix opens it), wait in poll on EAGAIN, as
// a C program using one does.
static int wait_for(int fd, short events) {
  struct pollfd ready = {.fd = fd, .events = events, .revents = 0};
  if (poll(&ready, 1, -1) < 0 && errno != EINTR) return -errno;
  return 0;
}

static int write_exactly(int fd, const char *buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, buf + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        int rc = wait_for(fd, POLLOUT);
        if (rc < 0) return rc;
        continue;
      }
      return -errno;
    }
    done += (size_t)n;
  }
  return 0;
}

static int read_exactly(int fd, char *buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = read(fd, buf + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        int rc = wait_for(fd, POLLIN);
        if (rc < 0) return rc;
        continue;
      }
      return -errno;
    }
    if (n == 0) return -EPIPE;
    done += (size_t)n;
  }
  return 0;
}

int hinix_c_stream_rtt(int out, int in, void *buffer, size_t size, long iterations, int64_t *samples) {
  int rc = 0;
  for (long i = 0; i < iterations && rc == 0; i++) {
    int64_t start = samples ? hinix_c_now_ns() : 0;
    rc = write_exactly(out, buffer, size);
    if (rc == 0) rc = read_exactly(in, buffer, size);
    if (samples) samples[i] = hinix_c_now_ns() - start;
  }
  return rc;
}

int hinix_c_stream_echo(int in, int out, void *buffer, size_t size, long iterations) {
  int rc = 0;
  for (long i = 0; i < iterations && rc == 0; i++) {
    rc = read_exactly(in, buffer, size);
    if (rc == 0) rc = write_exactly(out, buffer, size);
  }
  return rc;
}

int hinix_c_stream_send(int out, int ack, void *buffer, size_t size, long count, int64_t *elapsed_ns) {
  int rc = 0;
  int64_t start = hinix_c_now_ns();
  for (long i = 0; i < count && rc == 0; i++) rc = write_exactly(out, buffer, size);
  if (rc == 0) rc = read_exactly(ack, buffer, 1);
  *elapsed_ns = hinix_c_now_ns() - start;
  return rc;
}

int hinix_c_stream_sink(int in, int ack, void *buffer, size_t buffer_size, long long total) {
  long long done = 0;
  while (done < total) {
    size_t want = (size_t)(total - done) < buffer_size ? (size_t)(total - done) : buffer_size;
    ssize_t n = read(in, buffer, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EPIPE;
    done += n;
  }
  return write_exactly(ack, buffer, 1);
}

int hinix_c_pin_process(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // This thread first: the threads it starts from now on inherit its mask.
  if (sched_setaffinity(0, sizeof set, &set) < 0) return -errno;
  // Then every thread, again until a pass finds none left to pin: a thread that another,
  // not yet pinned, started during a pass inherited the old mask.
  for (int pass = 0; pass < 16; pass++) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -errno;
    int pinned = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
      if (entry->d_name[0] == '.') continue;
      pid_t thread = (pid_t)atoi(entry->d_name);
      cpu_set_t now;
      if (sched_getaffinity(thread, sizeof now, &now) == 0 && CPU_EQUAL(&now, &set)) continue;
      // A thread that ended since the directory was read is gone, not a failure.
      if (sched_setaffinity(thread, sizeof set, &set) < 0) {
        if (errno == ESRCH) continue;
        int error = errno;
        closedir(tasks);
        return -error;
      }
      pinned++;
    }
    closedir(tasks);
    if (pinned == 0) return 0;
  }
  return -EAGAIN;
}

static char fork_echo_buffer[1 << 20];

/// Forks; the child pins itself to `cpu` (when `cpu >= 0`). Returns the pid in the parent, 0 in
/// the child, or -errno.
static pid_t fork_pinned(int cpu) {
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0 && cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  return pid;
}

int hinix_c_fork_echo(int kind, int in, int out, size_t buffer_size, int cpu) {
  if (buffer_size > sizeof fork_echo_buffer) return -EINVAL;
  pid_t pid = fork_pinned(cpu);
  if (pid != 0) return pid;
  // Only `in` and `out` stay open: a copy of another peer's pipe end would keep this side from
  // seeing that peer's end of stream.
  for (int fd = 3; fd < 1024; fd++) {
    if (fd != in && fd != out) close(fd);
  }
  if (kind == 0) {
    for (;;) {
      ssize_t n = receive_one(in, fork_echo_buffer, buffer_size);
      if (n < 0 || send_all(out, fork_echo_buffer, (size_t)n) < 0) _exit(1);
    }
  }
  if (kind == 2) {
    for (;;) {
      if (read_exactly(in, fork_echo_buffer, buffer_size) != 0) _exit(1);
      if (write_exactly(out, fork_echo_buffer, buffer_size) != 0) _exit(1);
    }
  }
  uint64_t value;
  for (;;) {
    if (take(in, &value) < 0 || add(out, value) < 0) _exit(1);
  }
}

// MARK: descriptor passing

static int send_fd(int socket, int fd) {
  char byte = 'x';
  union {
    char buffer[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                           .msg_controllen = sizeof control.buffer};
  struct cmsghdr *header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(header), &fd, sizeof(int));
  while (sendmsg(socket, &message, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

static int receive_fd(int socket) {
  char byte;
  union {
    char buffer[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                           .msg_controllen = sizeof control.buffer};
  ssize_t n;
  while ((n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno != EINTR) return -errno;
  }
  if (n == 0) return -EPIPE;
  struct cmsghdr *header = CMSG_FIRSTHDR(&message);
  if (!header || header->cmsg_type != SCM_RIGHTS) return -EBADMSG;
  int fd;
  memcpy(&fd, CMSG_DATA(header), sizeof(int));
  return fd;
}

int hinix_c_fdpass_rtt(int socket, int passed, long iterations, int64_t *samples) {
  for (long i = 0; i < iterations; i++) {
    int64_t start = samples ? hinix_c_now_ns() : 0;
    int rc = send_fd(socket, passed);
    if (rc < 0) return rc;
    int fd = receive_fd(socket);
    if (fd < 0) return fd;
    close(fd);
    if (samples) samples[i] = hinix_c_now_ns() - start;
  }
  return 0;
}

int hinix_c_fdpass_echo(int socket, long iterations) {
  for (long i = 0; i < iterations; i++) {
    int fd = receive_fd(socket);
    if (fd < 0) return fd;
    int rc = send_fd(socket, fd);
    close(fd);
    if (rc < 0) return rc;
  }
  return 0;
}

int hinix_c_fork_stream_peer(int kind, int fd, size_t size, long long total, int cpu) {
  if (size > sizeof fork_echo_buffer) return -EINVAL;
  pid_t pid = fork_pinned(cpu);
  if (pid != 0) return pid;
  switch (kind) {
  case 0:
    hinix_c_stream_echo(fd, fd, fork_echo_buffer, size, LONG_MAX);
    break;
  case 1:
    while (hinix_c_stream_sink(fd, fd, fork_echo_buffer, sizeof fork_echo_buffer, total) == 0) {
    }
    break;
  default:
    hinix_c_fdpass_echo(fd, LONG_MAX);
  }
  _exit(1);
}

int hinix_c_instructions(int path, long count) {
  char message[64];
  char back[64];
  memset(message, 1, sizeof message);
  switch (path) {
  case 0: {
    char name[64];
    snprintf(name, sizeof name, "/hinix-instructions-c-%d", (int)getpid());
    struct mq_attr attributes = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attributes);
    if (q < 0) return -errno;
    mq_unlink(name);
    int rc = 0;
    for (long i = 0; i < count && rc == 0; i++) {
      rc = send_all(q, message, sizeof message);
      if (rc == 0) {
        ssize_t n = receive_one(q, back, sizeof back);
        if (n != (ssize_t)sizeof back) rc = n < 0 ? (int)n : -EIO;
      }
    }
    mq_close(q);
    return rc;
  }
  case 1:
  case 2: {
    int ends[2];
    int made = path == 1 ? pipe2(ends, O_CLOEXEC) : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends);
    if (made < 0) return -errno;
    int rc = 0;
    for (long i = 0; i < count && rc == 0; i++) {
      ssize_t n = path == 1 ? write(ends[1], message, sizeof message)
                            : send(ends[1], message, sizeof message, MSG_NOSIGNAL);
      if (n == (ssize_t)sizeof message) {
        n = path == 1 ? read(ends[0], back, sizeof back) : recv(ends[0], back, sizeof back, 0);
        if (n == (ssize_t)sizeof back) continue;
      }
      rc = n < 0 ? -errno : -EIO;
    }
    close(ends[0]);
    close(ends[1]);
    return rc;
  }
  case 3: {
    int64_t elapsed;
    uint64_t sum;
    return hinix_c_ring_same_thread(8, 0, count, &elapsed, &sum);
  }
  case 4:
    return hinix_c_signal_self(SIGRTMIN + 1, count);
  case 5:
  case 6:
    return hinix_c_inotify_instructions(count, path == 6);
  case 7:
    return hinix_c_message_ring_same_thread(64, count);
  default:
    return -EINVAL;
  }
}
