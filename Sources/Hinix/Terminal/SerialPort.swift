import Glibc
import SystemPackage

/// Serial ports: opening one ready for raw bytes at a given rate and framing, and listing the
/// ports this machine has, with what sysfs knows of them.
///
/// ```swift
/// for port in try SerialPort.list() {
///   print(port.path, port.driver ?? "", port.usb?.vendorID ?? "")
/// }
/// let modem = try SerialPort.open("/dev/ttyACM0", baudRate: 115_200, flowControl: .hardware)
/// ```
///
/// An opened port is a ``Terminal``: every read and write form, attributes, drain, flush,
/// break, and the modem lines (``Terminal/modemLines()``,
/// `waitForModemChange(of:)`).
public enum SerialPort {
  /// Opens a serial device for raw bytes: as ``Terminal/open(_:exclusive:nonBlocking:)`` does
  /// (`O_NOCTTY`, a non-blocking open so a missing carrier cannot hold it), then sets raw mode
  /// (``TerminalAttributes/makeRaw()``), the receiver on, the modem lines ignored for
  /// reading (`CLOCAL`), and the rate and framing given.
  ///
  /// - Parameters:
  ///   - path: the device's node, such as `/dev/ttyUSB0`.
  ///   - baudRate: the line's rate, in both directions.
  ///   - dataBits: the data bits per character.
  ///   - parity: the parity bit of each character.
  ///   - stopBits: the stop bits after each character.
  ///   - flowControl: how the two sides pause each other.
  ///   - exclusive: refuse other opens of the device while this one lasts (`TIOCEXCL`); on by
  ///     default, as two programs reading one port each get half of its bytes.
  ///   - nonBlocking: keep the descriptor `O_NONBLOCK` (the default; see
  ///     ``Terminal/open(_:exclusive:nonBlocking:)`` for why), or make it blocking.
  /// - Throws: the errors of ``Terminal/open(_:exclusive:nonBlocking:)`` and
  ///   ``Terminal/setAttributes(_:when:)``.
  public static func open(
    _ path: FilePath, baudRate: BaudRate = 9600, dataBits: TerminalAttributes.DataBits = .eight,
    parity: TerminalAttributes.Parity = .none, stopBits: TerminalAttributes.StopBits = .one,
    flowControl: TerminalAttributes.FlowControl = .none, exclusive: Bool = true, nonBlocking: Bool = true
  ) throws(HinixError) -> Terminal {
    let port = try Terminal.open(path, exclusive: exclusive, nonBlocking: nonBlocking)
    try port.updateAttributes { attributes in
      attributes.makeRaw()
      attributes.controlModes.formUnion([.enableReceiver, .ignoreModemLines])
      attributes.baudRate = baudRate
      attributes.inputBaudRate = nil
      attributes.dataBits = dataBits
      attributes.parity = parity
      attributes.stopBits = stopBits
      attributes.flowControl = flowControl
    }
    return port
  }

  /// What sysfs says of a serial port.
  public struct Description: Sendable, Hashable {
    /// The device's name (`ttyUSB0`).
    public let name: String
    /// Its node (`/dev/ttyUSB0`).
    public let path: FilePath
    /// The kernel driver of its UART or adapter (`ftdi_sio`, `cdc_acm`, `serial8250`, `serial`
    /// for a PNP port), past the `serial-base` port and controller of Linux 6.5 and later, if sysfs
    /// names one.
    public let driver: String?
    /// The bus its UART or adapter hangs on (`usb`, `usb-serial`, `pnp`, `platform`), if sysfs
    /// names one.
    public let subsystem: String?
    /// The USB device, for ports on USB (adapters and ACM modems).
    public let usb: USBDevice?
  }

  /// A USB device behind a serial port, from its sysfs attributes.
  public struct USBDevice: Sendable, Hashable {
    /// The vendor id, four hex digits (`0403`).
    public let vendorID: String
    /// The product id, four hex digits (`6001`).
    public let productID: String
    /// The serial number, if the device reports one.
    public let serialNumber: String?
    /// The manufacturer's name, if the device reports one.
    public let manufacturer: String?
    /// The product's name, if the device reports one.
    public let product: String?
    /// The USB interface number of the port (`00`), for devices with several ports.
    public let interface: String?
  }

  /// The serial ports of this machine, sorted by name: each entry of `/sys/class/tty` backed by
  /// a device (virtual consoles and pseudo-terminals have none), without the legacy 8250
  /// ports that have no UART behind them (their `type` is 0), with the driver and, for USB
  /// devices (adapters and ACM modems), vendor and product id, serial number and manufacturer.
  public static func list() throws(HinixError) -> [Description] {
    try list(in: "/sys/class/tty", devices: "/dev")
  }

  /// ``list()`` from a given sysfs class folder, for tests on a made-up tree.
  static func list(in classFolder: FilePath, devices: FilePath) throws(HinixError) -> [Description] {
    let names: [FilePath.Component]
    switch Sys.directoryEntries(classFolder) {
    case .success(let entries): names = entries
    case .failure(let error): throw HinixError.system(error, "opendir", subject: classFolder.printable)
    }
    var ports: [Description] = []
    for name in names.sorted(by: { $0.string < $1.string }) {
      let entry = classFolder.appending(name)
      let device = entry.appending("device")
      guard case .success(let hardware) = Sys.realPath(device) else { continue }
      // A legacy 8250 port with no UART found reads type 0 (PORT_UNKNOWN).
      if let type = attribute(entry.appending("type")), type == "0" { continue }
      let uart = uartDevice(hardware)
      ports.append(
        Description(
          name: name.string, path: devices.appending(name),
          driver: linkName(uart.appending("driver")), subsystem: linkName(uart.appending("subsystem")),
          usb: usbDevice(above: hardware)))
    }
    return ports
  }

  /// The device that drives the port: `folder` itself, or, since Linux 6.5 put a port and its
  /// controller of the `serial-base` bus between a UART and its tty, the first parent whose
  /// driver is not on that bus (`serial8250`, pnp's `serial`), not `port` or `ctrl`.
  private static func uartDevice(_ folder: FilePath) -> FilePath {
    var current = folder
    for _ in 0..<3 {
      guard case .success(let driver) = Sys.readLink(current.appending("driver")),
        driver.components.contains(where: { $0.string == "serial-base" })
      else { break }
      current.removeLastComponent()
    }
    return current
  }

  /// The USB device among `folder` and its parents: the first that has an `idVendor`.
  private static func usbDevice(above folder: FilePath) -> USBDevice? {
    var current = folder
    var interface: String?
    while current.components.count > 1 {
      if interface == nil { interface = attribute(current.appending("bInterfaceNumber")) }
      if let vendor = attribute(current.appending("idVendor")),
        let product = attribute(current.appending("idProduct"))
      {
        return USBDevice(
          vendorID: vendor, productID: product, serialNumber: attribute(current.appending("serial")),
          manufacturer: attribute(current.appending("manufacturer")),
          product: attribute(current.appending("product")),
          interface: interface)
      }
      current.removeLastComponent()
    }
    return nil
  }

  /// A sysfs attribute's text, trimmed; nil when it is missing or empty.
  private static func attribute(_ path: FilePath) -> String? {
    guard let text = try? readProcFile(path) else { return nil }
    let trimmed = String(text.trimmingWhitespace())
    return trimmed.isEmpty ? nil : trimmed
  }

  /// The last component of the link at `path` (a driver's or bus's name).
  private static func linkName(_ path: FilePath) -> String? {
    guard case .success(let target) = Sys.readLink(path) else { return nil }
    return target.lastComponent?.string
  }
}
