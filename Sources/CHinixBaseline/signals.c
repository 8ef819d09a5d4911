// The C baseline for signal delivery: what a C program does to receive signals whatever its
// threads do — a SA_SIGINFO handler that writes the siginfo into a pipe, read by a blocking
// read — and to answer them with kill.
#define _GNU_SOURCE
#include "CHinixBaseline.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  int32_t signo;
  int32_t code;
  int32_t pid;
  uint32_t uid;
  int64_t value;
} c_record;

static int record_pipe[2] = {-1, -1};
static struct sigaction previous;
/// The epoll instance that watches the pipe's read end in the event-loop shape, once made.
static int loop_epoll = -1;

static void handler(int signo, siginfo_t *info, void *context) {
  (void)context;
  int saved = errno;
  c_record record = {signo, info->si_code, info->si_pid, info->si_uid, (int64_t)(intptr_t)info->si_value.sival_ptr};
  ssize_t n = write(record_pipe[1], &record, sizeof record);
  (void)n;
  errno = saved;
}

int hinix_c_signal_listen(int signo) {
  if (record_pipe[0] < 0 && pipe2(record_pipe, O_CLOEXEC) < 0) return -errno;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = handler;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  return sigaction(signo, &action, &previous) < 0 ? -errno : 0;
}

int hinix_c_signal_unlisten(int signo) { return sigaction(signo, &previous, NULL) < 0 ? -errno : 0; }

/// The sender of the next delivery, or -errno; with `loop`, waits in epoll_wait first.
static int take(int loop) {
  if (loop) {
    struct epoll_event ready;
    int n;
    do {
      n = epoll_wait(loop_epoll, &ready, 1, -1);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
  }
  c_record record;
  size_t got = 0;
  while (got < sizeof record) {
    ssize_t n = read(record_pipe[0], (char *)&record + got, sizeof record - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EPIPE;
    got += (size_t)n;
  }
  return record.pid;
}

/// The thread that takes the signal in the event-loop shape: it sleeps with the signal
/// unblocked while the loop's thread blocks it, so the handler runs here and its write to the
/// pipe wakes the loop, as in a program whose loop thread is not the one signalled.
static void *taker(void *argument) {
  int signo = (int)(intptr_t)argument;
  sigset_t just;
  sigemptyset(&just);
  sigaddset(&just, signo);
  pthread_sigmask(SIG_UNBLOCK, &just, NULL);
  for (;;) pause();
  return NULL;
}

/// With `loop`, blocks `signo` in this thread, starts the thread that takes it and watches
/// the pipe with epoll.
static int start_loop(int signo, int loop) {
  if (!loop) return 0;
  if (loop_epoll < 0) {
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) return -errno;
    struct epoll_event interest = {.events = EPOLLIN, .data = {.fd = record_pipe[0]}};
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, record_pipe[0], &interest) < 0) {
      int err = errno;
      close(epoll);
      return -err;
    }
    loop_epoll = epoll;
  }
  sigset_t just;
  sigemptyset(&just);
  sigaddset(&just, signo);
  int err = pthread_sigmask(SIG_BLOCK, &just, NULL);
  if (err) return -err;
  static int started;
  if (started) return 0;
  pthread_t thread;
  err = pthread_create(&thread, NULL, taker, (void *)(intptr_t)signo);
  if (err) return -err;
  pthread_detach(thread);
  started = 1;
  return 0;
}

int hinix_c_signal_loop(int signo) { return start_loop(signo, 1); }

int hinix_c_signal_rtt(pid_t peer, int signo, int loop, long iterations, int64_t *samples) {
  int ready = take(loop);
  if (ready < 0) return ready;
  for (long i = 0; i < iterations; i++) {
    int64_t start = hinix_c_now_ns();
    if (kill(peer, signo) < 0) return -errno;
    int sender = take(loop);
    if (sender < 0) return sender;
    samples[i] = hinix_c_now_ns() - start;
  }
  return 0;
}

int hinix_c_signal_echo(int signo, long iterations, int loop) {
  int rc = hinix_c_signal_listen(signo);
  if (rc < 0) return rc;
  rc = start_loop(signo, loop);
  if (rc < 0) return rc;
  if (kill(getppid(), signo) < 0) return -errno;
  for (long i = 0; i < iterations; i++) {
    int sender = take(loop);
    if (sender < 0) return sender;
    if (kill(sender, signo) < 0) return -errno;
  }
  return 0;
}

int hinix_c_signal_self(int signo, long count) {
  int rc = hinix_c_signal_listen(signo);
  if (rc < 0) return rc;
  rc = start_loop(signo, 1);
  for (long i = 0; i < count && rc >= 0; i++) {
    rc = kill(getpid(), signo) < 0 ? -errno : take(1);
  }
  hinix_c_signal_unlisten(signo);
  return rc < 0 ? rc : 0;
}

int hinix_c_pidfd_wait(int pidfd, int64_t *ended) {
  struct pollfd ready = {.fd = pidfd, .events = POLLIN, .revents = 0};
  while (poll(&ready, 1, -1) < 0) {
    if (errno != EINTR) return -errno;
  }
  siginfo_t info;
  memset(&info, 0, sizeof info);
  while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0) {
    if (errno != EINTR) return -errno;
  }
  *ended = hinix_c_now_ns();
  return 0;
}

int hinix_c_exit_stamped(int fd) {
  int64_t now = hinix_c_now_ns();
  if (write(fd, &now, sizeof now) != (ssize_t)sizeof now) return -errno;
  _exit(0);
}
