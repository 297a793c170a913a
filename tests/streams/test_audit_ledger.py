"""The audit ledger: appended once per event, hash-chained, and any later alteration is detected."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from swerve.media import ImageRef
from swerve.streams.audit_ledger import AuditLedger
from swerve.streams.detect_stage import DecodedGeneration, detect
from swerve.streams.events import AuditEvent, GenerationEvent
from swerve.streams.judging import Judge
from swerve.streams.policy import parse_policy

from .builders import tiny_png


def audit_events(count: int) -> list[AuditEvent]:
    from PIL import Image
    import io

    batch = []
    for index in range(count):
        data = tiny_png((index, 10, 10))
        event = GenerationEvent(id=f"g{index}", request_id=f"r{index}", tenant="acme" if index % 2 else "default",
                                prompt="p", image=ImageRef.from_bytes(data))
        batch.append(DecodedGeneration(event, Image.open(io.BytesIO(data)).convert("RGB")))
    return [outputs[-1].event for outputs in detect(Judge(), parse_policy('version: "a"'), batch)]  # type: ignore[misc]


def test_given_events_appended_twice_then_each_is_stored_once_and_the_chain_verifies(tmp_path: Path) -> None:
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    events = audit_events(4)
    assert [ledger.append(e, ("swerve.audit", 0, i)) for i, e in enumerate(events)] == [True] * 4
    assert ledger.append(events[0], ("swerve.audit", 0, 4)) is False, "redelivery is recognized by id"
    report = ledger.verify()
    assert report.intact and report.rows == 4
    assert ledger.positions("swerve.audit") == {0: 5}


def test_given_queries_then_filters_apply(tmp_path: Path) -> None:
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    for event in audit_events(4):
        ledger.append(event)
    assert [row["event"]["request_id"] for row in ledger.query(tenant="acme")] == ["r1", "r3"]
    assert [row["event"]["request_id"] for row in ledger.query(request_id="r2")] == ["r2"]
    assert len(list(ledger.query(decision="pass", limit=3))) == 3


def tamper(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql)


def test_given_an_altered_record_then_verify_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    ledger = AuditLedger(path)
    for event in audit_events(3):
        ledger.append(event)
    tamper(path, "UPDATE audit SET body = replace(body, '\"decision\":\"pass\"', '\"decision\":\"block\"') WHERE seq = 2")
    report = AuditLedger(path).verify()
    assert not report.intact and report.first_broken_seq == 2 and "altered" in report.problem


def test_given_a_removed_row_then_the_chain_breaks_at_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    ledger = AuditLedger(path)
    for event in audit_events(3):
        ledger.append(event)
    tamper(path, "DELETE FROM audit WHERE seq = 2")
    report = AuditLedger(path).verify()
    assert not report.intact and report.first_broken_seq == 3 and "chain broken" in report.problem
