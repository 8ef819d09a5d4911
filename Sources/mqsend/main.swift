import HinixCommands

Tool.main(MQSend.self)
