"""Given a ledger position that retention overtook, then sync records the skipped offsets as a gap
in the ledger and reports it; it never moves its position silently.

The embedded broker (Tansu) does not implement DeleteRecords and keeps everything in memory, so
its log start never moves: these tests stand in for the consumer's offset look-ups instead."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from swerve.audit.ledger import AuditLedger
from swerve.audit.sync import SyncReport, _check_retention
from swerve.errors import AuditError


class PartitionBounds:
    """Stands in for the consumer's offset look-ups: a partition whose log starts at ``start``."""

    def __init__(self, start: int, end: int):
        self.start, self.end = start, end

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.start for tp in tps}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.end for tp in tps}


def test_given_a_position_below_the_log_start_then_the_gap_is_recorded_reported_and_verifiable(tmp_path: Path) -> None:
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    ledger.mark_read(("t.audit", 1, 4))  # the ledger read up to offset 4; next is 5
    report = SyncReport()
    # When: retention has deleted everything before offset 12
    resume = asyncio.run(_check_retention(PartitionBounds(12, 20), ledger, TopicPartition("t.audit", 1), 5, report))  # type: ignore[arg-type]
    # Then: sync resumes at 12, and says that 5..11 were never read
    assert resume == 12 and not report.clean
    assert any("GAP: t.audit[1] offsets 5..11" in line for line in report.lines())
    [gap] = [entry for entry in ledger.entries() if entry["kind"] == "gap"]
    assert (gap["body"]["from_offset"], gap["body"]["to_offset"], gap["body"]["partition"]) == (5, 12, 1)
    assert ledger.positions("t.audit") == {1: 12}
    verified = ledger.verify()
    assert verified.intact and verified.gaps == 1


def test_given_a_position_within_the_log_then_nothing_is_recorded(tmp_path: Path) -> None:
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    report = SyncReport()
    assert asyncio.run(_check_retention(PartitionBounds(0, 9), ledger, TopicPartition("t.audit", 0), 3, report)) == 3  # type: ignore[arg-type]
    assert report.clean and ledger.size() == 0


def test_given_a_position_past_the_end_then_sync_stops_instead_of_guessing(tmp_path: Path) -> None:
    ledger = AuditLedger(tmp_path / "audit.sqlite")
    with pytest.raises(AuditError, match="past the partition's end"):
        asyncio.run(_check_retention(PartitionBounds(0, 3), ledger, TopicPartition("t.audit", 0), 7, SyncReport(),  # type: ignore[arg-type]
                                     out_of_range=True))
    assert ledger.size() == 0
