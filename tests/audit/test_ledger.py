"""The audit ledger: each event appended once, every column covered by its leaf, erasure kept provable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from swerve.audit.ledger import AuditLedger
from swerve.errors import LedgerFormatError

from .builders import audit_events, key_pair, signed_wires, wire


def filled(path: Path, count: int = 4) -> AuditLedger:
    signer, _ = key_pair(path.parent / "keys")
    ledger = AuditLedger(path)
    for index, body in enumerate(signed_wires(audit_events(count), signer)):
        assert ledger.append_event(body, ("swerve.audit", 0, index)) == "appended"
    return ledger


def tamper(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql)


def test_given_events_appended_twice_then_each_is_stored_once_and_the_ledger_verifies(tmp_path: Path) -> None:
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    events = [wire(e) for e in audit_events(4)]
    assert [ledger.append_event(e, ("swerve.audit", 0, i)) for i, e in enumerate(events)] == ["appended"] * 4
    assert ledger.append_event(events[0], ("swerve.audit", 0, 4)) == "duplicate", "redelivery is recognized by id"
    report = ledger.verify()
    assert report.intact and report.rows == 4 and report.events == 4 and len(report.root_sha256) == 64
    assert ledger.positions("swerve.audit") == {0: 5}


def test_given_the_same_id_with_other_content_then_it_is_a_replay_and_not_appended(tmp_path: Path) -> None:
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    original = wire(audit_events(1)[0])
    ledger.append_event(original)
    assert ledger.append_event({**original, "decision": "block"}) == "replayed"
    assert ledger.size() == 1 and next(ledger.query())["event"]["decision"] == original["decision"]


def test_given_queries_then_filters_apply(tmp_path: Path) -> None:
    ledger = filled(tmp_path / "audit.sqlite")
    assert [row["event"]["request_id"] for row in ledger.query(tenant="acme")] == ["r1", "r3"]
    assert [row["event"]["request_id"] for row in ledger.query(request_id="r2")] == ["r2"]
    assert [row["event"]["request_id"] for row in ledger.query(decision="correct")] == ["r2"]
    assert len(list(ledger.query(decision="pass", limit=2))) == 2


def test_given_an_altered_record_then_verify_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    filled(path, 3).close()
    tamper(path, "UPDATE entries SET record = replace(record, '\"decision\":\"pass\"', '\"decision\":\"block\"') WHERE seq = 2")
    report = AuditLedger(path).verify()
    assert not report.intact and report.first_broken_seq == 2 and "record does not match" in (report.problem or "")


@pytest.mark.parametrize("column, value", [("decision", "'block'"), ("tenant", "'other'"), ("created_at", "'2000-01-01T00:00:00Z'"),
                                           ("request_id", "'r9'"), ("key_id", "NULL"), ("source_offset", "99")])
def test_given_an_edited_column_then_verify_names_the_row(tmp_path: Path, column: str, value: str) -> None:
    path = tmp_path / "audit.sqlite"
    filled(path, 3).close()
    tamper(path, f"UPDATE entries SET {column} = {value} WHERE seq = 2")
    report = AuditLedger(path).verify()
    assert not report.intact and report.first_broken_seq == 2, report.problem


def test_given_a_removed_middle_row_then_verify_finds_the_hole(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    filled(path, 3).close()
    tamper(path, "DELETE FROM entries WHERE seq = 2")
    report = AuditLedger(path).verify()
    assert not report.intact and report.first_broken_seq == 3 and "removed" in (report.problem or "")


def test_given_an_erased_request_then_its_records_are_gone_and_the_root_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    ledger = filled(path, 4)
    before = ledger.verify()
    assert b"a prompt 2" in path.read_bytes(), "r2 was flagged: its record carries the generation"
    erased = ledger.erase("r2")
    assert erased == [row["event"]["id"] for row in ledger.query(request_id="r2")] and len(erased) == 1
    after = ledger.verify()
    assert after.intact and after.erased == 1 and after.rows == before.rows + 1, "an erasure entry was appended"
    assert after.leaf_hashes[: before.rows] == before.leaf_hashes, "the leaves of the events are unchanged"
    [row] = ledger.query(request_id="r2")
    assert row["erased"] and row["event"]["record"] is None and row["event"]["record_sha256"]
    assert b"a prompt 2" not in path.read_bytes(), "the prompt is gone from the file, free pages included"
    assert ledger.erase("r2") == [], "nothing left to erase"


def test_given_a_record_deleted_without_an_erasure_entry_then_verify_fails(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    filled(path, 3).close()
    tamper(path, "UPDATE entries SET record = NULL WHERE seq = 2")
    report = AuditLedger(path).verify()
    assert not report.intact and "no erasure entry" in (report.problem or "")


def test_given_a_hash_chain_ledger_then_opening_it_says_so(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    tamper(path, "CREATE TABLE audit (seq INTEGER PRIMARY KEY, chain_sha256 TEXT)")
    with pytest.raises(LedgerFormatError, match="hash-chain ledger"):
        AuditLedger(path)
