// The C shim of Hinix: thin, out-of-line wrappers for what Swift's Glibc module cannot reach.
//
// Every function that wraps a syscall returns its result, or the negated errno on failure, so
// that the Swift side never reads a thread-local errno that something else may have clobbered.
#ifndef CHINIX_H
#define CHINIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

// MARK: POSIX message queues (mqueue.h is not in Swift's Glibc module; mq_open is variadic).

/// Mirrors the four fields of `struct mq_attr` that Linux uses.
typedef struct hinix_mq_attr {
  long flags;
  long maxmsg;
  long msgsize;
  long curmsgs;
} hinix_mq_attr;

int hinix_mq_open(const char *name, int oflag, mode_t mode, const hinix_mq_attr *attr);
int hinix_mq_unlink(const char *name);
int hinix_mq_send(int mqd, const void *msg, size_t len, unsigned int prio);
int hinix_mq_timedsend(int mqd, const void *msg, size_t len, unsigned int prio,
                       const struct timespec *deadline);
ssize_t hinix_mq_receive(int mqd, void *buf, size_t len, unsigned int *prio);
ssize_t hinix_mq_timedreceive(int mqd, void *buf, size_t len, unsigned int *prio,
                              const struct timespec *deadline);
int hinix_mq_getattr(int mqd, hinix_mq_attr *attr);
int hinix_mq_setattr(int mqd, long flags, hinix_mq_attr *old);

// MARK: eventfd

extern const int HINIX_EFD_CLOEXEC;
extern const int HINIX_EFD_NONBLOCK;
extern const int HINIX_EFD_SEMAPHORE;
int hinix_eventfd(unsigned int initval, int flags);

// MARK: epoll (struct epoll_event is packed on x86_64, so it never crosses into Swift).

extern const uint32_t HINIX_EPOLLIN;
extern const uint32_t HINIX_EPOLLOUT;
extern const uint32_t HINIX_EPOLLERR;
extern const uint32_t HINIX_EPOLLHUP;
extern const uint32_t HINIX_EPOLLRDHUP;
extern const uint32_t HINIX_EPOLLPRI;
extern const uint32_t HINIX_EPOLLONESHOT;
extern const int HINIX_EPOLL_CTL_ADD;
extern const int HINIX_EPOLL_CTL_MOD;
extern const int HINIX_EPOLL_CTL_DEL;

int hinix_epoll_create(void);
int hinix_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits like epoll_wait and writes each event's data and mask to two parallel arrays.
int hinix_epoll_wait(int epfd, uint64_t *data, uint32_t *events, int capacity, int timeout_ms);
extern const uint32_t HINIX_EPOLLET;
extern const uint32_t HINIX_EPOLLEXCLUSIVE;
/// The size of `struct epoll_event` (packed on x86_64) and the offset of its `data` field: the
/// public poller decodes a caller-owned buffer of them in Swift.
extern const int HINIX_EPOLL_EVENT_SIZE;
extern const int HINIX_EPOLL_DATA_OFFSET;
/// epoll_wait into a buffer of `capacity` `struct epoll_event`s.
int hinix_epoll_wait_raw(int epfd, void *events, int capacity, int timeout_ms);

// MARK: clocks and timerfd (events.c)

extern const int HINIX_CLOCK_REALTIME;
extern const int HINIX_CLOCK_MONOTONIC;
extern const int HINIX_CLOCK_BOOTTIME;
extern const int HINIX_CLOCK_REALTIME_ALARM;
extern const int HINIX_CLOCK_BOOTTIME_ALARM;

/// A timerfd on `clock`, close-on-exec; blocking where the kernel reads it with RWF_NOWAIT,
/// non-blocking where it does not.
int hinix_timerfd_create(int clock);
/// Arms (or with a zero value disarms) a timerfd; times in nanoseconds.
int hinix_timerfd_settime(int fd, int64_t value_ns, int64_t interval_ns, int absolute, int cancel_on_set);
/// The time left before the next expiration (0: disarmed) and the interval, in nanoseconds.
int hinix_timerfd_gettime(int fd, int64_t *value_ns, int64_t *interval_ns);
/// `clock`'s time in nanoseconds, or -errno.
int64_t hinix_clock_now(int clock);
/// Sets CLOCK_REALTIME (needs CAP_SYS_TIME).
int hinix_clock_set_realtime(int64_t nanoseconds);

// MARK: inotify (events.c); events are read as raw bytes (struct inotify_event, 16-byte header).

// The IN_* masks come from the header itself, as macros: Swift folds a macro's value where it
// is used, while an `extern const` is read through a lazily initialized global on every use
// (a `swift_once` per event on the decoding path).
#include <sys/inotify.h>

/// An inotify instance, close-on-exec and non-blocking.
int hinix_inotify_init(void);
/// inotify_add_watch: the watch descriptor, or -errno.
int hinix_inotify_add_watch(int fd, const char *path, uint32_t mask);
/// inotify_add_watch of the open file `folder` through /proc/self/fd/N (the magic link reaches
/// exactly the file opened; `mask` must not hold IN_DONT_FOLLOW).
int hinix_inotify_add_watch_open(int fd, int folder, uint32_t mask);
int hinix_inotify_rm_watch(int fd, int wd);

// MARK: fanotify (events.c); events are read as raw bytes (fanotify_event_metadata, 24 bytes,
// then info records in FID mode).

extern const uint64_t HINIX_FAN_ACCESS;
extern const uint64_t HINIX_FAN_MODIFY;
extern const uint64_t HINIX_FAN_ATTRIB;
extern const uint64_t HINIX_FAN_CLOSE_WRITE;
extern const uint64_t HINIX_FAN_CLOSE_NOWRITE;
extern const uint64_t HINIX_FAN_OPEN;
extern const uint64_t HINIX_FAN_OPEN_EXEC;
extern const uint64_t HINIX_FAN_MOVED_FROM;
extern const uint64_t HINIX_FAN_MOVED_TO;
extern const uint64_t HINIX_FAN_CREATE;
extern const uint64_t HINIX_FAN_DELETE;
extern const uint64_t HINIX_FAN_DELETE_SELF;
extern const uint64_t HINIX_FAN_MOVE_SELF;
extern const uint64_t HINIX_FAN_Q_OVERFLOW;
extern const uint64_t HINIX_FAN_OPEN_PERM;
extern const uint64_t HINIX_FAN_ACCESS_PERM;
extern const uint64_t HINIX_FAN_OPEN_EXEC_PERM;
extern const uint64_t HINIX_FAN_EVENT_ON_CHILD;
extern const uint64_t HINIX_FAN_ONDIR;
extern const unsigned HINIX_FAN_CLASS_NOTIF;
extern const unsigned HINIX_FAN_CLASS_CONTENT;
extern const unsigned HINIX_FAN_CLASS_PRE_CONTENT;
extern const unsigned HINIX_FAN_REPORT_FID;
extern const unsigned HINIX_FAN_REPORT_DFID_NAME;
extern const unsigned HINIX_FAN_MARK_INODE;
extern const unsigned HINIX_FAN_MARK_MOUNT;
extern const unsigned HINIX_FAN_MARK_FILESYSTEM;
extern const unsigned HINIX_FAN_MARK_DONT_FOLLOW;
extern const unsigned HINIX_FAN_MARK_ONLYDIR;
extern const uint32_t HINIX_FAN_ALLOW;
extern const uint32_t HINIX_FAN_DENY;

/// fanotify_init with `flags` (class and reporting), close-on-exec and non-blocking; event
/// files are opened read-only and close-on-exec.
int hinix_fanotify_init(unsigned flags);
/// fanotify_mark: adds (`add`) or removes `mask` on `path` with the mark `flags`.
int hinix_fanotify_mark(int fd, int add, unsigned flags, uint64_t mask, const char *path);
/// Answers the permission event whose file is `event_fd`.
int hinix_fanotify_respond(int fd, int event_fd, uint32_t response);

/// unshare(CLONE_NEWUSER): the caller enters a user namespace of its own.
int hinix_unshare_user_namespace(void);

// MARK: Descriptors and processes

int hinix_read(int fd, void *buf, size_t len);
/// pread: reads at `offset` without moving the file position.
int hinix_pread(int fd, void *buf, size_t len, int64_t offset);
int hinix_write(int fd, const void *buf, size_t len);
int hinix_close(int fd);
/// Reads without blocking even from a blocking descriptor (preadv2 with RWF_NOWAIT). Returns
/// -EOPNOTSUPP at once, without a call, for a descriptor whose kind of file refused the flag
/// before (remembered until hinix_close closes it).
int hinix_read_nowait(int fd, void *buf, size_t len);
/// Writes without blocking even to a blocking descriptor (pwritev2 with RWF_NOWAIT); as
/// hinix_read_nowait for kinds that refuse the flag.
int hinix_write_nowait(int fd, const void *buf, size_t len);
/// Forgets what the no-wait calls learned about `fd` (when its owner hands it back).
void hinix_nowait_forget(int fd);

extern const int HINIX_F_GETPIPE_SZ;
extern const int HINIX_F_SETPIPE_SZ;

/// Sets SIGPIPE to ignored unless the process installed a handler of its own; while Hinix's
/// handler watches SIGPIPE, makes the disposition it will restore "ignored" if that was the
/// default. Holds the lock of hinix_signal_install and hinix_signal_restore. Returns 1 when it
/// changed a disposition, 0 when it left it, or -errno.
int hinix_ignore_sigpipe_unless_handled(void);
int hinix_fcntl(int fd, int cmd, int arg);
/// pipe2 with O_CLOEXEC, plus O_NONBLOCK on both ends when `nonblocking` is set.
int hinix_pipe(int fds[2], int nonblocking);
int hinix_poll_one(int fd, short events, int timeout_ms, short *revents);
/// poll for `events` on up to 256 descriptors; each one's revents go to `revents[i]`.
int hinix_poll_many(const int *fds, short events, short *revents, int count, int timeout_ms);

// MARK: Zero-copy transfers

extern const unsigned int HINIX_SPLICE_F_MOVE;
extern const unsigned int HINIX_SPLICE_F_NONBLOCK;
extern const unsigned int HINIX_SPLICE_F_MORE;
extern const unsigned int HINIX_SPLICE_F_GIFT;
/// splice; a negative offset means "no offset" (use and advance the file position).
ssize_t hinix_splice(int in, int64_t *off_in, int out, int64_t *off_out, size_t len, unsigned int flags);
ssize_t hinix_tee(int in, int out, size_t len, unsigned int flags);
ssize_t hinix_vmsplice(int fd, const void *buf, size_t len, unsigned int flags);
ssize_t hinix_sendfile(int out, int in, int64_t *offset, size_t count);

// MARK: Sockets (accept4, struct ucred, SCM_CREDENTIALS and the CMSG_* macros stay on this side).

/// Mirrors `struct ucred`.
typedef struct hinix_ucred {
  int32_t pid;
  uint32_t uid;
  uint32_t gid;
} hinix_ucred;

/// The most descriptors one message may carry (the kernel's SCM_MAX_FD).
extern const int HINIX_SCM_MAX_FD;
extern const int HINIX_SO_PEERCRED;
extern const int HINIX_SO_PASSCRED;
extern const int HINIX_SO_PEERPIDFD;
extern const int HINIX_MSG_TRUNC;
extern const int HINIX_MSG_CTRUNC;
extern const int HINIX_MSG_PEEK;
extern const int HINIX_MSG_DONTWAIT;

/// socket with SOCK_CLOEXEC, plus SOCK_NONBLOCK when `nonblocking` is set.
int hinix_socket(int domain, int type, int nonblocking);
/// socketpair with SOCK_CLOEXEC, plus SOCK_NONBLOCK when `nonblocking` is set.
int hinix_socketpair(int domain, int type, int nonblocking, int fds[2]);
int hinix_bind(int fd, const void *address, uint32_t length);
int hinix_listen(int fd, int backlog);
/// accept4 with SOCK_CLOEXEC; `address` and `length` may be NULL.
int hinix_accept(int fd, void *address, uint32_t *length, int nonblocking);
int hinix_connect(int fd, const void *address, uint32_t length);
int hinix_shutdown(int fd, int how);
int hinix_getsockopt(int fd, int level, int name, void *value, uint32_t *length);
int hinix_setsockopt(int fd, int level, int name, const void *value, uint32_t length);
int hinix_getsockname(int fd, void *address, uint32_t *length);
int hinix_getpeername(int fd, void *address, uint32_t *length);
/// send with MSG_NOSIGNAL added, so a closed peer is EPIPE and never SIGPIPE.
ssize_t hinix_send(int fd, const void *buf, size_t len, int flags);
ssize_t hinix_recv(int fd, void *buf, size_t len, int flags);
/// sendmsg of `count` buffers (a gathering write) with MSG_NOSIGNAL added.
ssize_t hinix_sendv(int fd, const struct iovec *iov, int count, int flags);
/// The most buffers one gathering write may pass (IOV_MAX).
extern const int HINIX_IOV_MAX;

/// sendmsg with MSG_NOSIGNAL: one payload, an optional destination, `fd_count` descriptors
/// (SCM_RIGHTS) and optional credentials (SCM_CREDENTIALS).
ssize_t hinix_sendmsg(int fd, const void *buf, size_t len, const void *address, uint32_t address_length,
                      const int *fds, int fd_count, const hinix_ucred *credentials, int flags);

/// What recvmsg brought besides the payload.
typedef struct hinix_received {
  /// Descriptors installed in this process, at most the caller's capacity.
  int fd_count;
  /// Descriptors that arrived beyond the caller's capacity (closed already).
  int fds_discarded;
  /// Whether the message carried credentials (the receiving socket has SO_PASSCRED).
  int has_credentials;
  hinix_ucred credentials;
  /// recvmsg's msg_flags (MSG_TRUNC, MSG_CTRUNC).
  int flags;
  uint32_t address_length;
} hinix_received;

/// recvmsg with MSG_CMSG_CLOEXEC into a control buffer big enough for SCM_MAX_FD descriptors
/// and credentials. Descriptors beyond `fd_capacity` are closed and counted in `fds_discarded`.
/// `address` (capacity in `received->address_length`) may be NULL.
ssize_t hinix_recvmsg(int fd, void *buf, size_t len, void *address, int *fds, int fd_capacity,
                      hinix_received *received, int flags);

// MARK: Memory files

extern const unsigned int HINIX_MFD_ALLOW_SEALING;
extern const unsigned int HINIX_MFD_HUGETLB;
/// memfd_create with MFD_CLOEXEC added.
int hinix_memfd_create(const char *name, unsigned int flags);

// MARK: shared memory

extern const int HINIX_F_ADD_SEALS;
extern const int HINIX_F_GET_SEALS;
extern const int HINIX_F_SEAL_SEAL;
extern const int HINIX_F_SEAL_SHRINK;
extern const int HINIX_F_SEAL_GROW;
extern const int HINIX_F_SEAL_WRITE;
extern const int HINIX_MAP_HUGETLB;
/// fcntl with an integer argument (F_ADD_SEALS, F_GET_SEALS).
int hinix_fcntl_int(int fd, int command, int argument);
/// ftruncate, mmap (shared, read-write), munmap, mlock, shm_open (with
/// O_CLOEXEC added) and shm_unlink, each returning the negated errno on failure.
int hinix_ftruncate(int fd, int64_t size);
int hinix_mmap_shared(int fd, size_t size, int extra_flags, void **address);
int hinix_munmap(void *address, size_t size);
int hinix_mlock(const void *address, size_t size);
int hinix_shm_open(const char *name, int flags, mode_t mode);
int hinix_shm_unlink(const char *name);

// MARK: atomics on shared memory
//
// Swift's Atomic cannot live at an address inside a mapping; these inline C11 atomics can, and
// the compiler inlines them into the Swift code that calls them.

static inline uint64_t hinix_load_acquire(const uint64_t *address) {
  return __atomic_load_n(address, __ATOMIC_ACQUIRE);
}
static inline uint64_t hinix_load_relaxed(const uint64_t *address) {
  return __atomic_load_n(address, __ATOMIC_RELAXED);
}
static inline void hinix_store_release(uint64_t *address, uint64_t value) {
  __atomic_store_n(address, value, __ATOMIC_RELEASE);
}
static inline void hinix_store_relaxed(uint64_t *address, uint64_t value) {
  __atomic_store_n(address, value, __ATOMIC_RELAXED);
}
static inline uint64_t hinix_exchange(uint64_t *address, uint64_t value) {
  return __atomic_exchange_n(address, value, __ATOMIC_SEQ_CST);
}
/// A full (sequentially consistent) fence: orders a store before a later load.
static inline void hinix_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/// Spawns `path` with `argv` and `envp` in a child process. Before exec the child duplicates
/// `sources[i]` onto `targets[i]` (clearing close-on-exec on the copy only), resets every
/// caught or ignored signal to its default action and unblocks all, and pins itself to `cpu`
/// when `cpu >= 0`. With `controlling_terminal >= 0` the child starts a session (setsid) whose
/// controlling terminal is the terminal at that descriptor number in the child (TIOCSCTTY), as
/// a pseudo-terminal's child needs. Signals stay blocked in the parent's thread across fork.
/// Returns the pid with the child's pidfd (Linux 5.3) in `*pidfd`, or the negated errno of fork, of a dup2, of
/// execve or of pidfd_open.
/// Unless `inherit_unmarked`, every other descriptor but the standard streams is closed at exec
/// (marked close-on-exec in the child), whether or not it had the flag.
int hinix_spawn(const char *path, char *const argv[], char *const envp[], const int *sources,
                const int *targets, int count, int cpu, int controlling_terminal, int inherit_unmarked,
                int *pidfd);

/// Pins the process `pid` (0 for the caller's thread) to one CPU.
int hinix_pin_to_cpu(pid_t pid, int cpu);
/// The lowest-numbered CPU at or after `from` that this process may run on, or -1.
int hinix_allowed_cpu(int from);

/// Ignores SIGPIPE for the whole process (used by the command-line tools).
void hinix_ignore_sigpipe(void);

// MARK: files and folders (paths are NUL-terminated bytes, not necessarily UTF-8)

/// What stat says of a file, the fields Hinix uses.
typedef struct hinix_file_status {
  uint32_t mode;
  uint32_t uid;
  uint32_t gid;
  uint64_t device;
  uint64_t inode;
  int64_t size;
  uint64_t special_device;
} hinix_file_status;

/// fstat of `fd`; fstatat of `path` in the folder `fd` when both are given (AT_SYMLINK_NOFOLLOW
/// when `follow` is 0); stat / lstat (`follow` 0) of `path` when `fd` is negative.
int hinix_stat(int fd, const char *path, int follow, hinix_file_status *status);
/// openat with O_CLOEXEC added.
int hinix_openat(int dirfd, const char *path, int flags);
/// open with O_CLOEXEC added.
int hinix_open(const char *path, int flags, mode_t mode);
int hinix_mkfifo(const char *path, mode_t mode);
int hinix_mkdir(const char *path, mode_t mode);
int hinix_chmod(const char *path, mode_t mode);
int hinix_unlink(const char *path);
int hinix_rmdir(const char *path);
/// mkdtemp on the caller's template (its last six bytes `XXXXXX`, replaced in place).
int hinix_mkdtemp(char *template_path);
/// readlink into `buffer`; returns the length (not NUL-terminated).
ssize_t hinix_readlink(const char *path, char *buffer, size_t capacity);
/// getcwd into `buffer` (NUL-terminated); returns the length.
ssize_t hinix_getcwd(char *buffer, size_t capacity);
/// realpath into `buffer`, which holds PATH_MAX bytes; returns the length.
ssize_t hinix_realpath(const char *path, char *buffer);
/// The largest path realpath writes, PATH_MAX.
extern const int HINIX_PATH_MAX;
/// getdents64: fills `buffer` with `struct linux_dirent64` records; 0 at the end.
ssize_t hinix_getdents(int fd, void *buffer, size_t capacity);

// MARK: processes, threads and time

int hinix_kill(pid_t pid, int signal);
/// pidfd_open (Linux 5.3): a descriptor that becomes readable when the process exits.
int hinix_pidfd_open(pid_t pid);
/// Blocks every signal in the calling thread; returns 0 or the negated error.
int hinix_block_all_signals(void);
/// Sleeps for `nanoseconds` (relative, CLOCK_MONOTONIC); -EINTR when a signal came first.
int hinix_sleep_nanoseconds(int64_t nanoseconds);

// MARK: spinning

/// Tells the processor that the caller is in a spin-wait loop (x86 `pause`, Arm `yield`), which
/// saves power and gives a sibling hyper-thread the core. Inline: it is one instruction.
static inline void hinix_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

// MARK: Signals (signals.c)

/// One past the highest signal number (Linux has 1...64).
#define HINIX_SIGNAL_LIMIT 65
/// Words of a signal set as Hinix passes it: 64 bits, signal N at bit N - 1.
#define HINIX_SIGSET_WORDS 1

/// What the kernel told about one delivery (from a siginfo_t or a signalfd_siginfo).
typedef struct hinix_signal_record {
  int32_t signal;
  int32_t code;
  int32_t error;
  int32_t pid;
  uint32_t uid;
  int32_t status;
  int64_t value;
  uint64_t address;
} hinix_signal_record;

/// Sets the non-blocking pipe the handler writes records to (once, before any install).
void hinix_signal_set_pipe(int fd);
/// Installs Hinix's handler for `signo` (SA_SIGINFO | SA_RESTART), saving the disposition it
/// replaces; does nothing if it is installed. 0 or -errno. For a fault signal (SIGILL,
/// SIGTRAP, SIGSEGV, SIGBUS, SIGFPE) the handler records only deliveries that were sent; a
/// fault the kernel raised (si_code > 0) puts the saved disposition back, so the faulting
/// instruction reaches it at once. A second delivery inside an escalation window that the
/// default action does not end (PID 1 of a pid namespace) ends the process with 128 + signo.
int hinix_signal_install(int signo);
/// Restores exactly the disposition saved by the install; does nothing if none is installed.
int hinix_signal_restore(int signo);
/// The disposition before Hinix's handler (or the current one when none is installed): 0 the
/// default action, 1 ignored, 2 a handler of the program's own; or -errno.
int hinix_signal_previous_kind(int signo);
/// Makes a second delivery of `signo` within `window_ns` of the one before restore the default
/// action and raise the signal again (0 turns it off).
void hinix_signal_escalate(int signo, int64_t window_ns);
/// The deliveries of `signo` the handler could not write since the last call (and resets it).
uint64_t hinix_signal_take_dropped(int signo);
int hinix_signal_min_realtime(void);
int hinix_signal_max_realtime(void);

/// sigqueue with a pointer-sized value.
int hinix_sigqueue(pid_t pid, int signo, int64_t value);
/// Sends `signo` to the calling thread (tgkill).
int hinix_tgkill_self(int signo);
/// pidfd_send_signal (Linux 5.1); with `with` set, as from sigqueue with its value.
int hinix_pidfd_send_signal(int pidfd, int signo, const hinix_signal_record *with);
/// pthread_sigmask: `how` 0 blocks, 1 unblocks, 2 sets `bits` (NULL only reads); the mask
/// before goes to `old` when it is not NULL.
int hinix_thread_mask(int how, const uint64_t *bits, uint64_t *old);
/// sigpending into `bits`.
int hinix_pending(uint64_t *bits);
/// signalfd (with SFD_CLOEXEC) for the signals in `bits`; `fd` -1 for a new one.
int hinix_signalfd(int fd, const uint64_t *bits, int nonblocking);
/// Reads up to `capacity` (at most 16) records from a signalfd: the count, or -errno.
int hinix_signalfd_read(int fd, hinix_signal_record *records, int capacity);
/// pidfd_getfd (Linux 5.6): a duplicate of descriptor `target` of the process.
int hinix_pidfd_getfd(int pidfd, int target);
/// waitid(P_PIDFD) (Linux 5.4) with `options` (WEXITED, WNOHANG, ...): 1 with `child` filled,
/// 0 when WNOHANG found nothing, or -errno.
int hinix_waitid_pidfd(int pidfd, int options, hinix_signal_record *child);

// MARK: Terminals (terminals.c): termios2, window size, pseudo-terminals, modem lines, ioctl

/// Mirrors the kernel's `struct termios2` (asm/termbits.h cannot share a translation unit with
/// glibc's termios.h): the four mode words, the line discipline, the control characters and
/// the input and output rates in bits per second.
typedef struct hinix_termios {
  uint32_t iflag;
  uint32_t oflag;
  uint32_t cflag;
  uint32_t lflag;
  uint8_t line;
  uint8_t cc[19];
  uint32_t ispeed;
  uint32_t ospeed;
} hinix_termios;

/// The c_cflag bits of the rate (CBAUD), "another rate" (BOTHER), and the shift of the input
/// rate's bits (IBSHIFT), from asm/termbits.h.
extern const uint32_t HINIX_CBAUD;
extern const uint32_t HINIX_BOTHER;
extern const uint32_t HINIX_IBSHIFT;
extern const int HINIX_NCCS2;

/// TCGETS2 into `out`.
int hinix_tcgets2(int fd, hinix_termios *out);
/// TCSETS2 (`when` 0: now), TCSETSW2 (1: after output drains) or TCSETSF2 (2: after output
/// drains, discarding unread input).
int hinix_tcsets2(int fd, const hinix_termios *attributes, int when);
/// tcdrain; tcflush with TCIFLUSH (0), TCOFLUSH (1) or TCIOFLUSH (2); tcflow with TCOOFF (0),
/// TCOON (1), TCIOFF (2), TCION (3); tcsendbreak.
int hinix_tcdrain(int fd);
int hinix_tcflush(int fd, int queue);
int hinix_tcflow(int fd, int action);
int hinix_tcsendbreak(int fd, int duration);
/// isatty, as 1 or -errno (ENOTTY, EBADF).
int hinix_isatty(int fd);
/// TIOCGWINSZ / TIOCSWINSZ.
int hinix_get_window_size(int fd, uint16_t *rows, uint16_t *columns, uint16_t *width, uint16_t *height);
int hinix_set_window_size(int fd, uint16_t rows, uint16_t columns, uint16_t width, uint16_t height);
/// TIOCEXCL (`exclusive` 1) or TIOCNXCL (0); TIOCGEXCL into `exclusive`.
int hinix_set_exclusive(int fd, int exclusive);
int hinix_get_exclusive(int fd, int *exclusive);
/// TIOCMGET into `lines`; TIOCMBIS (`how` 1) or TIOCMBIC (0) of `lines`.
int hinix_modem_get(int fd, int *lines);
int hinix_modem_change(int fd, int lines, int how);
/// TIOCM_* bits.
extern const int HINIX_TIOCM_DTR;
extern const int HINIX_TIOCM_RTS;
extern const int HINIX_TIOCM_CTS;
extern const int HINIX_TIOCM_DSR;
extern const int HINIX_TIOCM_CD;
extern const int HINIX_TIOCM_RI;
/// Starts a thread that waits in TIOCMIWAIT on `fd` for a change of `lines`, and then calls
/// `done(context, result)` (0, or -errno) from that thread. `*handle` can be passed once to
/// `hinix_modem_wait_cancel`, or must be passed to `hinix_modem_wait_release` once `done` ran.
int hinix_modem_wait_start(int fd, int lines, void (*done)(void *context, int result), void *context,
                           void **handle);
/// Cancels a wait: `done` then runs with -ECANCELED unless it ran or runs with the ioctl's
/// result. Releases the handle either way.
void hinix_modem_wait_cancel(void *handle);
/// Releases the handle of a wait whose `done` ran.
void hinix_modem_wait_release(void *handle);
/// posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC, O_NONBLOCK when asked), then grantpt and
/// unlockpt; the master's descriptor.
int hinix_open_pty_master(int nonblocking);
/// ptsname_r into `buffer`: the slave's path's length.
int hinix_pty_name(int master, char *buffer, size_t capacity);
/// TIOCGPTPEER (Linux 4.13): opens the slave from the master, O_RDWR | O_NOCTTY | O_CLOEXEC.
int hinix_open_pty_slave(int master, int nonblocking);
/// TIOCGPGRP: the foreground process group of the terminal.
int hinix_foreground_group(int fd);
/// For tests: enters a mount namespace whose /dev/pts is a new devpts instance allowing `max`
/// pseudo-terminals (the process must be single-threaded).
int hinix_private_devpts(int max);
/// An ioctl with a pointer argument, for the typed helper.
int hinix_ioctl_pointer(int fd, unsigned long request, void *argument);
/// An ioctl with an integer argument.
int hinix_ioctl_value(int fd, unsigned long request, unsigned long argument);
/// The major and minor numbers of a device number.
uint32_t hinix_major(uint64_t device);
uint32_t hinix_minor(uint64_t device);

#endif
