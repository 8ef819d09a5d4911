// Signals: the one handler Hinix installs, sending, masks, signalfd and pidfd calls.
//
// The handler runs at any time on any thread that does not block the signal, so it may only make
// async-signal-safe calls: it saves and restores errno, takes no lock, allocates nothing, and hands
// the kernel's siginfo to the reactor as one fixed-size record written whole into a non-blocking
// pipe (a write up to PIPE_BUF is atomic). A record that does not fit is counted, never lost
// silently.
#define _GNU_SOURCE
#include "CHinix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(hinix_signal_record) <= PIPE_BUF, "a record is written atomically");
_Static_assert(HINIX_SIGNAL_LIMIT > __SIGRTMAX, "every signal number has a slot");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2, "the handler's atomics take no lock");

/// The pipe's writing end; -1 until the Swift side sets it (once, before any install).
static _Atomic int record_pipe = -1;
/// Per signal: deliveries the handler could not write (the pipe was full).
static _Atomic uint64_t dropped[HINIX_SIGNAL_LIMIT];
/// Per signal: the disposition before Hinix installed its handler, and whether one is saved.
static struct sigaction previous[HINIX_SIGNAL_LIMIT];
static _Atomic int installed[HINIX_SIGNAL_LIMIT];
/// Per signal: the escalation window in nanoseconds (0: none) and the last delivery's time.
static _Atomic int64_t escalate_window[HINIX_SIGNAL_LIMIT];
static _Atomic int64_t last_delivery[HINIX_SIGNAL_LIMIT];

static int64_t monotonic_now(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/// The signals the kernel raises synchronously for a fault of the running instruction.
static int is_fault_signal(int signo) {
  return signo == SIGILL || signo == SIGTRAP || signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE;
}

/// Held by every change of a disposition Hinix keeps (install, restore, the SIGPIPE policy) and
/// every read of a saved one, so that the policy never reads a disposition that an install or a
/// restore is replacing (never by the handler, which takes no lock).
static pthread_mutex_t dispositions = PTHREAD_MUTEX_INITIALIZER;

static void handler(int signo, siginfo_t *info, void *context) {
  (void)context;
  int saved_errno = errno;
  if (signo > 0 && signo < HINIX_SIGNAL_LIMIT) {
    int64_t window = atomic_load_explicit(&escalate_window[signo], memory_order_relaxed);
    if (window > 0) {
      int64_t now = monotonic_now();
      int64_t last = atomic_exchange_explicit(&last_delivery[signo], now, memory_order_relaxed);
      if (last != 0 && now - last <= window) {
        // A second delivery within the window: the program may be stuck. Restore the default
        // action and deliver the signal again, which ends the process as it would have.
        struct sigaction fallback;
        memset(&fallback, 0, sizeof fallback);
        fallback.sa_handler = SIG_DFL;
        sigemptyset(&fallback.sa_mask);
        sigaction(signo, &fallback, NULL);
        sigset_t just;
        sigemptyset(&just);
        sigaddset(&just, signo);
        pthread_sigmask(SIG_UNBLOCK, &just, NULL);
        raise(signo);
        // Still here: the default action ignored the signal. PID 1 of a pid namespace (a
        // server in a container without an init) ignores every signal left at SIG_DFL that
        // comes from inside its namespace, so the escalation must end the process itself, as
        // the default action would have: by the shell's convention for a signal's death.
        _exit(128 + signo);
      }
    }
    if (info->si_code > 0 && is_fault_signal(signo)) {
      // A fault the kernel raised (an illegal instruction, a bad access, a division by zero,
      // a Swift trap): returning would run the faulting instruction again, forever. Put the
      // disposition Hinix replaced back and return: the instruction faults again at once and
      // reaches the previous handler (the Swift runtime's crash report) or the default action.
      sigaction(signo, &previous[signo], NULL);
      atomic_store_explicit(&installed[signo], 0, memory_order_relaxed);
      errno = saved_errno;
      return;
    }
    hinix_signal_record record;
    memset(&record, 0, sizeof record);
    record.signal = signo;
    record.code = info->si_code;
    record.error = info->si_errno;
    record.pid = info->si_pid;
    record.uid = info->si_uid;
    record.status = info->si_status;
    record.value = (int64_t)(intptr_t)info->si_value.sival_ptr;
    record.address = (uint64_t)(uintptr_t)info->si_addr;
    int fd = atomic_load_explicit(&record_pipe, memory_order_acquire);
    ssize_t written = fd < 0 ? -1 : write(fd, &record, sizeof record);
    if (written != (ssize_t)sizeof record) {
      atomic_fetch_add_explicit(&dropped[signo], 1, memory_order_relaxed);
    }
  }
  errno = saved_errno;
}

void hinix_signal_set_pipe(int fd) { atomic_store_explicit(&record_pipe, fd, memory_order_release); }

int hinix_signal_install(int signo) {
  if (signo <= 0 || signo >= HINIX_SIGNAL_LIMIT) return -EINVAL;
  pthread_mutex_lock(&dispositions);
  int result = 0;
  if (!atomic_load(&installed[signo])) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    atomic_store(&last_delivery[signo], 0);
    if (sigaction(signo, &action, &previous[signo]) < 0) {
      result = -errno;
    } else {
      atomic_store(&installed[signo], 1);
    }
  }
  pthread_mutex_unlock(&dispositions);
  return result;
}

int hinix_signal_restore(int signo) {
  if (signo <= 0 || signo >= HINIX_SIGNAL_LIMIT) return -EINVAL;
  pthread_mutex_lock(&dispositions);
  int result = 0;
  if (atomic_load(&installed[signo])) {
    atomic_store(&escalate_window[signo], 0);
    if (sigaction(signo, &previous[signo], NULL) < 0) {
      result = -errno;
    } else {
      atomic_store(&installed[signo], 0);
    }
  }
  pthread_mutex_unlock(&dispositions);
  return result;
}

/// With the lock held: while Hinix's handler is installed, makes the disposition it will
/// restore "ignored" if it is the default (1), leaves another (0); -EAGAIN when none is.
static int ignore_saved_default(int signo) {
  if (!atomic_load(&installed[signo])) return -EAGAIN;
  if ((previous[signo].sa_flags & SA_SIGINFO) || previous[signo].sa_handler != SIG_DFL) return 0;
  previous[signo].sa_handler = SIG_IGN;
  return 1;
}

int hinix_ignore_sigpipe_unless_handled(void) {
  pthread_mutex_lock(&dispositions);
  // While Hinix's own handler watches SIGPIPE, the policy applies to what it will restore.
  int result = ignore_saved_default(SIGPIPE);
  if (result == -EAGAIN) {
    struct sigaction current;
    if (sigaction(SIGPIPE, NULL, &current) < 0) {
      result = -errno;
    } else if ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) {
      result = 0;
    } else {
      struct sigaction ignore;
      memset(&ignore, 0, sizeof ignore);
      ignore.sa_handler = SIG_IGN;
      sigemptyset(&ignore.sa_mask);
      result = sigaction(SIGPIPE, &ignore, NULL) < 0 ? -errno : 1;
    }
  }
  pthread_mutex_unlock(&dispositions);
  return result;
}

int hinix_signal_previous_kind(int signo) {
  if (signo <= 0 || signo >= HINIX_SIGNAL_LIMIT) return -EINVAL;
  pthread_mutex_lock(&dispositions);
  struct sigaction current;
  int result = 0;
  if (atomic_load(&installed[signo])) {
    current = previous[signo];
  } else if (sigaction(signo, NULL, &current) < 0) {
    result = -errno;
  }
  pthread_mutex_unlock(&dispositions);
  if (result < 0) return result;
  if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL) return 0;
  if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_IGN) return 1;
  return 2;
}

void hinix_signal_escalate(int signo, int64_t window_ns) {
  if (signo <= 0 || signo >= HINIX_SIGNAL_LIMIT) return;
  atomic_store(&last_delivery[signo], 0);
  atomic_store(&escalate_window[signo], window_ns);
}

uint64_t hinix_signal_take_dropped(int signo) {
  if (signo <= 0 || signo >= HINIX_SIGNAL_LIMIT) return 0;
  return atomic_exchange(&dropped[signo], 0);
}

int hinix_signal_min_realtime(void) { return SIGRTMIN; }
int hinix_signal_max_realtime(void) { return SIGRTMAX; }

// MARK: Sending

int hinix_sigqueue(pid_t pid, int signo, int64_t value) {
  union sigval sv;
  sv.sival_ptr = (void *)(intptr_t)value;
  return sigqueue(pid, signo, sv) < 0 ? -errno : 0;
}

int hinix_tgkill_self(int signo) {
  return syscall(SYS_tgkill, getpid(), gettid(), signo) < 0 ? -errno : 0;
}

int hinix_pidfd_send_signal(int pidfd, int signo, const hinix_signal_record *with) {
  siginfo_t info;
  siginfo_t *pointer = NULL;
  if (with) {
    memset(&info, 0, sizeof info);
    info.si_signo = signo;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_ptr = (void *)(intptr_t)with->value;
    pointer = &info;
  }
  return syscall(SYS_pidfd_send_signal, pidfd, signo, pointer, 0) < 0 ? -errno : 0;
}

// MARK: Masks

/// A signal set as Hinix passes it (64 bits, signal N at bit N - 1) to and from a `sigset_t`.
static void to_set(const uint64_t bits[HINIX_SIGSET_WORDS], sigset_t *set) {
  sigemptyset(set);
  for (int signo = 1; signo < HINIX_SIGNAL_LIMIT; signo++) {
    if (bits[(signo - 1) / 64] & (1ull << ((signo - 1) % 64))) sigaddset(set, signo);
  }
}

static void from_set(const sigset_t *set, uint64_t bits[HINIX_SIGSET_WORDS]) {
  memset(bits, 0, sizeof(uint64_t) * HINIX_SIGSET_WORDS);
  for (int signo = 1; signo < HINIX_SIGNAL_LIMIT; signo++) {
    if (sigismember(set, signo) == 1) bits[(signo - 1) / 64] |= 1ull << ((signo - 1) % 64);
  }
}

int hinix_thread_mask(int how, const uint64_t *bits, uint64_t old[HINIX_SIGSET_WORDS]) {
  sigset_t set, previous_set;
  if (bits) to_set(bits, &set);
  int mode = how == 0 ? SIG_BLOCK : how == 1 ? SIG_UNBLOCK : SIG_SETMASK;
  int err = pthread_sigmask(mode, bits ? &set : NULL, &previous_set);
  if (err != 0) return -err;
  if (old) from_set(&previous_set, old);
  return 0;
}

int hinix_pending(uint64_t bits[HINIX_SIGSET_WORDS]) {
  sigset_t set;
  if (sigpending(&set) < 0) return -errno;
  from_set(&set, bits);
  return 0;
}

// MARK: signalfd

int hinix_signalfd(int fd, const uint64_t bits[HINIX_SIGSET_WORDS], int nonblocking) {
  sigset_t set;
  to_set(bits, &set);
  int flags = SFD_CLOEXEC | (nonblocking ? SFD_NONBLOCK : 0);
  int result = signalfd(fd, &set, flags);
  return result < 0 ? -errno : result;
}

int hinix_signalfd_read(int fd, hinix_signal_record *records, int capacity) {
  struct signalfd_siginfo raw[16];
  if (capacity > 16) capacity = 16;
  ssize_t n = read(fd, raw, sizeof(struct signalfd_siginfo) * (size_t)capacity);
  if (n < 0) return -errno;
  int count = (int)(n / (ssize_t)sizeof(struct signalfd_siginfo));
  for (int i = 0; i < count; i++) {
    memset(&records[i], 0, sizeof records[i]);
    records[i].signal = (int32_t)raw[i].ssi_signo;
    records[i].code = raw[i].ssi_code;
    records[i].error = raw[i].ssi_errno;
    records[i].pid = (int32_t)raw[i].ssi_pid;
    records[i].uid = raw[i].ssi_uid;
    records[i].status = raw[i].ssi_status;
    records[i].value = (int64_t)raw[i].ssi_ptr;
    records[i].address = raw[i].ssi_addr;
  }
  return count;
}

// MARK: pidfd

int hinix_pidfd_getfd(int pidfd, int target) {
  long r = syscall(SYS_pidfd_getfd, pidfd, target, 0);
  return r < 0 ? -errno : (int)r;
}

int hinix_waitid_pidfd(int pidfd, int options, hinix_signal_record *child) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid(P_PIDFD, (id_t)pidfd, &info, options) < 0) return -errno;
  if (info.si_pid == 0) return 0;
  memset(child, 0, sizeof *child);
  child->signal = info.si_signo;
  child->code = info.si_code;
  child->pid = info.si_pid;
  child->uid = info.si_uid;
  child->status = info.si_status;
  return 1;
}
