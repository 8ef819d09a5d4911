// The swift-system types Hinix's API is made of (FileDescriptor, FilePath, FilePermissions,
// Errno) come with `import Hinix`: a user needs no second import.
@_exported import SystemPackage
// The C library's types in Hinix's API (pid_t, uid_t, mode_t) and the calls its examples use
// (getpid, exit) come with it too, as Foundation brings them on Linux.
@_exported import Glibc
