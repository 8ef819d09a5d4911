// Event sources: timerfd, inotify, fanotify, and the epoll flags only the public poller uses.
#define _GNU_SOURCE
#include "CHinix.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>

const uint32_t HINIX_EPOLLET = EPOLLET;
const uint32_t HINIX_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;

const int HINIX_CLOCK_REALTIME = CLOCK_REALTIME;
const int HINIX_CLOCK_MONOTONIC = CLOCK_MONOTONIC;
const int HINIX_CLOCK_BOOTTIME = CLOCK_BOOTTIME;
const int HINIX_CLOCK_REALTIME_ALARM = CLOCK_REALTIME_ALARM;
const int HINIX_CLOCK_BOOTTIME_ALARM = CLOCK_BOOTTIME_ALARM;

int hinix_timerfd_create(int clock) {
  int fd = timerfd_create(clock, TFD_CLOEXEC);
  if (fd < 0) return -errno;
  // Blocking, so a blocking read wakes in the read itself, if the kernel lets the other forms
  // read it without blocking (RWF_NOWAIT); where it refuses, the description is non-blocking.
  uint64_t count;
  struct iovec vector = {.iov_base = &count, .iov_len = sizeof count};
  if (preadv2(fd, &vector, 1, -1, RWF_NOWAIT) < 0 && errno != EAGAIN) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      int err = errno;
      close(fd);
      return -err;
    }
  }
  return fd;
}

static struct timespec to_timespec(int64_t nanoseconds) {
  struct timespec time = {.tv_sec = (time_t)(nanoseconds / 1000000000), .tv_nsec = (long)(nanoseconds % 1000000000)};
  return time;
}

static int64_t from_timespec(struct timespec time) { return (int64_t)time.tv_sec * 1000000000 + time.tv_nsec; }

int hinix_timerfd_settime(int fd, int64_t value_ns, int64_t interval_ns, int absolute, int cancel_on_set) {
  struct itimerspec setting;
  memset(&setting, 0, sizeof setting);
  setting.it_value = to_timespec(value_ns);
  setting.it_interval = to_timespec(interval_ns);
  int flags = (absolute ? TFD_TIMER_ABSTIME : 0) | (cancel_on_set ? TFD_TIMER_CANCEL_ON_SET : 0);
  return timerfd_settime(fd, flags, &setting, NULL) < 0 ? -errno : 0;
}

int hinix_timerfd_gettime(int fd, int64_t *value_ns, int64_t *interval_ns) {
  struct itimerspec setting;
  if (timerfd_gettime(fd, &setting) < 0) return -errno;
  *value_ns = from_timespec(setting.it_value);
  *interval_ns = from_timespec(setting.it_interval);
  return 0;
}

int64_t hinix_clock_now(int clock) {
  struct timespec now;
  if (clock_gettime(clock, &now) < 0) return -errno;
  return from_timespec(now);
}

int hinix_clock_set_realtime(int64_t nanoseconds) {
  struct timespec time = to_timespec(nanoseconds);
  return clock_settime(CLOCK_REALTIME, &time) < 0 ? -errno : 0;
}

const int HINIX_EPOLL_EVENT_SIZE = (int)sizeof(struct epoll_event);
const int HINIX_EPOLL_DATA_OFFSET = (int)offsetof(struct epoll_event, data);

int hinix_epoll_wait_raw(int epfd, void *events, int capacity, int timeout_ms) {
  int n = epoll_wait(epfd, (struct epoll_event *)events, capacity, timeout_ms);
  return n < 0 ? -errno : n;
}

// MARK: inotify

int hinix_inotify_init(void) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

int hinix_inotify_add_watch(int fd, const char *path, uint32_t mask) {
  int wd = inotify_add_watch(fd, path, mask);
  return wd < 0 ? -errno : wd;
}

int hinix_inotify_add_watch_open(int fd, int folder, uint32_t mask) {
  char path[32];
  snprintf(path, sizeof path, "/proc/self/fd/%d", folder);
  return hinix_inotify_add_watch(fd, path, mask);
}

int hinix_inotify_rm_watch(int fd, int wd) { return inotify_rm_watch(fd, wd) < 0 ? -errno : 0; }

// MARK: fanotify

const uint64_t HINIX_FAN_ACCESS = FAN_ACCESS;
const uint64_t HINIX_FAN_MODIFY = FAN_MODIFY;
const uint64_t HINIX_FAN_ATTRIB = FAN_ATTRIB;
const uint64_t HINIX_FAN_CLOSE_WRITE = FAN_CLOSE_WRITE;
const uint64_t HINIX_FAN_CLOSE_NOWRITE = FAN_CLOSE_NOWRITE;
const uint64_t HINIX_FAN_OPEN = FAN_OPEN;
const uint64_t HINIX_FAN_OPEN_EXEC = FAN_OPEN_EXEC;
const uint64_t HINIX_FAN_MOVED_FROM = FAN_MOVED_FROM;
const uint64_t HINIX_FAN_MOVED_TO = FAN_MOVED_TO;
const uint64_t HINIX_FAN_CREATE = FAN_CREATE;
const uint64_t HINIX_FAN_DELETE = FAN_DELETE;
const uint64_t HINIX_FAN_DELETE_SELF = FAN_DELETE_SELF;
const uint64_t HINIX_FAN_MOVE_SELF = FAN_MOVE_SELF;
const uint64_t HINIX_FAN_Q_OVERFLOW = FAN_Q_OVERFLOW;
const uint64_t HINIX_FAN_OPEN_PERM = FAN_OPEN_PERM;
const uint64_t HINIX_FAN_ACCESS_PERM = FAN_ACCESS_PERM;
const uint64_t HINIX_FAN_OPEN_EXEC_PERM = FAN_OPEN_EXEC_PERM;
const uint64_t HINIX_FAN_EVENT_ON_CHILD = FAN_EVENT_ON_CHILD;
const uint64_t HINIX_FAN_ONDIR = FAN_ONDIR;

const unsigned HINIX_FAN_CLASS_NOTIF = FAN_CLASS_NOTIF;
const unsigned HINIX_FAN_CLASS_CONTENT = FAN_CLASS_CONTENT;
const unsigned HINIX_FAN_CLASS_PRE_CONTENT = FAN_CLASS_PRE_CONTENT;
const unsigned HINIX_FAN_REPORT_FID = FAN_REPORT_FID;
const unsigned HINIX_FAN_REPORT_DFID_NAME = FAN_REPORT_DFID_NAME;

const unsigned HINIX_FAN_MARK_INODE = FAN_MARK_INODE;
const unsigned HINIX_FAN_MARK_MOUNT = FAN_MARK_MOUNT;
const unsigned HINIX_FAN_MARK_FILESYSTEM = FAN_MARK_FILESYSTEM;
const unsigned HINIX_FAN_MARK_DONT_FOLLOW = FAN_MARK_DONT_FOLLOW;
const unsigned HINIX_FAN_MARK_ONLYDIR = FAN_MARK_ONLYDIR;

const uint32_t HINIX_FAN_ALLOW = FAN_ALLOW;
const uint32_t HINIX_FAN_DENY = FAN_DENY;

int hinix_fanotify_init(unsigned flags) {
  int fd = fanotify_init(flags | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
  return fd < 0 ? -errno : fd;
}

int hinix_fanotify_mark(int fd, int add, unsigned flags, uint64_t mask, const char *path) {
  unsigned operation = add ? FAN_MARK_ADD : FAN_MARK_REMOVE;
  return fanotify_mark(fd, operation | flags, mask, AT_FDCWD, path) < 0 ? -errno : 0;
}

int hinix_fanotify_respond(int fd, int event_fd, uint32_t response) {
  struct fanotify_response answer = {.fd = event_fd, .response = response};
  for (;;) {
    ssize_t n = write(fd, &answer, sizeof answer);
    if (n == (ssize_t)sizeof answer) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -errno : -EIO;
  }
}

// MARK: namespaces (for tests of per-user limits)

#include <sched.h>

int hinix_unshare_user_namespace(void) { return unshare(CLONE_NEWUSER) < 0 ? -errno : 0; }
