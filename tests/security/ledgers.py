"""A signed ledger on disk, the `swerve audit` CLI in-process, and an attacker who can write the file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from typer.testing import CliRunner, Result

from swerve.audit.ledger import AuditLedger
from swerve.audit.signing import AuditSigner
from swerve.cli.main import app

from ..audit.builders import audit_events, key_pair, signed_wires

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


@dataclass
class SignedLedger:
    """A ledger of worker-signed events, the worker's key, and a separate checkpoint key."""

    path: Path
    signer: AuditSigner
    worker_public: Path
    checkpoint_key: Path
    checkpoint_public: Path

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(app, ["audit", *args, "--ledger", str(self.path)])

    def append(self, count: int, prefix: str) -> None:
        ledger = AuditLedger(self.path)
        for body in signed_wires(audit_events(count, prefix=prefix), self.signer):
            assert ledger.append_event(body) == "appended"
        ledger.close()

    def checkpoint(self, name: str) -> Path:
        out = self.path.parent / f"{name}.json"
        result = self.cli("checkpoint", "--out", str(out), "--key", str(self.checkpoint_key))
        assert result.exit_code == 0, result.output
        return out

    def verify(self, *checkpoints: Path) -> Result:
        args = ["verify"]
        for checkpoint in checkpoints:
            args += ["--checkpoint", str(checkpoint)]
        return self.cli(*args, "--trusted-key", str(self.checkpoint_public))

    def prove(self, event_id: str, checkpoint: Path) -> Result:
        return self.cli("prove", event_id, "--checkpoint", str(checkpoint), "--trusted-key", str(self.checkpoint_public))

    def event_ids(self) -> list[str]:
        ledger = AuditLedger(self.path)
        ids = [row["event"]["id"] for row in ledger.query()]
        ledger.close()
        return ids


def signed_ledger(tmp_path: Path, count: int = 5) -> SignedLedger:
    signer, worker_public = key_pair(tmp_path / "worker-keys")
    checkpoint_signer, checkpoint_public = key_pair(tmp_path / "checkpoint-keys")
    made = SignedLedger(tmp_path / "audit.sqlite", signer, worker_public, tmp_path / "checkpoint-keys" / "audit.key", checkpoint_public)
    made.append(count, "a")
    return made


def rewrite(path: Path, mutate: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """The strongest attacker without a key: rebuild the whole file from edited events, every leaf recomputed."""
    ledger = AuditLedger(path)
    wires = [row["event"] for row in ledger.query()]
    ledger.close()
    path.unlink()
    rebuilt = AuditLedger(path)
    for body in mutate(wires):
        rebuilt.append_event(body)
    rebuilt.close()


def verification_script() -> str:
    """The Python block of docs/security.md that third parties run to check a proof."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Verifying an inclusion proof"):]
    [code] = re.findall(r"```python\n(.*?)```", section, flags=re.S)[:1]
    return code


def run_verification_script(tmp_path: Path, proof: dict[str, Any], public_key: Path) -> subprocess.CompletedProcess[str]:
    script, proof_path = tmp_path / "verify_audit_proof.py", tmp_path / "proof.json"
    script.write_text(verification_script(), encoding="utf-8")
    proof_path.write_text(json.dumps(proof), encoding="utf-8")
    # -I: isolated mode (no working directory or PYTHONPATH on the path), as an auditor would run it.
    return subprocess.run([sys.executable, "-I", str(script), str(proof_path), str(public_key)], capture_output=True, text=True, timeout=60)
