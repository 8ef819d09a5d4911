/// A type a typed ring may carry: plain bits, every pattern of which is a valid value.
///
/// A ring's memory is shared with another process, which may write any bytes into it. A value
/// read from there must be valid whatever those bytes are: a `Bool` holding 2, an enum with a
/// case number that does not exist or a pointer into nowhere is undefined behaviour to read,
/// and no check after the read can undo that. So ``RingSender`` and ``RingReceiver`` take only
/// `RingElement`s, and the compiler refuses a ring of `Bool`, of an enum or of a type with
/// references.
///
/// The integer and floating-point types conform. Conform a struct of
/// your own only if every stored property is itself a `RingElement` (padding bytes may hold
/// anything):
///
/// ```swift
/// struct Sample: RingElement {
///   var time: UInt64
///   var left: Float
///   var right: Float
/// }
/// ```
///
/// Carry a flag or a choice as an integer and interpret it after reading (`kind == 1`), so
/// that an unexpected number is a value your code checks, not undefined behaviour.
public protocol RingElement: BitwiseCopyable {}

extension Int8: RingElement {}
extension Int16: RingElement {}
extension Int32: RingElement {}
extension Int64: RingElement {}
extension Int: RingElement {}
extension UInt8: RingElement {}
extension UInt16: RingElement {}
extension UInt32: RingElement {}
extension UInt64: RingElement {}
extension UInt: RingElement {}
extension Float: RingElement {}
extension Double: RingElement {}
