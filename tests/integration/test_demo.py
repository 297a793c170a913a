"""`make demo` end to end, as a new user runs it: a fresh working folder, the embedded defaults,
the topic path, the SDK and the HTTP gateway, every outcome delivered (exit 0), and one request
left waiting on the review page (not at a terminal, the demo then stops)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def test_demo_delivers_every_outcome_through_every_door(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SWERVE_")}
    done = subprocess.run([sys.executable, "-m", "swerve.cli.demo"], cwd=tmp_path, env={**env, "COLUMNS": "200"},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    doors = done.stdout.split("through the front doors", 1)[1]
    sdk_row = next(line for line in doors.splitlines() if line.startswith("│ SDK"))
    gateway_row = next(line for line in doors.splitlines() if line.startswith("│ gateway"))
    assert "replacement" in sdk_row and "replacement" in gateway_row
    assert "rejected" in done.stdout  # the malformed message, dead-lettered with its reason
    # one memorized image left for a person, and where to review it
    assert "waits for review" in done.stdout and "/review/" in done.stdout
    [run] = list((tmp_path / ".swerve" / "demo").iterdir())
    assert (run / "contact_sheet.png").is_file() and (run / "gateway-keys.yaml").is_file()
