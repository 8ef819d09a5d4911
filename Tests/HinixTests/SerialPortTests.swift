import Glibc
import SystemPackage
import Testing

@testable import Hinix

/// Serial ports (on pseudo-terminals, and the machine's 8250 UART where there is one), their
/// listing from sysfs, and character devices with typed ioctls.
@Suite(.timeLimit(.minutes(1))) struct SerialPortTests {
  @Test func aPortOpensRawAtAnArbitraryRateAndExclusive() async throws {
    let pair = try PseudoTerminal.open()
    let port = try SerialPort.open(pair.slavePath, baudRate: 250_000, stopBits: .two, flowControl: .hardware)
    let attributes = try port.attributes()
    #expect(
      attributes.baudRate == 250_000 && attributes.stopBits == .two && attributes.flowControl == .hardware)
    #expect(attributes.localModes.isDisjoint(with: [.echo, .canonical, .signals]))
    #expect(attributes.controlModes.contains(.ignoreModemLines))
    #expect(try port.isExclusive())
    try await pair.master.write(Array("\r\n\u{3}".utf8))
    // Raw: CR, NL and ^C arrive as they were sent.
    var received: [UInt8] = []
    while received.count < 3 { received += try await port.read(upTo: 8) }
    #expect(received == [13, 10, 3])
    // Non-blocking by default; blocking when asked, with every form still working.
    #expect(fcntl(port.descriptor.rawValue, F_GETFL) & O_NONBLOCK != 0)
    let blocking = try SerialPort.open(pair.slavePath, exclusive: false, nonBlocking: false)
    #expect(fcntl(blocking.descriptor.rawValue, F_GETFL) & O_NONBLOCK == 0)
    var buffer = [UInt8](repeating: 0, count: 4)
    #expect(try buffer.withUnsafeMutableBytes { try blocking.tryRead(into: $0) } == .wouldBlock)
    #expect(try buffer.withUnsafeMutableBytes { try port.tryRead(into: $0) } == .wouldBlock)
  }

  @Test func aPtyHasNoModemLines() throws {
    let pair = try PseudoTerminal.open()
    let error = expectError(.unsupported) { try pair.slave.modemLines() }
    #expect(error?.detail.contains("no modem lines") == true && error?.subject == pair.slavePath.string)
    expectError(.unsupported) { try pair.slave.setModemLines(.dataTerminalReady, raised: true) }
    expectError(.unsupported) { try pair.slave.blockingWaitForModemChange() }
    let input = expectError(.invalidArgument) { try pair.slave.setModemLines(.clearToSend, raised: true) }
    #expect(input?.detail.contains("CTS") == true)
    expectError(.invalidArgument) { try pair.slave.blockingWaitForModemChange(of: []) }
    expectError(.invalidArgument) { try pair.slave.blockingWaitForModemChange(of: .requestToSend) }
    #expect("\(ModemLines([.requestToSend, .clearToSend, .dataTerminalReady]))" == "DTR|RTS|CTS")
    #expect("\(ModemLines())" == "none")
  }

  /// The machine's first UART, if it has one with modem lines (8250 ports without hardware
  /// refuse TIOCMGET).
  static func hardwarePort() -> Terminal? {
    guard let port = try? Terminal.open("/dev/ttyS0"), (try? port.modemLines()) != nil else { return nil }
    return port
  }

  static let hasUART = hardwarePort() != nil

  @Test func anAsyncModemWaitOnAPtyFailsTyped() async throws {
    let pair = try PseudoTerminal.open()
    do {
      _ = try await pair.slave.waitForModemChange(of: .carrierDetect)
      Issue.record("a pty's modem wait returned")
    } catch let error as HinixError {
      #expect(error.code == .unsupported && error.operation == "TIOCMIWAIT", "\(error)")
    }
  }

  @Test(.enabled(if: hasUART, "this machine has no /dev/ttyS0 with modem lines"))
  func modemLinesOfARealUART() throws {
    let port = try #require(SerialPortTests.hardwarePort())
    let before = try port.modemLines()
    try port.setModemLines(.requestToSend, raised: false)
    #expect(try !port.modemLines().contains(.requestToSend))
    try port.setModemLines(.requestToSend, raised: true)
    #expect(try port.modemLines().contains(.requestToSend))
    try port.setModemLines(.outputs.subtracting(before), raised: false)
  }

  @Test(.enabled(if: hasUART, "this machine has no /dev/ttyS0 with modem lines"))
  func aModemWaitEndsWhenItsTaskIsCancelled() async throws {
    let port = try #require(SerialPortTests.hardwarePort())
    // RI never changes here: the wait lasts until the task is cancelled, which ends it at once.
    let started = ContinuousClock.now
    let wait = Task { try await port.waitForModemChange(of: .ringIndicator) }
    try await Task.sleep(for: .milliseconds(50))
    wait.cancel()
    await #expect(throws: CancellationError.self) { try await wait.value }
    #expect(ContinuousClock.now - started < .seconds(30))
    // Cancelled before it starts, too.
    let early = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      return try await port.waitForModemChange(of: .ringIndicator)
    }
    await #expect(throws: CancellationError.self) { try await early.value }
  }

  @Test func listingFindsTheMachinesPortsAndSkipsVirtualOnes() throws {
    let ports = try SerialPort.list()
    #expect(ports.map(\.name) == ports.map(\.name).sorted())
    for port in ports {
      #expect(!port.name.hasPrefix("pts") && port.name != "ptmx" && port.name != "tty")
      #expect(port.path == FilePath("/dev").appending(port.name))
      #expect(port.driver != nil)
    }
    // Every listed port has a device behind it in sysfs.
    for port in ports {
      #expect(access("/sys/class/tty/\(port.name)/device", F_OK) == 0)
    }
  }

  @Test func listingReadsUSBIdentityFromSysfs() throws {
    try withTemporaryFolder { folder in
      func make(_ path: String) throws { try Sys.makeDirectory(folder.appending(path), mode: 0o755).get() }
      func write(_ path: String, _ text: String) throws {
        let fd = try FileDescriptor.open(
          folder.appending(path), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
        defer { try? fd.close() }
        _ = try fd.writeAll(Array((text + "\n").utf8))
      }
      func link(_ target: String, _ path: String) {
        #expect(symlink(target, folder.appending(path).string) == 0)
      }
      for path in [
        "devices", "devices/usb1", "devices/usb1/1-1", "devices/usb1/1-1/1-1:1.0",
        "devices/usb1/1-1/1-1:1.0/ttyUSB0",
        "devices/usb1/1-2", "devices/usb1/1-2/1-2:1.2", "devices/platform", "devices/platform/serial8250",
        "bus", "bus/usb-serial", "bus/usb-serial/drivers", "bus/usb-serial/drivers/ftdi_sio", "bus/usb",
        "bus/usb/drivers", "bus/usb/drivers/cdc_acm", "class", "class/ttyUSB0", "class/ttyACM0",
        "class/ttyS1",
        "class/tty5",
        // Linux 6.5 and later: a UART's tty hangs on a port and a controller of serial-base.
        "devices/pnp0", "devices/pnp0/00:00", "devices/pnp0/00:00/00:00:0",
        "devices/pnp0/00:00/00:00:0/00:00:0.0",
        "bus/serial-base", "bus/serial-base/drivers", "bus/serial-base/drivers/port",
        "bus/serial-base/drivers/ctrl",
        "bus/pnp", "bus/pnp/drivers", "bus/pnp/drivers/serial", "class/ttyS0",
      ] {
        try make(path)
      }
      try write("devices/usb1/1-1/idVendor", "0403")
      try write("devices/usb1/1-1/idProduct", "6001")
      try write("devices/usb1/1-1/serial", "A50285BI")
      try write("devices/usb1/1-1/manufacturer", "FTDI")
      try write("devices/usb1/1-1/product", "FT232R USB UART")
      try write("devices/usb1/1-1/1-1:1.0/bInterfaceNumber", "00")
      try write("devices/usb1/1-2/idVendor", "2341")
      try write("devices/usb1/1-2/idProduct", "0043")
      try write("devices/usb1/1-2/manufacturer", "Arduino (www.arduino.cc)")
      try write("devices/usb1/1-2/1-2:1.2/bInterfaceNumber", "02")
      link("../../devices/usb1/1-1/1-1:1.0/ttyUSB0", "class/ttyUSB0/device")
      link("../../../../../../bus/usb-serial/drivers/ftdi_sio", "devices/usb1/1-1/1-1:1.0/ttyUSB0/driver")
      link("../../../../../../bus/usb-serial", "devices/usb1/1-1/1-1:1.0/ttyUSB0/subsystem")
      link("../../devices/usb1/1-2/1-2:1.2", "class/ttyACM0/device")
      link("../../../../bus/usb/drivers/cdc_acm", "devices/usb1/1-2/1-2:1.2/driver")
      link("../../devices/platform/serial8250", "class/ttyS1/device")
      try write("class/ttyS1/type", "0")
      link("../../devices/pnp0/00:00/00:00:0/00:00:0.0", "class/ttyS0/device")
      link("../../../../../bus/serial-base/drivers/port", "devices/pnp0/00:00/00:00:0/00:00:0.0/driver")
      link("../../../../bus/serial-base/drivers/ctrl", "devices/pnp0/00:00/00:00:0/driver")
      link("../../../bus/pnp/drivers/serial", "devices/pnp0/00:00/driver")
      link("../../../bus/pnp", "devices/pnp0/00:00/subsystem")
      try write("class/ttyS0/type", "4")
      let ports = try SerialPort.list(in: folder.appending("class"), devices: "/dev")
      #expect(ports.map(\.name) == ["ttyACM0", "ttyS0", "ttyUSB0"])
      // The UART's driver and bus, not the serial-base port's ("port", "serial-base").
      #expect(ports[1].driver == "serial" && ports[1].subsystem == "pnp", "\(ports[1])")
      let acm = ports[0]
      #expect(acm.driver == "cdc_acm" && acm.subsystem == nil && acm.path == "/dev/ttyACM0")
      #expect(
        acm.usb
          == SerialPort.USBDevice(
            vendorID: "2341", productID: "0043", serialNumber: nil, manufacturer: "Arduino (www.arduino.cc)",
            product: nil, interface: "02"))
      let ftdi = ports[2]
      #expect(ftdi.driver == "ftdi_sio" && ftdi.subsystem == "usb-serial")
      #expect(ftdi.usb?.vendorID == "0403" && ftdi.usb?.productID == "6001")
      #expect(ftdi.usb?.serialNumber == "A50285BI" && ftdi.usb?.product == "FT232R USB UART")
      #expect(ftdi.usb?.interface == "00" && ftdi.usb?.manufacturer == "FTDI")
      expectError(.notFound) { try SerialPort.list(in: folder.appending("missing"), devices: "/dev") }
    }
  }

  // MARK: Character devices

  @Test func characterDevicesOpenWithTheirNumbers() throws {
    let null = try CharacterDevice.open("/dev/null")
    #expect(null.major == 1 && null.minor == 3 && null.path == "/dev/null")
    try null.blockingWrite(Array("gone".utf8))
    var buffer = [UInt8](repeating: 0xFF, count: 16)
    #expect(try buffer.withUnsafeMutableBytes { try null.blockingRead(into: $0) } == 0)
    let zero = try CharacterDevice.open("/dev/zero", access: .readOnly)
    #expect(zero.major == 1 && zero.minor == 5)
    #expect(try buffer.withUnsafeMutableBytes { try zero.tryRead(into: $0) } == .completed(16))
    #expect(buffer == [UInt8](repeating: 0, count: 16))
    let full = try CharacterDevice.open("/dev/full", access: .writeOnly)
    #expect(full.major == 1 && full.minor == 7)
    let error = expectError(.limitExceeded) { try full.blockingWrite(Array("x".utf8)) }
    #expect(error?.errno == .noSpace)
  }

  @Test func aNodeThatIsNotACharacterDeviceIsRefused() throws {
    try withTemporaryFolder { folder in
      let file = folder.appending("plain")
      let fd = try FileDescriptor.open(file, .writeOnly, options: [.create], permissions: .ownerReadWrite)
      try fd.close()
      let error = expectError(.invalidArgument) { try CharacterDevice.open(file) }
      #expect(error?.detail == "a regular file, not a character device" && error?.subject == file.string)
      expectError(.invalidArgument) { try CharacterDevice.open(folder, access: .readOnly) }
      expectError(.notFound) { try CharacterDevice.open(folder.appending("missing")) }
      // A FIFO without a writer would block a plain open: this one returns and refuses it.
      #expect(mkfifo(folder.appending("fifo").string, 0o600) == 0)
      let fifo = expectError(.invalidArgument) {
        try CharacterDevice.open(folder.appending("fifo"), access: .readOnly)
      }
      #expect(fifo?.detail == "a FIFO, not a character device")
    }
  }

  @Test func typedRequestsEncodeAsTheKernelsMacros() throws {
    // Values from the kernel's headers.
    #expect(try IOControl<UInt32>.read(group: "T", number: 0x30).rawValue == 0x8004_5430)  // TIOCGPTN
    #expect(try IOControl<Int32>.write(group: "T", number: 0x31).rawValue == 0x4004_5431)  // TIOCSPTLCK
    #expect(try IOControl<Int>.read(group: "f", number: 1).rawValue == 0x8008_6601)  // FS_IOC_GETFLAGS
    #expect(try IOControl<Void>.none(group: "T", number: 0x2F).rawValue == 0x542F)
    #expect(try IOControl<UInt64>.readWrite(group: "U", number: 7).rawValue == 0xC008_5507)
    let request = try IOControl<UInt32>.read(group: "T", number: 0x30)
    #expect(request.direction == .read && request.size == 4 && request.group == UInt8(ascii: "T"))
    #expect(request.number == 0x30 && "\(request)" == "_IOR('T', 0x30, 4) = 0x80045430")
    expectError(.invalidArgument) { try IOControl<Void>.none(group: "é", number: 1) }
    expectError(.invalidArgument) {
      try IOControl<InlineArray<16384, UInt8>>.read(group: "x", number: 1).rawValue
    }
    #expect(IOControl<Void>.maximumSize == 16383)
  }

  @Test func aTypedRequestReachesTheDevice() throws {
    // Each open of /dev/ptmx is a new pty master; TIOCGPTN reads its number.
    let master = try CharacterDevice.open("/dev/ptmx")
    var number: UInt32 = .max
    try master.control(try IOControl<UInt32>.read(group: "T", number: 0x30), &number)
    #expect(number != .max)
    // TIOCSPTLCK 0 unlocks the slave, which then opens.
    var unlock: Int32 = 0
    try master.control(try IOControl<Int32>.write(group: "T", number: 0x31), &unlock)
    let slave = try Terminal.open(FilePath("/dev/pts/\(number)"))
    #expect(try slave.path() == FilePath("/dev/pts/\(number)"))
    // An argument of the wrong size is refused before the kernel sees it.
    var wide: UInt64 = 0
    let mismatch = expectError(.invalidArgument) {
      try master.control(IOControl<UInt64>(rawValue: 0x8004_5430), &wide)
    }
    #expect(mismatch?.detail.contains("4 bytes") == true)
    // A plain number encodes no size: refused unless vouched for (TIOCGWINSZ, 8 bytes).
    var size = WindowSize(rows: 0, columns: 0)
    let pair = try PseudoTerminal.open(size: WindowSize(rows: 12, columns: 34))
    let ptyDevice = try CharacterDevice.open(pair.slavePath)
    var raw: UInt64 = 0
    expectError(.invalidArgument) { try ptyDevice.control(IOControl<UInt64>(rawValue: 0x5413), &raw) }
    try ptyDevice.control(IOControl<UInt64>(unchecked: 0x5413), &raw)
    size.rows = UInt16(truncatingIfNeeded: raw)
    size.columns = UInt16(truncatingIfNeeded: raw >> 16)
    #expect(size == WindowSize(rows: 12, columns: 34))
    // A request the device does not know; one without an argument that it does (TIOCEXCL).
    let null = try CharacterDevice.open("/dev/null")
    let unknown = expectError(.unsupported) {
      try null.control(try IOControl<Void>.none(group: "T", number: 0x0C))
    }
    #expect(unknown?.operation.hasPrefix("ioctl(_IO('T', 0xc)") == true)
    try master.control(IOControl<Void>(rawValue: 0x540C))
    #expect(try Terminal(adopting: FileDescriptor(rawValue: dup(master.descriptor.rawValue))).isExclusive())
  }
}
