"""The audit ledger: an append-only SQLite copy of ``swerve.audit``, hash-chained.

Each row keeps an audit event as it arrived and two digests:

    record_sha256 = sha256(canonical JSON of the record)         (set by the worker)
    chain_sha256  = sha256(previous chain_sha256 || record_sha256)  (set here, in arrival order)

``verify`` recomputes both for every row, so altering, removing or reordering any row after
the fact breaks the chain from that row on. Redelivered events (at-least-once) are recognized
by their id and appended once. Where the ledger lives (a WORM bucket, a database compliance
controls) is an operator's choice; this module only guarantees detection, not prevention.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from swerve.streams.events import AuditEvent
from swerve.streams.publication import canonical_sha256

GENESIS = "0" * 64
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    stage TEXT NOT NULL,
    decision TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL,
    record_sha256 TEXT NOT NULL,
    chain_sha256 TEXT NOT NULL,
    source_topic TEXT,
    source_partition INTEGER,
    source_offset INTEGER
);
CREATE INDEX IF NOT EXISTS audit_request ON audit (request_id);
CREATE TABLE IF NOT EXISTS positions (topic TEXT, partition INTEGER, next_offset INTEGER, PRIMARY KEY (topic, partition));
"""


def chain(previous: str, record_sha256: str) -> str:
    return hashlib.sha256((previous + record_sha256).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of re-checking the whole ledger."""

    rows: int
    first_broken_seq: int | None
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None


class AuditLedger:
    """An append-only, hash-chained ledger of audit events in one SQLite file."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def head(self) -> str:
        row = self.db.execute("SELECT chain_sha256 FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS

    def append(self, event: AuditEvent, source: tuple[str, int, int] | None = None) -> bool:
        """Append ``event`` unless its id is already there. Returns whether a row was added."""
        if self.db.execute("SELECT 1 FROM audit WHERE event_id = ?", (event.id,)).fetchone():
            if source is not None:
                self.mark_read(source)
            return False
        with self.db:
            self.db.execute(
                "INSERT INTO audit (event_id, request_id, tenant, stage, decision, created_at, body, record_sha256, chain_sha256,"
                " source_topic, source_partition, source_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.id, event.request_id, event.tenant, event.stage, event.decision, event.created_at.isoformat(),
                    event.model_dump_json(), event.record_sha256, chain(self.head(), event.record_sha256),
                    *(source or (None, None, None)),
                ),
            )
            if source is not None:
                self.mark_read(source, commit=False)
        return True

    def mark_read(self, source: tuple[str, int, int], commit: bool = True) -> None:
        """Remember that ``source`` (topic, partition, offset) was read, so the next sync starts after it."""
        topic, partition, offset = source
        self.db.execute(
            "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
            (topic, partition, offset + 1),
        )
        if commit:
            self.db.commit()

    def positions(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition of ``topic``."""
        return dict(self.db.execute("SELECT partition, next_offset FROM positions WHERE topic = ?", (topic,)).fetchall())

    def verify(self) -> VerifyReport:
        """Recompute every record digest and the chain; report the first row that does not match."""
        previous = GENESIS
        rows = 0
        for seq, body, record_sha256, chain_sha256 in self.db.execute("SELECT seq, body, record_sha256, chain_sha256 FROM audit ORDER BY seq"):
            rows += 1
            event = json.loads(body)
            if canonical_sha256(event["record"]) != record_sha256 or event["record_sha256"] != record_sha256:
                return VerifyReport(rows, seq, f"row {seq}: the record does not match its sha256 (altered)")
            expected = chain(previous, record_sha256)
            if expected != chain_sha256:
                return VerifyReport(rows, seq, f"row {seq}: chain broken (a row before it was altered, removed or reordered)")
            previous = chain_sha256
        return VerifyReport(rows, None, None)

    def query(self, *, request_id: str | None = None, decision: str | None = None, tenant: str | None = None,
              since: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Audit events matching every given filter, oldest first, with their ledger position and chain digest."""
        clauses, values = [], []
        for column, value in (("request_id", request_id), ("decision", decision), ("tenant", tenant)):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        if since is not None:
            clauses.append("created_at >= ?")
            values.append(since)
        sql = "SELECT seq, body, chain_sha256 FROM audit" + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for seq, body, chain_sha256 in self.db.execute(sql, values):
            yield {"seq": seq, "chain_sha256": chain_sha256, "event": json.loads(body)}
