// Terminals: termios2 (arbitrary rates), window size, pseudo-terminals, modem lines, ioctl.
//
// The kernel's headers (struct termios2, TCGETS2, BOTHER) cannot be included beside glibc's
// termios.h, so this file includes only the kernel's, declares the few glibc functions it
// calls, and mirrors struct termios2 as hinix_termios.
#define _GNU_SOURCE
#include "CHinix.h"

#include <asm/ioctls.h>
#include <asm/termbits.h>
#include <asm/termios.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdio.h>
#include <linux/mount.h>
#include <sys/sysmacros.h>
#include <unistd.h>

// sys/ioctl.h (and sys/mount.h, which includes it) would pull glibc's termios definitions in.
extern int ioctl(int fd, unsigned long request, ...);
extern int mount(const char *source, const char *target, const char *type, unsigned long flags,
                 const void *data);

_Static_assert(sizeof(hinix_termios) == sizeof(struct termios2), "hinix_termios mirrors termios2");
_Static_assert(offsetof(hinix_termios, ispeed) == offsetof(struct termios2, c_ispeed), "ispeed");
_Static_assert(sizeof(((hinix_termios *)0)->cc) == NCCS, "control characters");

const uint32_t HINIX_CBAUD = CBAUD;
const uint32_t HINIX_BOTHER = BOTHER;
const uint32_t HINIX_IBSHIFT = IBSHIFT;
const int HINIX_NCCS2 = NCCS;

const int HINIX_TIOCM_DTR = TIOCM_DTR;
const int HINIX_TIOCM_RTS = TIOCM_RTS;
const int HINIX_TIOCM_CTS = TIOCM_CTS;
const int HINIX_TIOCM_DSR = TIOCM_DSR;
const int HINIX_TIOCM_CD = TIOCM_CD;
const int HINIX_TIOCM_RI = TIOCM_RI;

#define RETURN_OR_ERRNO(expr)                                                                      \
  do {                                                                                             \
    long _r = (long)(expr);                                                                        \
    return _r < 0 ? -errno : (int)_r;                                                              \
  } while (0)

int hinix_tcgets2(int fd, hinix_termios *out) { RETURN_OR_ERRNO(ioctl(fd, TCGETS2, out)); }

int hinix_tcsets2(int fd, const hinix_termios *attributes, int when) {
  unsigned long request = when == 2 ? TCSETSF2 : when == 1 ? TCSETSW2 : TCSETS2;
  // TCSETSW2 and TCSETSF2 wait for output to drain: a signal interrupts them, and they are
  // safe to repeat.
  int result;
  do {
    result = ioctl(fd, request, attributes);
  } while (result < 0 && errno == EINTR);
  return result < 0 ? -errno : 0;
}

int hinix_tcdrain(int fd) {
  int result;
  do {
    result = ioctl(fd, TCSBRK, 1);
  } while (result < 0 && errno == EINTR);
  return result < 0 ? -errno : 0;
}

int hinix_tcflush(int fd, int queue) {
  int which = queue == 2 ? TCIOFLUSH : queue == 1 ? TCOFLUSH : TCIFLUSH;
  RETURN_OR_ERRNO(ioctl(fd, TCFLSH, which));
}

int hinix_tcflow(int fd, int action) {
  int which = action == 3 ? TCION : action == 2 ? TCIOFF : action == 1 ? TCOON : TCOOFF;
  RETURN_OR_ERRNO(ioctl(fd, TCXONC, which));
}

int hinix_tcsendbreak(int fd, int duration) {
  // As glibc's tcsendbreak: 0 sends a break of 0.25 to 0.5 seconds; more, `duration` units
  // of 100 ms (TCSBRKP).
  RETURN_OR_ERRNO(duration <= 0 ? ioctl(fd, TCSBRK, 0) : ioctl(fd, TCSBRKP, duration));
}

int hinix_isatty(int fd) {
  struct termios2 attributes;
  RETURN_OR_ERRNO(ioctl(fd, TCGETS2, &attributes) < 0 ? -1 : 1);
}

int hinix_get_window_size(int fd, uint16_t *rows, uint16_t *columns, uint16_t *width, uint16_t *height) {
  struct winsize size;
  if (ioctl(fd, TIOCGWINSZ, &size) < 0) return -errno;
  *rows = size.ws_row;
  *columns = size.ws_col;
  *width = size.ws_xpixel;
  *height = size.ws_ypixel;
  return 0;
}

int hinix_set_window_size(int fd, uint16_t rows, uint16_t columns, uint16_t width, uint16_t height) {
  struct winsize size = {.ws_row = rows, .ws_col = columns, .ws_xpixel = width, .ws_ypixel = height};
  RETURN_OR_ERRNO(ioctl(fd, TIOCSWINSZ, &size));
}

int hinix_set_exclusive(int fd, int exclusive) { RETURN_OR_ERRNO(ioctl(fd, exclusive ? TIOCEXCL : TIOCNXCL)); }

int hinix_get_exclusive(int fd, int *exclusive) { RETURN_OR_ERRNO(ioctl(fd, TIOCGEXCL, exclusive)); }

int hinix_modem_get(int fd, int *lines) { RETURN_OR_ERRNO(ioctl(fd, TIOCMGET, lines)); }

int hinix_modem_change(int fd, int lines, int how) {
  RETURN_OR_ERRNO(ioctl(fd, how ? TIOCMBIS : TIOCMBIC, &lines));
}

// MARK: Waiting for a modem line, off the caller's thread

// TIOCMIWAIT has no timeout and no readiness event: it blocks until one of the lines changes.
// It runs on a thread of its own with asynchronous cancellation enabled for the ioctl alone, so
// that a cancelled wait ends that thread at once (pthread_cancel's signal interrupts the ioctl
// and the thread unwinds) instead of leaving it blocked until the next change.
typedef struct modem_wait {
  int fd;
  int lines;
  void (*done)(void *context, int result);
  void *context;
  pthread_t thread;
  atomic_int state;   // 0 waiting, 1 the thread reported, 2 the wait was cancelled
  atomic_int sent;    // the canceller's pthread_cancel has returned
  atomic_int owners;  // the thread and the handle
} modem_wait;

static void modem_wait_release_one(modem_wait *wait) {
  if (atomic_fetch_sub(&wait->owners, 1) == 1) {
    close(wait->fd);
    free(wait);
  }
}

static void modem_wait_unwound(void *argument) { modem_wait_release_one(argument); }

static void *modem_wait_main(void *argument) {
  modem_wait *wait = argument;
  int result;
  pthread_cleanup_push(modem_wait_unwound, wait);
  int previous;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &previous);
  result = ioctl(wait->fd, TIOCMIWAIT, wait->lines) < 0 ? -errno : 0;
  pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &previous);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &previous);
  pthread_cleanup_pop(0);
  int expected = 0;
  if (atomic_compare_exchange_strong(&wait->state, &expected, 1)) {
    wait->done(wait->context, result);
  } else {
    // The canceller reported; its pthread_cancel must reach a live thread, so wait for it.
    while (!atomic_load(&wait->sent)) sched_yield();
  }
  modem_wait_release_one(wait);
  return NULL;
}

int hinix_modem_wait_start(int fd, int lines, void (*done)(void *context, int result), void *context,
                           void **handle) {
  modem_wait *wait = calloc(1, sizeof *wait);
  if (!wait) return -ENOMEM;
  // A descriptor of its own, so closing the caller's while the thread waits closes nothing
  // the thread still uses.
  wait->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (wait->fd < 0) {
    int err = errno;
    free(wait);
    return -err;
  }
  wait->lines = lines;
  wait->done = done;
  wait->context = context;
  atomic_init(&wait->state, 0);
  atomic_init(&wait->sent, 0);
  atomic_init(&wait->owners, 2);
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, 64 * 1024);
  // The thread takes none of the process's signals (pthread_cancel's own still reaches it).
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  int status = pthread_create(&wait->thread, &attributes, modem_wait_main, wait);
  pthread_sigmask(SIG_SETMASK, &before, NULL);
  pthread_attr_destroy(&attributes);
  if (status != 0) {
    close(wait->fd);
    free(wait);
    return -status;
  }
  *handle = wait;
  return 0;
}

void hinix_modem_wait_cancel(void *handle) {
  modem_wait *wait = handle;
  int expected = 0;
  if (atomic_compare_exchange_strong(&wait->state, &expected, 2)) {
    pthread_cancel(wait->thread);
    atomic_store(&wait->sent, 1);
    wait->done(wait->context, -ECANCELED);
  }
  modem_wait_release_one(wait);
}

void hinix_modem_wait_release(void *handle) { modem_wait_release_one(handle); }

// MARK: Pseudo-terminals

int hinix_open_pty_master(int nonblocking) {
  int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0));
  if (fd < 0) return -errno;
  if (grantpt(fd) < 0 || unlockpt(fd) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int hinix_pty_name(int master, char *buffer, size_t capacity) {
  int status = ptsname_r(master, buffer, capacity);
  if (status != 0) return -status;
  return (int)strlen(buffer);
}

int hinix_open_pty_slave(int master, int nonblocking) {
  RETURN_OR_ERRNO(ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)));
}

int hinix_foreground_group(int fd) {
  pid_t group;
  if (ioctl(fd, TIOCGPGRP, &group) < 0) return -errno;
  return group;
}

/// For tests: a mount namespace of the caller's own whose /dev/pts is a new devpts instance
/// allowing `max` pseudo-terminals, with /dev/ptmx its multiplexer.
int hinix_private_devpts(int max) {
  if (unshare(CLONE_NEWNS) < 0) return -errno;
  if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return -errno;
  char options[64];
  snprintf(options, sizeof options, "newinstance,ptmxmode=0666,mode=0620,max=%d", max);
  if (mount("devpts", "/dev/pts", "devpts", 0, options) < 0) return -errno;
  if (mount("/dev/pts/ptmx", "/dev/ptmx", NULL, MS_BIND, NULL) < 0) return -errno;
  return 0;
}

// MARK: ioctl and device numbers

int hinix_ioctl_pointer(int fd, unsigned long request, void *argument) {
  RETURN_OR_ERRNO(ioctl(fd, request, argument));
}

int hinix_ioctl_value(int fd, unsigned long request, unsigned long argument) {
  RETURN_OR_ERRNO(ioctl(fd, request, argument));
}

uint32_t hinix_major(uint64_t device) { return major(device); }
uint32_t hinix_minor(uint64_t device) { return minor(device); }
