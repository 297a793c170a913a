"""Given an erased request, then its prompt and images are gone, verify stays green and reports
the count, and proofs made before and after still verify."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .ledgers import run_verification_script, signed_ledger


def test_given_an_erased_request_then_verify_reports_it_and_checkpoints_and_proofs_still_hold(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path, count=4)
    before = ledger.checkpoint("before")
    # ar2 was flagged for correction: its record carries the generation, prompt and image reference
    [before_row] = [json.loads(line) for line in ledger.cli("query", "--request-id", "ar2").output.splitlines()]
    image_sha256 = before_row["event"]["record"]["outputs"][0]["body"]["image_sha256"].encode()
    assert b"a prompt 2" in ledger.path.read_bytes() and image_sha256 in ledger.path.read_bytes()

    # When: request ar2 is erased
    erased = ledger.cli("erase", "--request-id", "ar2")
    assert erased.exit_code == 0 and "erased the records of 1 events of request ar2" in erased.output

    # Then: its record is gone from the file, the ledger verifies, and says how many rows are erased
    assert b"a prompt 2" not in ledger.path.read_bytes() and image_sha256 not in ledger.path.read_bytes()
    result = ledger.verify(before)
    assert result.exit_code == 0 and "1 erased" in result.output and "5 rows" in result.output, result.output
    [row] = [json.loads(line) for line in ledger.cli("query", "--request-id", "ar2").output.splitlines()]
    assert row["erased"] and row["event"]["record"] is None and row["event"]["decision"] == "correct"

    # And: the erased event is still provable, against the old checkpoint and a new one
    for checkpoint in (before, ledger.checkpoint("after")):
        proof = json.loads(ledger.prove(row["event"]["id"], checkpoint).output)
        assert run_verification_script(tmp_path, proof, ledger.checkpoint_public).returncode == 0


def test_given_a_record_blanked_without_erase_then_verify_fails(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path, count=3)
    with sqlite3.connect(ledger.path) as db:
        db.execute("UPDATE entries SET record = NULL WHERE request_id = 'ar1'")
    result = ledger.verify()
    assert result.exit_code == 1 and "no erasure entry names it" in result.output
