"""The CLI as an operator uses it: `swerve broker` starts and stops on SIGTERM; `swerve submit`
publishes a generation that a worker delivers; `swerve tail` prints it decoded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from swerve.streams.embedded_broker import free_port

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SWERVE = [sys.executable, "-m", "swerve.cli.main"]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_broker_command_prints_its_address_and_stops_cleanly_on_a_signal(stop_signal: signal.Signals) -> None:
    port = free_port()
    process = subprocess.Popen([*SWERVE, "broker", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first_line = process.stdout.readline()
    assert first_line.strip() == f"broker listening on 127.0.0.1:{port}"
    process.send_signal(stop_signal)
    assert process.wait(timeout=20) == 0
    assert "broker stopped" in process.stdout.read()


def test_submit_then_tail_shows_the_delivered_outcome(swerve_env: dict[str, str], settings, start_worker, tmp_path: Path) -> None:
    image = tmp_path / "out.png"
    Image.new("RGB", (16, 16), (10, 200, 30)).save(image)
    env = {**os.environ, **swerve_env}
    start_worker()
    submitted = subprocess.run([*SWERVE, "submit", str(image), "--prompt", "a green square", "--seed", "4", "--request-id", "cli-1"],
                               env=env, capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    assert "submitted request cli-1" in submitted.stdout

    def tail() -> list[dict]:
        done = subprocess.run([*SWERVE, "tail", "delivery", "--idle", "1"], env=env, capture_output=True, text=True, timeout=60)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    assert wait_until(lambda: len(tail()) >= 1, timeout_s=60)
    [record] = tail()
    assert record["event"]["request_id"] == "cli-1"
    assert record["event"]["outcome"] == "original"
    assert record["headers"]["ce_type"] == "dev.swerve.delivery.v1"
