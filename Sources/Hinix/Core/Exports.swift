// The swift-system types Hinix's API is made of (FileDescriptor, FilePath, FilePermissions,
// Errno) come with `import Hinix`: a user needs no second import.
@_exported import SystemPackage
