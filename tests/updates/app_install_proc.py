"""`python -m tests.updates.app_install_proc UPDATES_TOML APPS_DIR POLICY_JSON`: one app install
pass in a process of its own, as the agent's worker runs it (recover, then install what the
policy pins), for the kill -9 tests. Exit 0: every pinned build installed; 12: try again."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.updates.app_service import build_app_installer
from agent.updates.config import UpdatesConfig, build_engine, system_now
from common.config import load
from tests.updates.app_support import verify
from wire.policy import WingPolicy


def main(argv: list[str]) -> int:
    config = load(UpdatesConfig, Path(argv[0]))
    policy = WingPolicy.model_validate_json(Path(argv[2]).read_bytes())
    engine = build_engine(config, now=system_now, health=lambda: True)
    installer = build_app_installer(config, Path(argv[1]), engine, now=system_now, verify=verify)
    installer.recover()
    return 12 if installer.run(policy) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
