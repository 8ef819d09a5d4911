// The C baseline for event sources: what a C program does with inotify, timerfd and epoll.
#define _GNU_SOURCE
#include "CHinixBaseline.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

int hinix_c_file_storm(const char *folder, int count) {
  char path[4096];
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/storm-%d", folder, i);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    close(fd);
    if (unlink(path) < 0) return -errno;
  }
  return 0;
}

// MARK: Recursive watching

/// The folders below `folder` (a descriptor), each made and filled to `depth` more levels.
static int make_level(int folder, int fanout, int depth) {
  if (depth == 0) return 0;
  char name[16];
  for (int i = 0; i < fanout; i++) {
    snprintf(name, sizeof name, "%d", i);
    if (mkdirat(folder, name, 0755) < 0 && errno != EEXIST) return -errno;
    int child = openat(folder, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (child < 0) return -errno;
    int status = make_level(child, fanout, depth - 1);
    close(child);
    if (status < 0) return status;
  }
  return 0;
}

int hinix_c_make_tree(const char *root, int fanout, int depth) {
  if (mkdir(root, 0755) < 0 && errno != EEXIST) return -errno;
  int folder = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0) return -errno;
  int status = make_level(folder, fanout, depth);
  close(folder);
  return status;
}

/// Calls `visit` with each subfolder of `folder` (listed with getdents64, opened from `folder`
/// without following links, closed after), stopping at the first negative result.
static int each_subfolder(int folder, int (*visit)(int folder, int child, const char *name, void *context),
                          void *context) {
  char buffer[32768];
  for (;;) {
    long count = syscall(SYS_getdents64, folder, buffer, sizeof buffer);
    if (count < 0) return -errno;
    if (count == 0) return 0;
    for (long at = 0; at < count;) {
      struct dirent64 *entry = (struct dirent64 *)(buffer + at);
      at += entry->d_reclen;
      if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
      if (entry->d_type == DT_UNKNOWN) {
        // A filesystem that does not say: asked, without following a link.
        struct stat status;
        if (fstatat(folder, entry->d_name, &status, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(status.st_mode)) continue;
      } else if (entry->d_type != DT_DIR) {
        continue;
      }
      int child = openat(folder, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) continue;  // gone meanwhile
      int status = visit(folder, child, entry->d_name, context);
      close(child);
      if (status < 0) return status;
    }
  }
}

/// Removes the folder `name` of `folder` (open as `child`) and the empty folders below it.
static int remove_level(int folder, int child, const char *name, void *context) {
  int status = each_subfolder(child, remove_level, context);
  if (status < 0) return status;
  return unlinkat(folder, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int hinix_c_remove_tree(const char *root) {
  int folder = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (folder < 0) return -errno;
  int status = each_subfolder(folder, remove_level, NULL);
  close(folder);
  if (status < 0) return status;
  return rmdir(root) < 0 ? -errno : 0;
}

/// What a recursive watch of hinix_c_watch_tree carries down the tree.
struct tree_watch {
  int inotify;
  uint32_t mask;
  long *folders;
};

/// Watches the open folder `child` through /proc/self/fd, then, depth first, every folder below it.
static int watch_level(int folder, int child, const char *name, void *context) {
  (void)folder;
  (void)name;
  struct tree_watch *watch = context;
  char proc[32];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", child);
  if (inotify_add_watch(watch->inotify, proc, watch->mask) < 0) return -errno;
  *watch->folders += 1;
  return each_subfolder(child, watch_level, watch);
}

int hinix_c_watch_tree(int inotify, const char *root, uint32_t mask, long *folders, int64_t *elapsed) {
  int64_t start = hinix_c_now_ns();
  *folders = 0;
  int folder = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0) return -errno;
  struct tree_watch watch = {inotify, mask, folders};
  int status = watch_level(-1, folder, root, &watch);
  close(folder);
  *elapsed = hinix_c_now_ns() - start;
  return status;
}

int hinix_c_inotify_watch(const char *folder, uint32_t mask, int *wd) {
  int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return -errno;
  *wd = inotify_add_watch(fd, folder, mask);
  if (*wd < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/// Decodes the events in `buffer` as a C watcher does: the watch's folder from a table, the
/// full path built, the event counted.
static long decode(const char *buffer, ssize_t length, int wd, const char *folder, char *path) {
  long events = 0;
  size_t folder_length = strlen(folder);
  for (ssize_t offset = 0; offset + (ssize_t)sizeof(struct inotify_event) <= length;) {
    const struct inotify_event *event = (const struct inotify_event *)(buffer + offset);
    if (event->wd == wd) {
      memcpy(path, folder, folder_length);
      path[folder_length] = '/';
      size_t name_length = event->len ? strlen(event->name) : 0;
      memcpy(path + folder_length + 1, event->name, name_length);
      path[folder_length + 1 + name_length] = 0;
      // The path is what a watcher hands on: keep the compiler from dropping the copies of a
      // buffer nothing else reads.
      __asm__ volatile("" : : "r"(path) : "memory");
      events++;
    }
    offset += (ssize_t)sizeof(struct inotify_event) + event->len;
  }
  return events;
}

/// One read of the queued events into `buffer`: how many bytes, 0 when none are left, or -errno.
static ssize_t read_queued(int fd, char *buffer, size_t size) {
  for (;;) {
    ssize_t n = read(fd, buffer, size);
    if (n >= 0) return n;
    if (errno != EINTR) return errno == EAGAIN ? 0 : -errno;
  }
}

__attribute__((noinline)) int hinix_c_inotify_drain(int fd, int wd, const char *folder, long *events, int64_t *elapsed) {
  static char buffer[65536] __attribute__((aligned(8)));
  char path[8192];
  *events = 0;
  int64_t start = hinix_c_now_ns();
  ssize_t n;
  while ((n = read_queued(fd, buffer, sizeof buffer)) > 0) *events += decode(buffer, n, wd, folder, path);
  if (n < 0) return (int)n;
  *elapsed = hinix_c_now_ns() - start;
  return 0;
}

__attribute__((noinline)) int hinix_c_inotify_drain_raw(int fd, int wd, long *events_out, long *name_bytes_out, int64_t *elapsed) {
  static char buffer[65536] __attribute__((aligned(8)));
  // Counted in locals, stored once: stores through the pointers would be reloaded per event.
  long events = 0;
  long name_bytes = 0;
  int64_t start = hinix_c_now_ns();
  ssize_t n;
  while ((n = read_queued(fd, buffer, sizeof buffer)) > 0) {
    for (ssize_t offset = 0; offset + (ssize_t)sizeof(struct inotify_event) <= n;) {
      const struct inotify_event *event = (const struct inotify_event *)(buffer + offset);
      if (event->wd == wd) {
        name_bytes += event->len ? (long)strnlen(event->name, event->len) : 0;
        events += 1;
      }
      offset += (ssize_t)sizeof(struct inotify_event) + event->len;
    }
  }
  if (n < 0) return (int)n;
  *elapsed = hinix_c_now_ns() - start;
  *events_out = events;
  *name_bytes_out = name_bytes;
  return 0;
}

int hinix_c_inotify_latency(int fd, int wd, const char *folder, long iterations, int64_t *samples) {
  static char buffer[65536] __attribute__((aligned(8)));
  char path[8192];
  char file[4096];
  for (long i = 0; i < iterations; i++) {
    snprintf(file, sizeof file, "%s/latency-%ld", folder, i);
    int64_t start = hinix_c_now_ns();
    int created = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (created < 0) return -errno;
    close(created);
    long seen = 0;
    while (seen == 0) {
      ssize_t n = read(fd, buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
        struct pollfd ready = {.fd = fd, .events = POLLIN, .revents = 0};
        if (poll(&ready, 1, -1) < 0 && errno != EINTR) return -errno;
        continue;
      }
      seen = decode(buffer, n, wd, folder, path);
    }
    samples[i] = hinix_c_now_ns() - start;
    if (unlink(file) < 0) return -errno;
  }
  return 0;
}

int hinix_c_timer_lateness(int64_t period_ns, long iterations, int64_t *samples) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (fd < 0) return -errno;
  int64_t start = hinix_c_now_ns();
  struct itimerspec setting = {
      .it_interval = {.tv_sec = period_ns / 1000000000, .tv_nsec = period_ns % 1000000000},
      .it_value = {.tv_sec = (start + period_ns) / 1000000000, .tv_nsec = (start + period_ns) % 1000000000},
  };
  if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &setting, NULL) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  uint64_t total = 0;
  for (long i = 0; i < iterations; i++) {
    uint64_t count;
    if (read(fd, &count, sizeof count) != (ssize_t)sizeof count) {
      if (errno == EINTR) {
        i--;
        continue;
      }
      int err = errno;
      close(fd);
      return -err;
    }
    int64_t now = hinix_c_now_ns();
    total += count;
    samples[i] = now - (start + (int64_t)total * period_ns);
  }
  close(fd);
  return 0;
}

int hinix_c_epoll_ready_wait(long iterations, int64_t *elapsed) {
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return -errno;
  int event = eventfd(1, EFD_CLOEXEC);
  if (event < 0) {
    int err = errno;
    close(epoll);
    return -err;
  }
  struct epoll_event interest = {.events = EPOLLIN, .data = {.u64 = 7}};
  int rc = 0;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, event, &interest) < 0) rc = -errno;
  struct epoll_event ready[64];
  int64_t start = hinix_c_now_ns();
  for (long i = 0; i < iterations && rc == 0; i++) {
    int n = epoll_wait(epoll, ready, 64, 0);
    if (n != 1 || ready[0].data.u64 != 7) rc = n < 0 ? -errno : -EIO;
  }
  *elapsed = hinix_c_now_ns() - start;
  close(event);
  close(epoll);
  return rc;
}

int hinix_c_inotify_instructions(long count, int raw) {
  char folder[] = "/tmp/hinix-instructions-XXXXXX";
  if (!mkdtemp(folder)) return -errno;
  int wd = 0;
  int fd = hinix_c_inotify_watch(folder, IN_CREATE | IN_DELETE, &wd);
  int rc = fd < 0 ? fd : 0;
  for (long done = 0; rc == 0 && done < count; done += 1000) {
    int files = count - done < 1000 ? (int)(count - done) : 1000;
    rc = hinix_c_file_storm(folder, files);
    long events = 0;
    long name_bytes = 0;
    int64_t elapsed = 0;
    if (rc == 0) {
      rc = raw ? hinix_c_inotify_drain_raw(fd, wd, &events, &name_bytes, &elapsed)
               : hinix_c_inotify_drain(fd, wd, folder, &events, &elapsed);
    }
    if (rc == 0 && events != 2 * files) rc = -EIO;
  }
  if (fd >= 0) close(fd);
  // A storm that failed part-way may leave its last file behind.
  if (rc < 0) {
    char path[4096];
    for (int i = 0; i < 1000; i++) {
      snprintf(path, sizeof path, "%s/storm-%d", folder, i);
      unlink(path);
    }
  }
  rmdir(folder);
  return rc;
}
