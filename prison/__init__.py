"""The prison service: beside the prison broker, it keeps the prison's view of its wings and
issues prison-wide commands (docs/prison.md). A peer of `gateway`: it imports only `wire` and
`common`, and runs on its own host."""
