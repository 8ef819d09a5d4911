import HinixCommands

Tool.main(HinixCommand.self)
