import HinixCommands

Tool.main(MQRecv.self)
