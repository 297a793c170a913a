"""The Merkle leaf of one ledger row: what the tree, checkpoints and proofs commit to.

A row is an *entry* of one of three kinds, and its leaf is the RFC 8785 (JCS) bytes of::

    {"v": 1,
     "index":  i,                                   # 0-based position in the ledger
     "kind":   "event" | "gap" | "erasure",
     "source": {"topic", "partition", "offset"} | null,   # where sync read it (events)
     "body":   {...}}

- ``event``: ``body`` is the audit event exactly as it arrived on the wire, *without* its
  ``record``: id, request_id, tenant, stage, decision, subject_id, output_ids, created_at,
  schema_version, key_id, signature, and ``record_sha256``. The record is committed to
  through its digest only, so erasing a record (GDPR) leaves the leaf, the tree and every
  proof unchanged, while any change to a kept record breaks ``record_sha256``.
- ``gap``: ``body`` names a range of audit-topic offsets that sync could not read (retention
  deleted them): topic, partition, from_offset, to_offset (exclusive), detected_at, reason.
- ``erasure``: ``body`` names the request and event ids whose records were erased, and when.

Every column the ledger stores or filters on is either inside the leaf or derived from it
(``verify`` checks they agree), so editing a column changes the leaf hash. The leaf hash is
``SHA-256(0x00 || leaf)`` (RFC 6962 section 2.1; ``merkle.leaf_hash``).
"""

from __future__ import annotations

from typing import Any, Literal

from swerve.audit.canonical import canonical_json
from swerve.audit.merkle import leaf_hash

LEAF_VERSION = 1
EntryKind = Literal["event", "gap", "erasure"]

# Columns of an event row copied from its body (queried, indexed), checked against it by verify.
EVENT_COLUMNS = ("id", "request_id", "tenant", "stage", "decision", "subject_id", "created_at", "key_id", "signature", "record_sha256")


def leaf_bytes(index: int, kind: EntryKind, body: dict[str, Any], source: tuple[str, int, int] | None) -> bytes:
    """The JCS bytes of the leaf of the entry at ``index``."""
    return canonical_json({
        "v": LEAF_VERSION,
        "index": index,
        "kind": kind,
        "source": None if source is None else {"topic": source[0], "partition": source[1], "offset": source[2]},
        "body": body,
    })


def entry_leaf_hash(index: int, kind: EntryKind, body: dict[str, Any], source: tuple[str, int, int] | None) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return leaf_hash(leaf_bytes(index, kind, body, source))


def event_body(wire: dict[str, Any]) -> dict[str, Any]:
    """The leaf body of an audit event: its wire body without ``record``."""
    return {name: value for name, value in wire.items() if name != "record"}
