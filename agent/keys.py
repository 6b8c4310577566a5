"""The gateway keys a tablet trusts: every signed document it takes is sealed by one of them."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.config import AgentConfig
from common.config import ConfigError
from wire.envelope import key_id, public_key_from_pem


def load_trusted_keys(config: AgentConfig) -> dict[str, Ed25519PublicKey]:
    """The gateway keys by key id; raises ConfigError naming the file that is not one."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in config.gateway_keys:
        try:
            key = public_key_from_pem(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read gateway key {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ConfigError(f"{path}: not an Ed25519 public key PEM ({exc})") from exc
        keys[key_id(key)] = key
    return keys
