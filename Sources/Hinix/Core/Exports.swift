// The swift-system types Hinix's API is made of (FileDescriptor, FilePath, FilePermissions,
// Errno) come with `import Hinix`: a user needs no second import. So do the C library's types
// in its API (pid_t, uid_t, mode_t) and the calls its examples use (getpid, exit), as
// Foundation brings them on Linux.
@_exported import Glibc
@_exported import SystemPackage
