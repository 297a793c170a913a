"""The tamper-evident decision log: canonical digests, signatures, the ledger, Merkle proofs, sync.

::

    canonical.py   RFC 8785 (JCS) bytes and the sha256 of audit records
    signing.py     Ed25519: workers sign audit events, a trust store checks them (key rotation)
    merkle.py      RFC 6962 Merkle tree hash, inclusion and consistency proofs
    leaf.py        what one ledger row's leaf commits to
    ledger.py      the SQLite ledger: append, gaps, erasure, verify, query
    checkpoint.py  signed tree heads, checked against the ledger; inclusion proofs for third parties
    sync.py        the audit topic into the ledger, admitting only trusted events, recording gaps

``canonical`` and ``signing`` are what the workers use (``swerve.streams.publication`` and
``publisher``); the rest runs in ``swerve audit`` (``cli/audit.py``). Nothing here
may drop, rewrite or reorder an entry; the one destructive act, ``AuditLedger.erase``, removes
a record's contents and leaves its digest and an erasure entry behind.
"""

from swerve.audit.canonical import canonical_json, canonical_sha256, ijson_record

__all__ = ["canonical_json", "canonical_sha256", "ijson_record"]
