#define _GNU_SOURCE
#include "CHinix.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <string.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(mqd_t) == sizeof(int), "mqd_t is an int on Linux");

#define RETURN_OR_ERRNO(expr)                                                                      \
  do {                                                                                             \
    long _r = (long)(expr);                                                                        \
    return _r < 0 ? -errno : _r;                                                                   \
  } while (0)

// MARK: message queues

int hinix_mq_open(const char *name, int oflag, mode_t mode, const hinix_mq_attr *attr) {
  struct mq_attr a = {0};
  if (attr) {
    a.mq_flags = attr->flags;
    a.mq_maxmsg = attr->maxmsg;
    a.mq_msgsize = attr->msgsize;
  }
  mqd_t q = mq_open(name, oflag, mode, attr ? &a : NULL);
  return q == (mqd_t)-1 ? -errno : (int)q;
}

int hinix_mq_unlink(const char *name) { RETURN_OR_ERRNO(mq_unlink(name)); }

int hinix_mq_send(int mqd, const void *msg, size_t len, unsigned int prio) {
  RETURN_OR_ERRNO(mq_send((mqd_t)mqd, (const char *)msg, len, prio));
}

int hinix_mq_timedsend(int mqd, const void *msg, size_t len, unsigned int prio,
                       const struct timespec *deadline) {
  RETURN_OR_ERRNO(mq_timedsend((mqd_t)mqd, (const char *)msg, len, prio, deadline));
}

ssize_t hinix_mq_receive(int mqd, void *buf, size_t len, unsigned int *prio) {
  ssize_t n = mq_receive((mqd_t)mqd, (char *)buf, len, prio);
  return n < 0 ? -errno : n;
}

ssize_t hinix_mq_timedreceive(int mqd, void *buf, size_t len, unsigned int *prio,
                              const struct timespec *deadline) {
  ssize_t n = mq_timedreceive((mqd_t)mqd, (char *)buf, len, prio, deadline);
  return n < 0 ? -errno : n;
}

int hinix_mq_getattr(int mqd, hinix_mq_attr *attr) {
  struct mq_attr a;
  if (mq_getattr((mqd_t)mqd, &a) < 0) return -errno;
  attr->flags = a.mq_flags;
  attr->maxmsg = a.mq_maxmsg;
  attr->msgsize = a.mq_msgsize;
  attr->curmsgs = a.mq_curmsgs;
  return 0;
}

int hinix_mq_setattr(int mqd, long flags, hinix_mq_attr *old) {
  struct mq_attr a = {0}, o;
  a.mq_flags = flags;
  if (mq_setattr((mqd_t)mqd, &a, &o) < 0) return -errno;
  if (old) {
    old->flags = o.mq_flags;
    old->maxmsg = o.mq_maxmsg;
    old->msgsize = o.mq_msgsize;
    old->curmsgs = o.mq_curmsgs;
  }
  return 0;
}


// MARK: eventfd

const int HINIX_EFD_CLOEXEC = EFD_CLOEXEC;
const int HINIX_EFD_NONBLOCK = EFD_NONBLOCK;
const int HINIX_EFD_SEMAPHORE = EFD_SEMAPHORE;

int hinix_eventfd(unsigned int initval, int flags) { RETURN_OR_ERRNO(eventfd(initval, flags)); }

// MARK: epoll

const uint32_t HINIX_EPOLLIN = EPOLLIN;
const uint32_t HINIX_EPOLLOUT = EPOLLOUT;
const uint32_t HINIX_EPOLLERR = EPOLLERR;
const uint32_t HINIX_EPOLLHUP = EPOLLHUP;
const uint32_t HINIX_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t HINIX_EPOLLPRI = EPOLLPRI;
const uint32_t HINIX_EPOLLONESHOT = EPOLLONESHOT;
const int HINIX_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int HINIX_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int HINIX_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int hinix_epoll_create(void) { RETURN_OR_ERRNO(epoll_create1(EPOLL_CLOEXEC)); }

int hinix_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {.events = events, .data.u64 = data};
  RETURN_OR_ERRNO(epoll_ctl(epfd, op, fd, &ev));
}

int hinix_epoll_wait(int epfd, uint64_t *data, uint32_t *events, int capacity, int timeout_ms) {
  struct epoll_event evs[64];
  if (capacity > 64) capacity = 64;
  int n = epoll_wait(epfd, evs, capacity, timeout_ms);
  if (n < 0) return -errno;
  for (int i = 0; i < n; i++) {
    data[i] = evs[i].data.u64;
    events[i] = evs[i].events;
  }
  return n;
}

// MARK: descriptors and processes

int hinix_read(int fd, void *buf, size_t len) { RETURN_OR_ERRNO(read(fd, buf, len)); }
int hinix_pread(int fd, void *buf, size_t len, int64_t offset) { RETURN_OR_ERRNO(pread(fd, buf, len, (off_t)offset)); }
int hinix_write(int fd, const void *buf, size_t len) { RETURN_OR_ERRNO(write(fd, buf, len)); }
// Descriptors (below 4096) whose kind of file refused RWF_NOWAIT (ttys, most character
// devices), so later no-wait transfers on them go straight to the caller's poll-then-transfer
// fallback instead of paying a failing call each time. A bit is cleared when Hinix closes the
// descriptor or hands it back to the caller (hinix_nowait_forget); only a number closed behind
// its owner's back and reused could keep a stale bit, which routes that descriptor through the
// fallback too.
#define NOWAIT_REFUSED_LIMIT 4096
static _Atomic uint64_t nowait_refused[NOWAIT_REFUSED_LIMIT / 64];

static int nowait_known_refused(int fd) {
  return fd >= 0 && fd < NOWAIT_REFUSED_LIMIT &&
         (atomic_load_explicit(&nowait_refused[fd / 64], memory_order_relaxed) >> (fd % 64) & 1);
}

static void nowait_mark(int fd, int refused) {
  if (fd < 0 || fd >= NOWAIT_REFUSED_LIMIT) return;
  uint64_t bit = (uint64_t)1 << (fd % 64);
  if (refused) {
    atomic_fetch_or_explicit(&nowait_refused[fd / 64], bit, memory_order_relaxed);
  } else if (atomic_load_explicit(&nowait_refused[fd / 64], memory_order_relaxed) & bit) {
    atomic_fetch_and_explicit(&nowait_refused[fd / 64], ~bit, memory_order_relaxed);
  }
}

int hinix_close(int fd) {
  // Before the close, so no number reused once it is closed finds the bit, and after it, in
  // case a transfer of this owner's set it again meanwhile.
  nowait_mark(fd, 0);
  int result = close(fd);
  int err = errno;
  nowait_mark(fd, 0);
  return result < 0 ? -err : result;
}

void hinix_nowait_forget(int fd) { nowait_mark(fd, 0); }

int hinix_write_nowait(int fd, const void *buf, size_t len) {
  if (nowait_known_refused(fd)) return -EOPNOTSUPP;
  struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
  ssize_t n = pwritev2(fd, &v, 1, -1, RWF_NOWAIT);
  if (n < 0 && errno == EOPNOTSUPP) nowait_mark(fd, 1);
  return n < 0 ? -errno : (int)n;
}

const int HINIX_F_GETPIPE_SZ = F_GETPIPE_SZ;
const int HINIX_F_SETPIPE_SZ = F_SETPIPE_SZ;

int hinix_read_nowait(int fd, void *buf, size_t len) {
  if (nowait_known_refused(fd)) return -EOPNOTSUPP;
  struct iovec v = {.iov_base = buf, .iov_len = len};
  ssize_t n = preadv2(fd, &v, 1, -1, RWF_NOWAIT);
  if (n < 0 && errno == EOPNOTSUPP) nowait_mark(fd, 1);
  return n < 0 ? -errno : (int)n;
}
int hinix_fcntl(int fd, int cmd, int arg) { RETURN_OR_ERRNO(fcntl(fd, cmd, arg)); }

int hinix_pipe(int fds[2], int nonblocking) {
  RETURN_OR_ERRNO(pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)));
}

int hinix_poll_one(int fd, short events, int timeout_ms, short *revents) {
  struct pollfd p = {.fd = fd, .events = events, .revents = 0};
  int n = poll(&p, 1, timeout_ms);
  if (n < 0) return -errno;
  *revents = p.revents;
  return n;
}

int hinix_poll_many(const int *fds, short events, short *revents, int count, int timeout_ms) {
  struct pollfd list[256];
  if (count < 0 || count > 256) return -EINVAL;
  for (int i = 0; i < count; i++) {
    list[i].fd = fds[i];
    list[i].events = events;
    list[i].revents = 0;
  }
  int n = poll(list, (nfds_t)count, timeout_ms);
  if (n < 0) return -errno;
  for (int i = 0; i < count; i++) revents[i] = list[i].revents;
  return n;
}

// MARK: zero-copy transfers

const unsigned int HINIX_SPLICE_F_MOVE = SPLICE_F_MOVE;
const unsigned int HINIX_SPLICE_F_NONBLOCK = SPLICE_F_NONBLOCK;
const unsigned int HINIX_SPLICE_F_MORE = SPLICE_F_MORE;
const unsigned int HINIX_SPLICE_F_GIFT = SPLICE_F_GIFT;

_Static_assert(sizeof(loff_t) == sizeof(int64_t), "loff_t is 64 bits");
_Static_assert(sizeof(off_t) == sizeof(int64_t), "off_t is 64 bits");

ssize_t hinix_splice(int in, int64_t *off_in, int out, int64_t *off_out, size_t len, unsigned int flags) {
  ssize_t n = splice(in, (loff_t *)off_in, out, (loff_t *)off_out, len, flags);
  return n < 0 ? -errno : n;
}

ssize_t hinix_tee(int in, int out, size_t len, unsigned int flags) {
  ssize_t n = tee(in, out, len, flags);
  return n < 0 ? -errno : n;
}

ssize_t hinix_vmsplice(int fd, const void *buf, size_t len, unsigned int flags) {
  struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
  ssize_t n = vmsplice(fd, &v, 1, flags);
  return n < 0 ? -errno : n;
}

ssize_t hinix_sendfile(int out, int in, int64_t *offset, size_t count) {
  ssize_t n = sendfile(out, in, (off_t *)offset, count);
  return n < 0 ? -errno : n;
}

// Only async-signal-safe calls between fork and execve.
static void child_fail(int report, int err) {
  while (write(report, &err, sizeof err) < 0 && errno == EINTR) {
  }
  _exit(127);
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// Marks every descriptor of the calling (child) process from 3 up close-on-exec: close_range's
// flag (Linux 5.11), else each entry of /proc/self/fd read with the raw getdents64 (nothing here
// allocates: async-signal-safe between fork and execve). The standard streams keep their flags:
// one the parent had closed may hold the report pipe or another descriptor opened with
// close-on-exec, which must not cross execve either. 0 or an errno.
static int child_mark_all_cloexec(void) {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return errno;
  char buffer[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
    if (n < 0) {
      int err = errno;
      close(dir);
      return err;
    }
    if (n == 0) break;
    for (long at = 0; at < n;) {
      struct linux_dirent64_header {
        uint64_t ino;
        int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[];
      } *entry = (void *)(buffer + at);
      at += entry->reclen;
      int fd = 0, digits = 0;
      for (const char *c = entry->name; *c >= '0' && *c <= '9'; c++, digits++) fd = fd * 10 + (*c - '0');
      if (digits == 0 || fd == dir || fd < 3) continue;
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
  close(dir);
  return 0;
}

int hinix_spawn(const char *path, char *const argv[], char *const envp[], const int *sources,
                const int *targets, int count, int cpu, int controlling_terminal, int inherit_unmarked,
                int *pidfd) {
  *pidfd = -1;
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return -errno;
  // The child needs copies of every source above every target, so that no dup2 onto a target
  // overwrites a source that a later mapping still needs, and its end of the report pipe above
  // them all: a process started with standard streams closed gets the pipe as 0 or 1, a target
  // the child's dup2 would replace (and the errno would land in the program's stdout). Those
  // copies are made in the child.
  int highest = report[0] > report[1] ? report[0] : report[1];
  for (int i = 0; i < count; i++) {
    if (targets[i] > highest) highest = targets[i];
    if (sources[i] > highest) highest = sources[i];
  }
  // Every signal stays blocked across fork, so that no handler of this process (Hinix's own
  // writes to a pipe the child shares) runs in the child before its dispositions are reset.
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    close(report[0]);
    close(report[1]);
    return -err;
  }
  if (pid == 0) {
    // A clean start: every signal back to its default action (execve would keep an ignored one
    // ignored), then nothing blocked. The raw call reaches the two signals glibc keeps for
    // itself (32 and 33), which its sigaction refuses; KILL and STOP refuse, harmlessly.
    struct {
      void *handler;
      unsigned long flags;
      void *restorer;
      uint64_t mask;
    } default_action = {SIG_DFL, 0, NULL, 0};
    for (int signo = 1; signo < NSIG; signo++) {
      syscall(SYS_rt_sigaction, signo, &default_action, NULL, sizeof default_action.mask);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (sched_setaffinity(0, sizeof set, &set) < 0) child_fail(report[1], errno);
    }
    // The report end first, above every source and target; if even that fails, the original
    // (whatever its number) is the only way left to say so.
    int report_end = fcntl(report[1], F_DUPFD_CLOEXEC, highest + 1);
    if (report_end < 0) child_fail(report[1], errno);
    int copies[256];
    if (count > 256) child_fail(report_end, E2BIG);
    for (int i = 0; i < count; i++) {
      copies[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, highest + 1);
      if (copies[i] < 0) child_fail(report_end, errno);
    }
    // Only the mapped descriptors (and the standard streams not mapped) cross execve unless the
    // caller asked for every descriptor without close-on-exec too: descriptors another library
    // opened without O_CLOEXEC would otherwise leak into every child.
    if (!inherit_unmarked) {
      int err = child_mark_all_cloexec();
      if (err != 0) child_fail(report_end, err);
    }
    // dup2 clears close-on-exec on its target; a copy already at its target's number (dup2 of
    // a descriptor onto itself changes nothing) cannot be, since copies are above every target.
    for (int i = 0; i < count; i++) {
      if (dup2(copies[i], targets[i]) < 0) child_fail(report_end, errno);
    }
    // A session of its own whose controlling terminal is the (slave) terminal the child has at
    // descriptor `controlling_terminal`, as a pseudo-terminal's shell needs.
    if (controlling_terminal >= 0) {
      if (setsid() < 0) child_fail(report_end, errno);
      if (ioctl(controlling_terminal, TIOCSCTTY, 0) < 0) child_fail(report_end, errno);
    }
    execve(path, argv, envp);
    child_fail(report_end, errno);
  }
  // The child is unreaped (nothing here waits for it), so its pidfd names it for sure; only a
  // SIGCHLD set to SIG_IGN (which reaps children at once) could take it first.
  int opened = (int)syscall(SYS_pidfd_open, pid, 0);
  int pidfd_error = opened < 0 ? errno : 0;
  pthread_sigmask(SIG_SETMASK, &before, NULL);
  close(report[1]);
  int err = 0;
  ssize_t n;
  do {
    n = read(report[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == (ssize_t)sizeof err) {
    // execve failed and the child exited: reap it through its pidfd, which cannot name another
    // process; without one, it was reaped already (SIGCHLD ignored, or another waiter).
    if (opened >= 0) {
      siginfo_t info;
      while (waitid(P_PIDFD, (id_t)opened, &info, WEXITED) < 0 && errno == EINTR) {
      }
      close(opened);
    }
    return -err;
  }
  if (opened < 0) {
    // ESRCH: something reaped the child before its pidfd was opened (SIGCHLD set to SIG_IGN or
    // SA_NOCLDWAIT, or another thread's waitpid(-1)); its pid may name another process now, so
    // nothing is sent to it. ENOSYS: a kernel before 5.3; the child runs on unwatched.
    return pidfd_error == ESRCH ? -ECHILD : -pidfd_error;
  }
  *pidfd = opened;
  return pid;
}

int hinix_pin_to_cpu(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  RETURN_OR_ERRNO(sched_setaffinity(pid, sizeof set, &set));
}

int hinix_allowed_cpu(int from) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) < 0) return -1;
  for (int c = from < 0 ? 0 : from; c < CPU_SETSIZE; c++) {
    if (CPU_ISSET(c, &set)) return c;
  }
  return -1;
}

void hinix_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

// MARK: sockets

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#define HINIX_MAX_FDS 253

_Static_assert(sizeof(hinix_ucred) == sizeof(struct ucred), "hinix_ucred mirrors struct ucred");

const int HINIX_SCM_MAX_FD = HINIX_MAX_FDS;
const int HINIX_SO_PEERCRED = SO_PEERCRED;
const int HINIX_SO_PASSCRED = SO_PASSCRED;
const int HINIX_SO_PEERPIDFD = SO_PEERPIDFD;
const int HINIX_MSG_TRUNC = MSG_TRUNC;
const int HINIX_MSG_CTRUNC = MSG_CTRUNC;
const int HINIX_MSG_PEEK = MSG_PEEK;
const int HINIX_MSG_DONTWAIT = MSG_DONTWAIT;

int hinix_socket(int domain, int type, int nonblocking) {
  RETURN_OR_ERRNO(socket(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
}

int hinix_socketpair(int domain, int type, int nonblocking, int fds[2]) {
  RETURN_OR_ERRNO(socketpair(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0, fds));
}

int hinix_bind(int fd, const void *address, uint32_t length) {
  RETURN_OR_ERRNO(bind(fd, (const struct sockaddr *)address, length));
}

int hinix_listen(int fd, int backlog) { RETURN_OR_ERRNO(listen(fd, backlog)); }

int hinix_accept(int fd, void *address, uint32_t *length, int nonblocking) {
  RETURN_OR_ERRNO(accept4(fd, (struct sockaddr *)address, (socklen_t *)length,
                          SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0)));
}

int hinix_connect(int fd, const void *address, uint32_t length) {
  RETURN_OR_ERRNO(connect(fd, (const struct sockaddr *)address, length));
}

int hinix_shutdown(int fd, int how) { RETURN_OR_ERRNO(shutdown(fd, how)); }

int hinix_getsockopt(int fd, int level, int name, void *value, uint32_t *length) {
  RETURN_OR_ERRNO(getsockopt(fd, level, name, value, (socklen_t *)length));
}

int hinix_setsockopt(int fd, int level, int name, const void *value, uint32_t length) {
  RETURN_OR_ERRNO(setsockopt(fd, level, name, value, length));
}

int hinix_getsockname(int fd, void *address, uint32_t *length) {
  RETURN_OR_ERRNO(getsockname(fd, (struct sockaddr *)address, (socklen_t *)length));
}

int hinix_getpeername(int fd, void *address, uint32_t *length) {
  RETURN_OR_ERRNO(getpeername(fd, (struct sockaddr *)address, (socklen_t *)length));
}

ssize_t hinix_send(int fd, const void *buf, size_t len, int flags) {
  RETURN_OR_ERRNO(send(fd, buf, len, flags | MSG_NOSIGNAL));
}

const int HINIX_IOV_MAX = IOV_MAX;

ssize_t hinix_sendv(int fd, const struct iovec *iov, int count, int flags) {
  struct msghdr message = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
  RETURN_OR_ERRNO(sendmsg(fd, &message, flags | MSG_NOSIGNAL));
}

ssize_t hinix_recv(int fd, void *buf, size_t len, int flags) { RETURN_OR_ERRNO(recv(fd, buf, len, flags)); }

ssize_t hinix_sendmsg(int fd, const void *buf, size_t len, const void *address, uint32_t address_length,
                      const int *fds, int fd_count, const hinix_ucred *credentials, int flags) {
  if (fd_count < 0 || fd_count > HINIX_MAX_FDS) return -EINVAL;
  union {
    char buffer[CMSG_SPACE(sizeof(int) * HINIX_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr message = {
      .msg_name = (void *)address,
      .msg_namelen = address ? address_length : 0,
      .msg_iov = &iov,
      .msg_iovlen = 1,
  };
  size_t used = 0;
  if (fd_count > 0) used += CMSG_SPACE(sizeof(int) * (size_t)fd_count);
  if (credentials) used += CMSG_SPACE(sizeof(struct ucred));
  if (used > 0) {
    message.msg_control = control.buffer;
    message.msg_controllen = used;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (fd_count > 0) {
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_RIGHTS;
      header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
      memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)fd_count);
      header = CMSG_NXTHDR(&message, header);
    }
    if (credentials) {
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_CREDENTIALS;
      header->cmsg_len = CMSG_LEN(sizeof(struct ucred));
      memcpy(CMSG_DATA(header), credentials, sizeof(struct ucred));
    }
  }
  RETURN_OR_ERRNO(sendmsg(fd, &message, flags | MSG_NOSIGNAL));
}

ssize_t hinix_recvmsg(int fd, void *buf, size_t len, void *address, int *fds, int fd_capacity,
                      hinix_received *received, int flags) {
  union {
    char buffer[CMSG_SPACE(sizeof(int) * HINIX_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr message = {
      .msg_name = address,
      .msg_namelen = address ? received->address_length : 0,
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = control.buffer,
      .msg_controllen = sizeof control.buffer,
  };
  ssize_t count = recvmsg(fd, &message, flags | MSG_CMSG_CLOEXEC);
  if (count < 0) return -errno;
  received->fd_count = 0;
  received->fds_discarded = 0;
  received->has_credentials = 0;
  received->flags = message.msg_flags;
  received->address_length = address ? message.msg_namelen : 0;
  for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET) continue;
    if (header->cmsg_type == SCM_RIGHTS) {
      size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; i++) {
        int received_fd;
        memcpy(&received_fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
        if (received->fd_count < fd_capacity) {
          fds[received->fd_count++] = received_fd;
        } else {
          close(received_fd);
          received->fds_discarded++;
        }
      }
    } else if (header->cmsg_type == SCM_CREDENTIALS &&
               header->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
      memcpy(&received->credentials, CMSG_DATA(header), sizeof(struct ucred));
      received->has_credentials = 1;
    }
  }
  return count;
}

// MARK: memory files

const unsigned int HINIX_MFD_ALLOW_SEALING = MFD_ALLOW_SEALING;

const unsigned int HINIX_MFD_HUGETLB = MFD_HUGETLB;
const int HINIX_F_ADD_SEALS = F_ADD_SEALS;
const int HINIX_F_GET_SEALS = F_GET_SEALS;
const int HINIX_F_SEAL_SEAL = F_SEAL_SEAL;
const int HINIX_F_SEAL_SHRINK = F_SEAL_SHRINK;
const int HINIX_F_SEAL_GROW = F_SEAL_GROW;
const int HINIX_F_SEAL_WRITE = F_SEAL_WRITE;
const int HINIX_MAP_HUGETLB = MAP_HUGETLB;

int hinix_fcntl_int(int fd, int command, int argument) { RETURN_OR_ERRNO(fcntl(fd, command, argument)); }

int hinix_ftruncate(int fd, int64_t size) { RETURN_OR_ERRNO(ftruncate(fd, (off_t)size)); }

int hinix_mmap_shared(int fd, size_t size, int extra_flags, void **address) {
  void *mapped = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | extra_flags, fd, 0);
  if (mapped == MAP_FAILED) return -errno;
  *address = mapped;
  return 0;
}

int hinix_munmap(void *address, size_t size) { RETURN_OR_ERRNO(munmap(address, size)); }

int hinix_mlock(const void *address, size_t size) { RETURN_OR_ERRNO(mlock(address, size)); }

int hinix_shm_open(const char *name, int flags, mode_t mode) {
  RETURN_OR_ERRNO(shm_open(name, flags | O_CLOEXEC, mode));
}

int hinix_shm_unlink(const char *name) { RETURN_OR_ERRNO(shm_unlink(name)); }

int hinix_memfd_create(const char *name, unsigned int flags) {
  RETURN_OR_ERRNO(memfd_create(name, flags | MFD_CLOEXEC));
}

// MARK: files and folders

int hinix_stat(int fd, const char *path, int follow, hinix_file_status *out) {
  struct stat status;
  int result = fd >= 0 && path ? fstatat(fd, path, &status, follow ? 0 : AT_SYMLINK_NOFOLLOW)
               : fd >= 0       ? fstat(fd, &status)
               : follow        ? stat(path, &status)
                               : lstat(path, &status);
  if (result < 0) return -errno;
  out->mode = (uint32_t)status.st_mode;
  out->uid = (uint32_t)status.st_uid;
  out->gid = (uint32_t)status.st_gid;
  out->device = (uint64_t)status.st_dev;
  out->inode = (uint64_t)status.st_ino;
  out->size = (int64_t)status.st_size;
  out->special_device = (uint64_t)status.st_rdev;
  return 0;
}

int hinix_open(const char *path, int flags, mode_t mode) { RETURN_OR_ERRNO(open(path, flags | O_CLOEXEC, mode)); }
int hinix_openat(int dirfd, const char *path, int flags) {
  RETURN_OR_ERRNO(openat(dirfd, path, flags | O_CLOEXEC));
}
int hinix_mkfifo(const char *path, mode_t mode) { RETURN_OR_ERRNO(mkfifo(path, mode)); }
int hinix_mkdir(const char *path, mode_t mode) { RETURN_OR_ERRNO(mkdir(path, mode)); }
int hinix_chmod(const char *path, mode_t mode) { RETURN_OR_ERRNO(chmod(path, mode)); }
int hinix_unlink(const char *path) { RETURN_OR_ERRNO(unlink(path)); }
int hinix_rmdir(const char *path) { RETURN_OR_ERRNO(rmdir(path)); }

int hinix_mkdtemp(char *template_path) { return mkdtemp(template_path) ? 0 : -errno; }

ssize_t hinix_readlink(const char *path, char *buffer, size_t capacity) {
  RETURN_OR_ERRNO(readlink(path, buffer, capacity));
}

ssize_t hinix_getcwd(char *buffer, size_t capacity) {
  if (!getcwd(buffer, capacity)) return -errno;
  return (ssize_t)strlen(buffer);
}

const int HINIX_PATH_MAX = PATH_MAX;

ssize_t hinix_realpath(const char *path, char *buffer) {
  if (!realpath(path, buffer)) return -errno;
  return (ssize_t)strlen(buffer);
}

ssize_t hinix_getdents(int fd, void *buffer, size_t capacity) {
  RETURN_OR_ERRNO(syscall(SYS_getdents64, fd, buffer, capacity));
}

// MARK: processes, threads and time


int hinix_kill(pid_t pid, int signal) { RETURN_OR_ERRNO(kill(pid, signal)); }

int hinix_block_all_signals(void) {
  sigset_t all;
  sigfillset(&all);
  return -pthread_sigmask(SIG_BLOCK, &all, NULL);
}

int hinix_sleep_nanoseconds(int64_t nanoseconds) {
  struct timespec request = {.tv_sec = nanoseconds / 1000000000, .tv_nsec = nanoseconds % 1000000000};
  return -clock_nanosleep(CLOCK_MONOTONIC, 0, &request, NULL);
}

int hinix_pidfd_open(pid_t pid) { RETURN_OR_ERRNO(syscall(SYS_pidfd_open, pid, 0)); }
