"""Ed25519 signatures of audit events and checkpoints, and the trust store that checks them.

Workers sign every audit event they publish (``AuditSigner.sign_event``); ``swerve audit sync``
appends only events signed by a key in the trust store (``TrustedKeys``); checkpoints are signed
the same way. What is signed is always the RFC 8785 (JCS) bytes of a JSON object without its
``signature`` member (``signed_payload``); the object carries ``key_id``, so the signature
covers which key made it.

Keys:
- a private key file is either PEM (PKCS#8, unencrypted: ``-----BEGIN PRIVATE KEY-----``, what
  ``swerve audit keygen`` and ``openssl genpkey -algorithm ed25519`` write) or exactly 32 raw
  bytes, the Ed25519 seed (RFC 8032 section 5.1.5);
- a public key file is PEM (SubjectPublicKeyInfo: ``-----BEGIN PUBLIC KEY-----``) or 32 raw bytes;
- ``key_id`` is the hex sha256 of the 32 raw public-key bytes, so it names a key without trusting
  anything the sender says: a verifier looks the id up in its own trust store.

Rotation is several trusted public keys at once: add the new key's public half to the trust
store, switch the workers to the new private key, and keep the old public key as long as its
events or checkpoints are verified.

This module must never hold a key in an event, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Literal, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from swerve.audit.canonical import canonical_json
from swerve.errors import ConfigurationError, SignatureError
from swerve.streams.events import AuditEvent

log = logging.getLogger("swerve.audit")

# The outcome of checking one signature: only "valid" is trusted.
SignatureCheck = Literal["valid", "unsigned", "unknown_key", "invalid"]


def key_id(public_key: Ed25519PublicKey) -> str:
    """Hex sha256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM (PKCS#8) file or a 32-byte raw seed file.

    Raises:
        ConfigurationError: the file is missing, or is neither form; the message names the path.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the audit signing key {path}: {exc.strerror}") from exc
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"audit signing key {path}: not an unencrypted PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"audit signing key {path}: a {type(key).__name__}, not Ed25519")
        return key
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    raise ConfigurationError(f"audit signing key {path}: neither PEM nor a 32-byte raw Ed25519 seed ({len(data)} bytes)")


def load_public_key(path: Path | str) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) file or 32 raw bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the trusted audit key {path}: {exc.strerror}") from exc
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise ConfigurationError(f"trusted audit key {path}: not a PEM public key ({exc})") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigurationError(f"trusted audit key {path}: a {type(key).__name__}, not Ed25519")
        return key
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    raise ConfigurationError(f"trusted audit key {path}: neither PEM nor 32 raw bytes ({len(data)} bytes)")


def signed_payload(body: Mapping[str, Any]) -> bytes:
    """What a signature covers: the JCS bytes of ``body`` without its ``signature`` member."""
    return canonical_json({name: value for name, value in body.items() if name != "signature"})


def wire_body(event: AuditEvent) -> dict[str, Any]:
    """The event's JSON body exactly as it goes on the wire (NaN and infinities as null)."""
    body: dict[str, Any] = json.loads(event.model_dump_json())
    return body


class AuditSigner:
    """Signs audit events and checkpoints with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey):
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def from_file(cls, path: Path | str) -> "AuditSigner":
        return cls(load_private_key(path))

    def sign(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` with ``key_id`` set and ``signature`` (base64, RFC 4648 section 4) over the rest."""
        unsigned = {**body, "key_id": self.key_id}
        unsigned.pop("signature", None)
        signature = self._private_key.sign(signed_payload(unsigned))
        return {**unsigned, "signature": base64.b64encode(signature).decode("ascii")}

    def sign_event(self, event: AuditEvent) -> AuditEvent:
        """The same event with ``key_id`` and ``signature`` filled in."""
        signed = self.sign(wire_body(event))
        return event.model_copy(update={"key_id": signed["key_id"], "signature": signed["signature"]})

    def __call__(self, event: AuditEvent) -> AuditEvent:
        """The publisher's hook (``swerve.streams.publisher.AuditSigning``)."""
        return self.sign_event(event)


class TrustedKeys:
    """The public keys whose signatures the ledger accepts, by key id."""

    def __init__(self, keys: list[Ed25519PublicKey] | None = None):
        self.keys: dict[str, Ed25519PublicKey] = {key_id(key): key for key in keys or []}

    @classmethod
    def from_paths(cls, paths: list[Path]) -> "TrustedKeys":
        """Keys from files, and from every ``*.pem`` or ``*.pub`` file of each directory given."""
        keys = []
        for path in paths:
            if path.is_dir():
                files = sorted([*path.glob("*.pem"), *path.glob("*.pub")])
                keys += [load_public_key(file) for file in files]
            else:
                keys.append(load_public_key(path))
        return cls(keys)

    def __len__(self) -> int:
        return len(self.keys)

    def check(self, body: Mapping[str, Any]) -> SignatureCheck:
        """Whether ``body`` carries a valid signature by a trusted key."""
        signature, kid = body.get("signature"), body.get("key_id")
        if not signature:
            return "unsigned"
        if not isinstance(kid, str) or kid not in self.keys:
            return "unknown_key"
        try:
            raw = base64.b64decode(str(signature), validate=True)
            self.keys[kid].verify(raw, signed_payload(body))
        except (binascii.Error, InvalidSignature, ValueError):
            return "invalid"
        return "valid"

    def require(self, body: Mapping[str, Any], what: str) -> None:
        """Raise unless ``body`` is validly signed by a trusted key.

        Raises:
            SignatureError: naming ``what`` and why (unsigned, unknown key, wrong signature).
        """
        outcome = self.check(body)
        if outcome != "valid":
            reasons = {"unsigned": "is not signed", "unknown_key": f"is signed by key {body.get('key_id')!r}, which is not trusted",
                       "invalid": "has a signature that does not verify (altered, or forged)"}
            raise SignatureError(f"{what} {reasons[outcome]}")


def audit_signer(signing_key_path: Path | None) -> AuditSigner | None:
    """The workers' signer from ``SWERVE_AUDIT_SIGNING_KEY_PATH``; None (and one warning) without it."""
    if signing_key_path is None:
        log.warning("SWERVE_AUDIT_SIGNING_KEY_PATH is not set: audit events are published unsigned, "
                    "and `swerve audit sync` refuses them unless given --allow-unsigned")
        return None
    signer = AuditSigner.from_file(signing_key_path)
    log.info("audit events are signed with key %s", signer.key_id)
    return signer


def generate_key_pair(directory: Path, name: str = "audit") -> tuple[Path, Path]:
    """Write a new Ed25519 key pair as ``<name>.key`` (PKCS#8 PEM, mode 0600) and ``<name>.pem`` (public)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pem"
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path
