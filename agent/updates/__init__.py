"""OS updates on the tablet: TUF decides what may be installed, RAUC installs it, the
bootloader's try-boot and the engine's mark-good decide commit or roll back.

- `states`: the state machine, one transition table (pure);
- `engine`: drives an update through it, persisting every step (`store`);
- `tufclient`: python-tuf ngclient against the gateway's repository (`http`);
- `download`: resumable, bounded, streaming-verified bundle download;
- `slots`: `RaucSlots` (tablet) and `FileSlots` (file-backed, simulated bootloader);
- `bootcount`: the A/B boot-counter rules `FileSlots` and the RAUC tests' bootloader follow (pure);
- `service` / `bridge`: the engine inside the agent (desired state in, reports out);
- `run_once`: one engine run as a process (power-cut tests, benchmark).
"""
