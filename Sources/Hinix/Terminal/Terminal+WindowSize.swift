import SystemPackage

/// A terminal's window size: the text area in rows and columns, and in pixels where the
/// terminal emulator says (0 when it does not).
public struct WindowSize: Sendable, Hashable, CustomStringConvertible {
  /// Lines of text.
  public var rows: UInt16
  /// Characters per line.
  public var columns: UInt16
  /// The width in pixels, or 0.
  public var pixelWidth: UInt16
  /// The height in pixels, or 0.
  public var pixelHeight: UInt16

  /// A size of `rows` by `columns`, with pixel sizes if known.
  public init(rows: UInt16, columns: UInt16, pixelWidth: UInt16 = 0, pixelHeight: UInt16 = 0) {
    self.rows = rows
    self.columns = columns
    self.pixelWidth = pixelWidth
    self.pixelHeight = pixelHeight
  }

  /// "ROWS COLUMNS", as `stty size` prints it.
  public var description: String { "\(rows) \(columns)" }
}

extension Terminal {
  /// The window size.
  ///
  /// The corresponding C function is `ioctl` with `TIOCGWINSZ`.
  public func windowSize() throws(HinixError) -> WindowSize {
    switch Sys.windowSize(descriptor.rawValue) {
    case .success(let size):
      return WindowSize(
        rows: size.rows, columns: size.columns, pixelWidth: size.width, pixelHeight: size.height)
    case .failure(let error):
      throw Terminal.notATerminal(error, "TIOCGWINSZ", name)
    }
  }

  /// Sets the window size; when it changes, the kernel sends SIGWINCH to the terminal's
  /// foreground process group (a pseudo-terminal's master sets it for the program in the
  /// slave, as a terminal emulator does when its window is resized).
  ///
  /// The corresponding C function is `ioctl` with `TIOCSWINSZ`.
  public func setWindowSize(_ size: WindowSize) throws(HinixError) {
    if case .failure(let error) = Sys.setWindowSize(
      descriptor.rawValue, rows: size.rows, columns: size.columns, width: size.pixelWidth,
      height: size.pixelHeight)
    {
      throw Terminal.notATerminal(error, "TIOCSWINSZ", name)
    }
  }

  /// The window's sizes as they change: an async sequence that yields the new size after each
  /// SIGWINCH that changed it (through a ``SignalWatcher``, so it works in any thread layout,
  /// and the program's own disposition of SIGWINCH comes back when the sequence ends).
  ///
  /// SIGWINCH goes to the foreground process group of the terminal whose size changed: watch
  /// the terminal this process runs in. Watching starts when this is called.
  ///
  /// ```swift
  /// for try await size in try Terminal.standardOutput().sizeChanges() {
  ///   redraw(rows: size.rows, columns: size.columns)
  /// }
  /// ```
  public func sizeChanges() throws(HinixError) -> WindowSizeChanges {
    let watcher = try SignalWatcher([.windowChange])
    return WindowSizeChanges(terminal: self, watcher: watcher, initial: try windowSize())
  }
}

/// The sizes of a terminal's window as they change (``Terminal/sizeChanges()``).
public struct WindowSizeChanges: AsyncSequence, Sendable {
  /// A new size.
  public typealias Element = WindowSize

  let terminal: Terminal
  let watcher: SignalWatcher
  let initial: WindowSize

  /// Ends the sequence, and gives SIGWINCH back its disposition unless another watcher has it.
  public func cancel() { watcher.cancel() }

  /// Iterates the sizes.
  public struct AsyncIterator: AsyncIteratorProtocol {
    var signals: SignalWatcher.AsyncIterator
    let terminal: Terminal
    var last: WindowSize

    /// The next size that differs from the one before, after a SIGWINCH; nil once the
    /// sequence is cancelled or its task is.
    public mutating func next() async throws -> WindowSize? {
      while await signals.next() != nil {
        let size = try terminal.windowSize()
        if size != last {
          last = size
          return size
        }
      }
      return nil
    }
  }

  /// An iterator of the sizes.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(signals: watcher.makeAsyncIterator(), terminal: terminal, last: initial)
  }
}
