"""Given signed checkpoints, then `swerve audit prove` output verifies with the script in
docs/security.md alone, and later checkpoints are consistent with earlier ones."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from swerve.audit.ledger import AuditLedger
from swerve.audit.merkle import consistency_proof, verify_consistency

from .ledgers import rewrite, run_verification_script, signed_ledger


def test_given_a_proof_then_the_documented_script_verifies_it_without_the_ledger(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path, count=7)
    checkpoint = ledger.checkpoint("cp")
    for event_id in ledger.event_ids():
        result = ledger.prove(event_id, checkpoint)
        assert result.exit_code == 0, result.output
        proof = json.loads(result.output)
        assert proof["tree_size"] == 7 and proof["checkpoint"] == json.loads(checkpoint.read_text())
        verified = run_verification_script(tmp_path, proof, ledger.checkpoint_public)
        assert verified.returncode == 0 and f"VERIFIED: event {event_id}" in verified.stdout, verified.stderr


def test_given_a_proof_with_an_edited_leaf_then_the_documented_script_refuses_it(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path)
    checkpoint = ledger.checkpoint("cp")
    proof = json.loads(ledger.prove(ledger.event_ids()[2], checkpoint).output)
    proof["leaf"] = proof["leaf"].replace('"decision":"correct"', '"decision":"pass"')
    verified = run_verification_script(tmp_path, proof, ledger.checkpoint_public)
    assert verified.returncode != 0 and "NOT VERIFIED: the leaf is not in the tree" in verified.stderr
    proof = json.loads(ledger.prove(ledger.event_ids()[2], checkpoint).output)
    verified = run_verification_script(tmp_path, proof, ledger.worker_public)
    assert verified.returncode != 0 and "names another key" in verified.stderr


def test_given_an_event_after_the_checkpoint_then_prove_asks_for_a_newer_one(tmp_path: Path) -> None:
    ledger = signed_ledger(tmp_path, count=2)
    checkpoint = ledger.checkpoint("cp")
    ledger.append(1, "b")
    result = ledger.prove(ledger.event_ids()[-1], checkpoint)
    assert result.exit_code == 1 and "make a newer checkpoint" in result.output


def test_given_two_checkpoints_then_the_later_tree_is_consistent_with_the_earlier(tmp_path: Path) -> None:
    # Given: a checkpoint at 3 rows, 4 more rows, a checkpoint at 7
    ledger = signed_ledger(tmp_path, count=3)
    first = ledger.checkpoint("first")
    ledger.append(4, "b")
    second = ledger.checkpoint("second")
    # Then: both verify against the ledger, and an RFC 6962 consistency proof links their roots
    result = ledger.verify(first, second)
    assert result.exit_code == 0 and result.output.count("signature valid") == 2, result.output
    old, new = json.loads(first.read_text()), json.loads(second.read_text())
    hashes = AuditLedger(ledger.path).verify().leaf_hashes
    proof = consistency_proof(old["size"], hashes)
    assert verify_consistency(old["size"], new["size"], bytes.fromhex(old["root_sha256"]), bytes.fromhex(new["root_sha256"]), proof)


def test_given_a_history_forked_after_a_checkpoint_then_the_old_checkpoint_fails(tmp_path: Path) -> None:
    # Given: a checkpoint, then the early rows rewritten and a new checkpoint signed over the fork
    ledger = signed_ledger(tmp_path, count=4)
    first = ledger.checkpoint("first")
    rewrite(ledger.path, lambda wires: [wires[0], wires[2], wires[1], wires[3]])
    ledger.append(2, "b")
    second = ledger.checkpoint("second")
    # Then: the new checkpoint alone passes, but together with the old one the fork shows
    assert ledger.verify(second).exit_code == 0
    result = ledger.verify(first, second)
    assert result.exit_code == 1 and "CHECKPOINT FAILED" in result.output and "first.json" in result.output
    with sqlite3.connect(ledger.path) as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 6
