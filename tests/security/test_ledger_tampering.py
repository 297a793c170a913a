"""Given a signed checkpoint kept out of reach, when someone who can write the ledger file
truncates, edits, reorders, inserts or rewrites it, then `swerve audit verify --checkpoint` fails
and says what failed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from swerve.audit.ledger import AuditLedger

from ..audit.builders import audit_events, key_pair, signed_wires
from .ledgers import rewrite, signed_ledger


def test_given_an_untouched_ledger_then_verify_with_its_checkpoint_passes(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")
    result = ledger.verify(checkpoint)
    assert result.exit_code == 0, result.output
    assert "intact: 5 rows" in result.output and "first 5 rows match its root" in result.output


def test_given_the_last_row_deleted_then_plain_verify_cannot_tell_but_the_checkpoint_can(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")
    with sqlite3.connect(ledger.path) as db:
        db.execute("DELETE FROM entries WHERE seq = (SELECT max(seq) FROM entries)")
    assert ledger.verify().exit_code == 0, "without a checkpoint, a shorter ledger looks whole"
    result = ledger.verify(checkpoint)
    assert result.exit_code == 1 and "truncation" in result.output and "4 rows, fewer than the 5" in result.output


def test_given_a_column_edited_then_plain_verify_names_the_row(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    for column, value in (("decision", "'pass'"), ("tenant", "'other'"), ("created_at", "'1999-01-01T00:00:00Z'")):
        with sqlite3.connect(ledger.path) as db:
            original = db.execute(f"SELECT {column} FROM entries WHERE seq = 3").fetchone()[0]
            db.execute(f"UPDATE entries SET {column} = {value} WHERE seq = 3")
        result = ledger.verify()
        assert result.exit_code == 1 and f"row 3: column {column} differs" in result.output, result.output
        with sqlite3.connect(ledger.path) as db:
            db.execute(f"UPDATE entries SET {column} = ? WHERE seq = 3", (original,))
    assert ledger.verify().exit_code == 0


def test_given_a_rewritten_ledger_with_an_edited_decision_then_only_the_checkpoint_catches_it(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")

    def unblock(wires: list[dict]) -> list[dict]:
        return [{**body, "decision": "pass"} if body["decision"] == "correct" else body for body in wires]

    rewrite(ledger.path, unblock)
    assert ledger.verify().exit_code == 0, "every leaf was recomputed: the file alone is consistent"
    result = ledger.verify(checkpoint)
    assert result.exit_code == 1 and "no longer hash to the checkpoint's root" in result.output


def test_given_two_rows_swapped_then_the_checkpoint_fails(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")
    rewrite(ledger.path, lambda wires: [wires[1], wires[0], *wires[2:]])
    result = ledger.verify(checkpoint)
    assert result.exit_code == 1 and "reordered" in result.output


def test_given_rows_swapped_in_place_then_plain_verify_finds_them(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    with sqlite3.connect(ledger.path) as db:
        db.execute("UPDATE entries SET seq = -1 WHERE seq = 1")
        db.execute("UPDATE entries SET seq = 1 WHERE seq = 2")
        db.execute("UPDATE entries SET seq = 2 WHERE seq = -1")
    result = ledger.verify()
    assert result.exit_code == 1 and "row 1: leaf_sha256 does not match" in result.output


def test_given_a_signed_event_inserted_before_the_checkpoint_then_the_checkpoint_fails(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")
    [late] = signed_wires(audit_events(1, prefix="late"), ledger.signer)
    rewrite(ledger.path, lambda wires: [late, *wires])
    result = ledger.verify(checkpoint)
    assert result.exit_code == 1 and "inserted" in result.output


def test_given_an_edited_checkpoint_then_its_signature_fails(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")
    edited = json.loads(checkpoint.read_text())
    with sqlite3.connect(ledger.path) as db:
        db.execute("DELETE FROM entries WHERE seq = 5")
    edited["size"] = 4
    edited["root_sha256"] = AuditLedger(ledger.path).verify().root_sha256
    checkpoint.write_text(json.dumps(edited))
    result = ledger.verify(checkpoint)
    assert result.exit_code == 1 and "signature does not verify" in result.output


def test_given_a_checkpoint_by_an_untrusted_key_then_it_is_refused(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    _, stranger_public = key_pair(tmp_path / "stranger")
    checkpoint = ledger.checkpoint("cp")
    result = ledger.cli("verify", "--checkpoint", str(checkpoint), "--trusted-key", str(stranger_public))
    assert result.exit_code == 1 and "is not trusted" in result.output


def test_given_a_broken_ledger_then_no_checkpoint_is_signed(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    with sqlite3.connect(ledger.path) as db:
        db.execute("UPDATE entries SET tenant = 'other' WHERE seq = 2")
    result = ledger.cli("checkpoint", "--out", str(tmp_path / "cp.json"), "--key", str(ledger.checkpoint_key))
    assert result.exit_code == 1 and "refusing to sign" in result.output and not (tmp_path / "cp.json").exists()


def test_given_an_unsigned_row_appended_after_the_checkpoint_then_the_signature_check_catches_it(tmp_path: Path) -> None:
    # Given: a checkpoint, then someone who can write the file appends a well-formed unsigned event
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")
    book = AuditLedger(ledger.path)
    book.append_event(json.loads(audit_events(1, prefix="fake")[0].model_dump_json()))
    book.close()
    # Then: the tree and the old checkpoint cannot tell (the row is after it)...
    assert ledger.verify(checkpoint).exit_code == 0
    # ...but re-checking worker signatures can, and no new checkpoint is signed over it
    result = ledger.cli("verify", "--signatures", "--trusted-key", str(ledger.worker_public))
    assert result.exit_code == 1 and "row 6: the event's signature check gave 'unsigned'" in result.output
    refused = ledger.cli("checkpoint", "--out", str(tmp_path / "next.json"), "--key", str(ledger.checkpoint_key),
                         "--trusted-key", str(ledger.worker_public))
    assert refused.exit_code == 1 and "refusing to sign a checkpoint" in refused.output


def test_given_a_genuine_ledger_with_an_erasure_then_signatures_verify_and_the_erased_row_is_unchecked(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    assert ledger.cli("erase", "--request-id", "ar1").exit_code == 0
    result = ledger.cli("verify", "--signatures", "--trusted-key", str(ledger.worker_public))
    assert result.exit_code == 0 and "signatures: 4 valid, 0 unsigned, 1 not checkable (erased)" in result.output
