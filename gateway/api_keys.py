"""API keys: who is calling, which tenant they speak for, and what they may do.

The keys file (YAML, or JSON, which YAML reads as well) lists each key by the SHA-256 hex
digest of its text, never the key itself::

    keys:
      - name: acme-generator          # shown in logs; unique
        sha256: 9f86d08...            # sha256 hex of the key (`swerve gateway hash-key`)
        roles: [producer]             # producer: POST and GET /v1/moderations
        tenants: [acme]               # a producer key has exactly one tenant
        rate_limit: 100/minute        # optional: this key's own budget
      - name: trust-and-safety
        sha256: 60303ae...
        roles: [reviewer]             # reviewer: the tenants it may see and decide on the review page
        tenants: [acme, globex]

The tenant a request is judged under comes from its key, never from its body. A presented key
is hashed and compared with every digest in constant time (``hmac.compare_digest``), so the
time of a refusal says nothing about how close a guess came. This module must never log or
store a key's text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from swerve.errors import ConfigurationError

from swerve.gateway.settings import TENANT_PATTERN, check_rate_limit

__all__ = ["ApiKey", "KeyRing", "KeySource", "Role", "key_digest", "new_key"]

Role = Literal["producer", "reviewer"]

# A new key: a recognisable prefix (secret scanners, logs that must not hold it) and 256 random bits.
_KEY_PREFIX = "swk_"
_DIGEST_PATTERN = r"^[0-9a-f]{64}$"


class ApiKey(BaseModel):
    """One entry of the keys file.

    Args:
        name (`str`): who holds the key, for logs and rate limits; unique in the file.
        sha256 (`str`): the SHA-256 hex digest (64 lowercase characters) of the key's text.
        roles (`tuple[Role, ...]`): ``producer`` (moderate images, read their outcomes) and/or
            ``reviewer`` (see and decide the listed tenants' review items, on the review page).
        tenants (`tuple[str, ...]`): for a producer, exactly one: the tenant stamped on every
            request it sends. For a reviewer, every tenant it may see.
        rate_limit (`str`, *optional*): this key's budget, e.g. ``"100/minute"``; unset,
            ``SWERVE_GATEWAY_RATE_LIMIT``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern=_DIGEST_PATTERN, repr=False)
    roles: tuple[Role, ...] = Field(min_length=1)
    tenants: tuple[str, ...] = Field(min_length=1)
    rate_limit: str | None = None

    @field_validator("tenants")
    @classmethod
    def _check_tenants(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [tenant for tenant in value if not re.fullmatch(TENANT_PATTERN, tenant)]
        if bad:
            raise ValueError(
                f"tenants {bad} are not tenant names: 1 to 64 ASCII letters, digits, '.', '_' or '-', "
                "not starting with '.'"
            )
        return value

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str | None) -> str | None:
        if value is not None:
            check_rate_limit(value)
        return value

    @model_validator(mode="after")
    def _check_producer_tenant(self) -> ApiKey:
        if "producer" in self.roles and len(self.tenants) != 1:
            raise ValueError(
                f"a producer key has exactly one tenant, the one it publishes as; got {list(self.tenants)}. "
                "Give each tenant's producer its own key"
            )
        return self

    @property
    def tenant(self) -> str:
        """The tenant a producer key publishes as."""
        return self.tenants[0]

    def may(self, role: Role) -> bool:
        """Whether this key has ``role``."""
        return role in self.roles


class KeyFile(BaseModel):
    """The keys file: ``keys:``, a list of ``ApiKey`` entries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[ApiKey, ...]

    @model_validator(mode="after")
    def _check_unique(self) -> KeyFile:
        for attribute in ("name", "sha256"):
            seen: set[str] = set()
            for key in self.keys:
                value = getattr(key, attribute)
                if value in seen:
                    shown = value if attribute == "name" else f"{value[:12]}..."
                    raise ValueError(f"two keys share the {attribute} {shown!r}")
                seen.add(value)
        return self


class KeySource(Protocol):
    """Who a presented key belongs to: the keys file, or the one development tenant."""

    def identify(self, presented: str | None) -> ApiKey | None:
        """The entry of ``presented`` (the key's text, None when no key was sent), or None."""
        ...


@dataclass(frozen=True)
class KeyRing:
    """The keys of a keys file. Build it with ``KeyRing.load``."""

    keys: tuple[ApiKey, ...]

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read and check the keys file at ``path``.

        Raises:
            ConfigurationError: the file is missing, unreadable, not YAML/JSON, or an entry is
                invalid; the message names the file and the entry.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read the API keys file {path}: {exc}") from exc
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"the API keys file {path} is not YAML or JSON: {exc}") from exc
        try:
            parsed = KeyFile.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
            raise ConfigurationError(f"invalid API keys file {path}: {problems}") from exc
        if not parsed.keys:
            raise ConfigurationError(f"the API keys file {path} lists no keys: nobody could call the gateway")
        return cls(parsed.keys)

    def identify(self, presented: str | None) -> ApiKey | None:
        """The entry whose digest is the digest of ``presented``, or None.

        Every digest is compared, in constant time, whether or not one matched earlier.
        """
        if not presented:
            return None
        digest = key_digest(presented)
        found: ApiKey | None = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found


def key_digest(key: str) -> str:
    """The SHA-256 hex digest of ``key``'s UTF-8 text: what the keys file lists."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A new random key: ``swk_`` and 43 URL-safe characters (256 bits)."""
    return _KEY_PREFIX + secrets.token_urlsafe(32)

