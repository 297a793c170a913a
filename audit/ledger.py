"""The audit ledger: an append-only SQLite copy of ``swerve.audit``, a Merkle tree over its rows.

Each row is an entry (an audit event, a gap in what sync could read, or an erasure) whose leaf
(``leaf.py``) commits to every column the row stores or is queried by. The leaves, in row
order, form an RFC 6962 Merkle tree (``merkle.py``); a signed checkpoint of the tree head
(``checkpoint.py``) makes truncation, rewriting, reordering and insertion detectable by anyone
holding the checkpoint, without trusting whoever can write this file.

``verify`` alone re-derives every leaf from its row and checks each kept record against its
``record_sha256``, the leaf indexes (a row removed or moved in the middle), and that every
erased record is named by an erasure entry. Without a checkpoint it cannot see rows removed
from the end, or a file rewritten wholesale: that is what checkpoints are for.

This module never talks to Kafka and never checks signatures: ``sync.py`` admits only events
signed by trusted keys, and the signature stays in the leaf for later checks.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal

from swerve.audit.canonical import canonical_json, canonical_sha256
from swerve.audit.leaf import EVENT_COLUMNS, EntryKind, entry_leaf_hash, event_body
from swerve.audit.merkle import root
from swerve.audit.signing import TrustedKeys
from swerve.errors import CanonicalizationError, LedgerFormatError

FORMAT_VERSION = 2  # 1 was the hash-chain ledger of streams/audit_ledger.py
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    leaf_sha256 TEXT NOT NULL,
    event_id TEXT UNIQUE,
    request_id TEXT,
    tenant TEXT,
    stage TEXT,
    decision TEXT,
    subject_id TEXT,
    created_at TEXT,
    key_id TEXT,
    signature TEXT,
    record_sha256 TEXT,
    record TEXT,
    source_topic TEXT,
    source_partition INTEGER,
    source_offset INTEGER
);
CREATE INDEX IF NOT EXISTS entries_request ON entries (request_id);
CREATE TABLE IF NOT EXISTS positions (topic TEXT, partition INTEGER, next_offset INTEGER, PRIMARY KEY (topic, partition));
"""

AppendOutcome = Literal["appended", "duplicate", "replayed"]
Source = tuple[str, int, int]


def utc_iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of re-deriving every leaf of the ledger."""

    rows: int
    events: int
    erased: int
    gaps: int
    root_sha256: str
    first_broken_seq: int | None = None
    problem: str | None = None
    leaf_hashes: list[bytes] = field(default_factory=list, repr=False)

    @property
    def intact(self) -> bool:
        return self.problem is None


@dataclass
class SignatureReport:
    """Worker signatures re-checked: valid, unsigned (allowed), unchecked (erased), the first problem."""

    valid: int = 0
    unsigned: int = 0
    unchecked: int = 0
    problem: str | None = None


class AuditLedger:
    """An append-only ledger of audit entries in one SQLite file, hashed into a Merkle tree."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "audit" in tables:
            raise LedgerFormatError(f"{self.path} is a hash-chain ledger (format 1); sync into a new ledger file "
                                    "(the audit topic, or an export of the old ledger, is the source)")
        self.db.executescript(SCHEMA)
        self.db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")

    def close(self) -> None:
        self.db.close()

    def size(self) -> int:
        """Number of entries: the size of the Merkle tree."""
        return int(self.db.execute("SELECT count(*) FROM entries").fetchone()[0])

    # 1. Appending entries

    def _append(self, kind: EntryKind, body: dict[str, Any], source: Source | None, record: Any = None) -> None:
        """Insert one entry at the end; the caller holds the transaction."""
        # max(seq) is a lookup on the primary key; count(*) would scan the table on every append.
        index = int(self.db.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()[0])
        leaf = entry_leaf_hash(index, kind, body, source).hex()
        columns = {name: body.get(name) for name in EVENT_COLUMNS} if kind == "event" else {}
        self.db.execute(
            "INSERT INTO entries (seq, kind, body, leaf_sha256, event_id, request_id, tenant, stage, decision, subject_id, created_at,"
            " key_id, signature, record_sha256, record, source_topic, source_partition, source_offset)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (index + 1, kind, canonical_json(body).decode("utf-8"), leaf,
             *(columns.get(name) for name in EVENT_COLUMNS),
             None if record is None else canonical_json(record).decode("utf-8"),
             *(source or (None, None, None))),
        )

    def append_event(self, wire: dict[str, Any], source: Source | None = None) -> AppendOutcome:
        """Append the audit event whose wire body is ``wire``, unless its id is there already.

        Returns ``duplicate`` for the same event again (a redelivery: nothing appended) and
        ``replayed`` for a different event under an id already in the ledger (refused).
        The record must match ``record_sha256``; sync checks that and the signature first.
        """
        body = event_body(wire)
        existing = self.db.execute("SELECT body FROM entries WHERE kind = 'event' AND event_id = ?", (body["id"],)).fetchone()
        with self.db:
            if existing is not None:
                outcome: AppendOutcome = "duplicate" if existing[0] == canonical_json(body).decode("utf-8") else "replayed"
            else:
                self._append("event", body, source, wire.get("record"))
                outcome = "appended"
            if source is not None:
                self.mark_read(source, commit=False)
        return outcome

    def record_gap(self, topic: str, partition: int, from_offset: int, to_offset: int, reason: str) -> None:
        """Append a gap entry: offsets ``from_offset`` .. ``to_offset - 1`` of ``topic`` were never read."""
        with self.db:
            self._append("gap", {"topic": topic, "partition": partition, "from_offset": from_offset, "to_offset": to_offset,
                                 "detected_at": utc_iso(), "reason": reason}, None)
            self._set_position(topic, partition, to_offset)

    def erase(self, request_id: str) -> list[str]:
        """Erase the records (prompt, images, scores) of every event of ``request_id``.

        The leaves keep ``record_sha256``, so the tree and every proof stay valid; an erasure
        entry names the erased events. Returns their ids (empty: nothing left to erase).
        """
        ids = [event_id for (event_id,) in self.db.execute(
            "SELECT event_id FROM entries WHERE kind = 'event' AND request_id = ? AND record IS NOT NULL ORDER BY seq", (request_id,))]
        if ids:
            with self.db:
                self.db.executemany("UPDATE entries SET record = NULL WHERE event_id = ?", [(i,) for i in ids])
                self._append("erasure", {"request_id": request_id, "event_ids": ids, "erased_at": utc_iso()}, None)
            self.db.execute("VACUUM")  # the erased text must not linger in free pages
        return ids

    # 2. Read positions of sync

    def mark_read(self, source: Source, commit: bool = True) -> None:
        """Remember that ``source`` (topic, partition, offset) was read, so the next sync starts after it."""
        topic, partition, offset = source
        self._set_position(topic, partition, offset + 1)
        if commit:
            self.db.commit()

    def _set_position(self, topic: str, partition: int, next_offset: int) -> None:
        self.db.execute(
            "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
            (topic, partition, next_offset),
        )

    def positions(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition of ``topic``."""
        return dict(self.db.execute("SELECT partition, next_offset FROM positions WHERE topic = ?", (topic,)).fetchall())

    # 3. Verification

    def verify(self) -> VerifyReport:
        """Re-derive every leaf from its row, check kept records against their digests, and hash the tree."""
        hashes: list[bytes] = []
        counts = {"event": 0, "gap": 0, "erasure": 0}
        erased: set[str] = set()
        erasures: set[str] = set()

        def broken(seq: int, problem: str) -> VerifyReport:
            return VerifyReport(len(hashes), counts["event"], len(erased), counts["gap"], "", seq, f"row {seq}: {problem}", hashes)

        sql = ("SELECT seq, kind, body, leaf_sha256, record, source_topic, source_partition, source_offset, "
               + ", ".join("event_id" if name == "id" else name for name in EVENT_COLUMNS) + " FROM entries ORDER BY seq")
        for seq, kind, body_text, leaf_sha256, record_text, topic, partition, offset, *columns in self.db.execute(sql):
            index = len(hashes)
            if seq != index + 1:
                return broken(seq, f"expected row {index + 1} here (a row was removed, inserted or moved)")
            if kind not in counts:
                return broken(seq, f"unknown entry kind {kind!r}")
            try:
                body = json.loads(body_text)
                source = None if topic is None else (str(topic), int(partition), int(offset))
                digest = entry_leaf_hash(index, kind, body, source)
            except (ValueError, TypeError, CanonicalizationError) as exc:
                return broken(seq, f"the stored entry is not canonical JSON ({exc})")
            if digest.hex() != leaf_sha256:
                return broken(seq, "leaf_sha256 does not match the row (altered)")
            if kind == "event":
                for name, column in zip(EVENT_COLUMNS, columns):
                    if column != body.get(name):
                        return broken(seq, f"column {'event_id' if name == 'id' else name} differs from the signed event (altered)")
                if record_text is None:
                    erased.add(body["id"])
                else:
                    try:
                        record_digest = canonical_sha256(json.loads(record_text))
                    except (ValueError, CanonicalizationError) as exc:
                        return broken(seq, f"the record is not canonical JSON ({exc})")
                    if record_digest != body.get("record_sha256"):
                        return broken(seq, "the record does not match its record_sha256 (altered)")
            elif any(column is not None for column in columns) or record_text is not None:
                return broken(seq, f"a {kind} entry with event columns set (altered)")
            elif kind == "erasure":
                erasures.update(body.get("event_ids", []))
            counts[kind] += 1
            hashes.append(digest)
        unexplained = erased - erasures
        if unexplained:
            seq = self.db.execute("SELECT seq FROM entries WHERE event_id = ?", (min(unexplained),)).fetchone()[0]
            return broken(seq, f"the record of {min(unexplained)} is gone, and no erasure entry names it (deleted)")
        return VerifyReport(len(hashes), counts["event"], len(erased), counts["gap"], root(hashes).hex(), leaf_hashes=hashes)

    def check_signatures(self, trusted: TrustedKeys, allow_unsigned: bool = False) -> SignatureReport:
        """Re-check the worker signature of every event whose record is kept (an erased record
        can no longer be checked: its signature covered the record)."""
        report = SignatureReport()
        for seq, body, record in self.db.execute("SELECT seq, body, record FROM entries WHERE kind = 'event' ORDER BY seq"):
            if record is None:
                report.unchecked += 1
                continue
            outcome = trusted.check({**json.loads(body), "record": json.loads(record)})
            if outcome == "valid":
                report.valid += 1
            elif outcome == "unsigned" and allow_unsigned:
                report.unsigned += 1
            elif report.problem is None:
                report.problem = f"row {seq}: the event's signature check gave {outcome!r} (not appended by a trusted sync)"
        return report

    # 4. Reading

    def entry(self, event_id: str) -> dict[str, Any] | None:
        """The ledger row of one audit event: index, leaf bytes' parts, record (None once erased)."""
        row = self.db.execute("SELECT seq, body, record, source_topic, source_partition, source_offset FROM entries "
                              "WHERE kind = 'event' AND event_id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        seq, body, record, topic, partition, offset = row
        return {"index": seq - 1, "body": json.loads(body), "record": None if record is None else json.loads(record),
                "source": None if topic is None else (topic, partition, offset)}

    def query(self, *, request_id: str | None = None, decision: str | None = None, tenant: str | None = None,
              since: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Audit events matching every given filter, oldest first, with their ledger position and leaf digest."""
        clauses, values = ["kind = 'event'"], []
        for column, value in (("request_id", request_id), ("decision", decision), ("tenant", tenant)):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        if since is not None:
            clauses.append("created_at >= ?")
            values.append(since)
        sql = "SELECT seq, body, record, leaf_sha256 FROM entries WHERE " + " AND ".join(clauses) + " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for seq, body, record, leaf_sha256 in self.db.execute(sql, values):
            event = json.loads(body)
            event["record"] = None if record is None else json.loads(record)
            yield {"seq": seq, "leaf_sha256": leaf_sha256, "erased": record is None, "event": event}

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry, oldest first, as exported: kind, body, record, source, leaf digest."""
        for seq, kind, body, record, leaf_sha256, topic, partition, offset in self.db.execute(
                "SELECT seq, kind, body, record, leaf_sha256, source_topic, source_partition, source_offset FROM entries ORDER BY seq"):
            yield {"seq": seq, "kind": kind, "leaf_sha256": leaf_sha256, "body": json.loads(body),
                   "record": None if record is None else json.loads(record),
                   "source": None if topic is None else {"topic": topic, "partition": partition, "offset": offset}}
