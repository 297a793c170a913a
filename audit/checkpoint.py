"""Signed checkpoints (tree heads) of the ledger, and the proofs checked against them.

A checkpoint is a small JSON object, signed like an audit event (``signing.py``)::

    {"format": "swerve-audit-checkpoint/1", "size": n, "root_sha256": hex MTH of the first n
     leaves, "time": ISO 8601 UTC, "key_id": hex sha256 of the public key, "signature": base64}

Its members are ASCII strings and integers only, so its JCS bytes are also what
``json.dumps(sort_keys=True, separators=(",", ":"))`` writes: the verification script in
docs/security.md needs nothing beyond the standard library and ``cryptography``.

Kept outside the ledger's reach (an object-lock bucket, a transparency log), a checkpoint lets
anyone show that the ledger's first n rows are exactly those that were signed (truncation,
rewriting, reordering, insertion all change the root), that the current ledger extends it
(an RFC 6962 consistency proof), and that an event is in it (an inclusion proof).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swerve.audit.leaf import leaf_bytes
from swerve.audit.ledger import AuditLedger, VerifyReport, utc_iso
from swerve.audit.merkle import consistency_proof, inclusion_path, root, verify_consistency, verify_inclusion
from swerve.audit.signing import AuditSigner, TrustedKeys

CHECKPOINT_FORMAT = "swerve-audit-checkpoint/1"
PROOF_FORMAT = "swerve-audit-inclusion-proof/1"


def make_checkpoint(ledger: AuditLedger, signer: AuditSigner) -> dict[str, Any]:
    """Sign the head of ``ledger`` as it is now. Refuses a ledger that does not verify.

    Raises:
        ValueError: the ledger does not verify (naming the row).
    """
    report = ledger.verify()
    if not report.intact:
        raise ValueError(f"refusing to sign a checkpoint of a broken ledger: {report.problem}")
    return signer.sign({"format": CHECKPOINT_FORMAT, "size": report.rows, "root_sha256": report.root_sha256, "time": utc_iso()})


@dataclass(frozen=True)
class CheckpointCheck:
    """The outcome of checking one checkpoint against the ledger."""

    size: int
    ledger_rows: int
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_checkpoint(checkpoint: dict[str, Any], report: VerifyReport, trusted: TrustedKeys) -> CheckpointCheck:
    """Check ``checkpoint``'s signature, that the ledger's first ``size`` leaves hash to its root,
    and that the current tree is consistent with it (RFC 6962 section 2.1.2)."""
    size = checkpoint.get("size")
    if checkpoint.get("format") != CHECKPOINT_FORMAT or not isinstance(size, int) or size < 0:
        return CheckpointCheck(-1, report.rows, "not a swerve audit checkpoint")
    outcome = trusted.check(checkpoint)
    if outcome != "valid":
        why = {"unsigned": "it is not signed", "unknown_key": f"its key {checkpoint.get('key_id')!r} is not trusted",
               "invalid": "its signature does not verify (the checkpoint was altered or forged)"}[outcome]
        return CheckpointCheck(size, report.rows, f"checkpoint signature: {why}")
    hashes = report.leaf_hashes
    if size > len(hashes):
        return CheckpointCheck(size, report.rows, f"the ledger has {len(hashes)} rows, fewer than the {size} the checkpoint "
                                                  "signed (rows were removed: truncation)")
    old_root = root(hashes[:size])
    if old_root.hex() != checkpoint.get("root_sha256"):
        return CheckpointCheck(size, report.rows, f"the first {size} rows no longer hash to the checkpoint's root "
                                                  "(rows were altered, removed, reordered or inserted)")
    proof = consistency_proof(size, hashes)
    if not verify_consistency(size, len(hashes), old_root, root(hashes), proof):
        return CheckpointCheck(size, report.rows, "the current tree is not consistent with the checkpoint")
    return CheckpointCheck(size, report.rows)


def prove_inclusion(ledger: AuditLedger, report: VerifyReport, event_id: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """An inclusion proof of ``event_id`` in the tree the checkpoint signed, for a third party.

    Raises:
        LookupError: the event is not in the ledger, or not among the checkpoint's rows.
    """
    entry = ledger.entry(event_id)
    if entry is None:
        raise LookupError(f"event {event_id} is not in the ledger")
    size = int(checkpoint["size"])
    if entry["index"] >= size:
        raise LookupError(f"event {event_id} is row {entry['index'] + 1}, after the checkpoint's {size} rows: "
                          "make a newer checkpoint")
    leaf = leaf_bytes(entry["index"], "event", entry["body"], entry["source"])
    path = inclusion_path(entry["index"], report.leaf_hashes[:size])
    assert verify_inclusion(report.leaf_hashes[entry["index"]], entry["index"], size, path, bytes.fromhex(checkpoint["root_sha256"]))
    return {
        "format": PROOF_FORMAT,
        "event_id": event_id,
        "leaf": leaf.decode("utf-8"),
        "leaf_index": entry["index"],
        "tree_size": size,
        "inclusion_path": [node.hex() for node in path],
        "checkpoint": checkpoint,
    }
