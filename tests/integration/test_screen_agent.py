"""Given prompts on swerve.prompts, when a `--role screen` worker runs Wen's detector, then each
prompt gets a screened decision with token attributions, and a malformed one lands in the DLQ."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swerve.streams.topic_io import collect, dlq_reason, publish_events, publish_raw
from swerve.streams.envelope import EncodedEvent, encode
from swerve.streams.events import PromptEvent, ScreenedPromptEvent
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def screen_policy(path: Path, model_dir: Path, threshold: float) -> Path:
    path.write_text(f"""version: "screen-it"
prompt_detectors:
  - name: wen
    kind: prompt_memorization
    on_flag: correct
    params: {{model_dir: "{model_dir}", threshold: {threshold}, num_inference_steps: 5}}
""", encoding="utf-8")
    return path


def prompt(index: int, text: str) -> PromptEvent:
    return PromptEvent(id=f"prompt-{index}", request_id=f"screen-{index}", prompt=text, seed=index)


def test_screen_worker_judges_prompts_over_the_broker_and_dead_letters_bad_ones(
        settings: Settings, start_worker, tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    topics = TopicNames(settings.topic_prefix)
    # Given: a screen worker whose policy flags every prompt (threshold 0), and two good prompts + one bad
    policy = screen_policy(tmp_path / "screen.yaml", tiny_pipeline_dir, threshold=0.0)
    worker = start_worker("screen", SWERVE_POLICY_PATH=str(policy))
    good = [prompt(1, "a red star"), prompt(2, "a large blue circle")]
    header = encode(good[0]).headers
    asyncio.run(publish_events(settings, "prompts", good))
    asyncio.run(publish_raw(settings, topics.resolve("prompts"), [EncodedEvent(b"bad-prompt", b'{"id": 1', header)]))

    def screened() -> list[ScreenedPromptEvent]:
        records = asyncio.run(collect(settings, topics.prompts_screened, idle_timeout_s=1.0))
        return [e for e in (r.decoded(settings.topic_prefix) for r in records) if isinstance(e, ScreenedPromptEvent)]

    # Then: both good prompts are screened, flagged for correction, with one attribution per token
    assert wait_until(lambda: len(screened()) >= 2, timeout_s=150), worker.log_tail()
    by_request = {event.request_id: event for event in screened()}
    assert set(by_request) == {"screen-1", "screen-2"}
    red_star = by_request["screen-1"]
    assert red_star.decision == "correct" and red_star.scores[0].detector == "wen"
    assert [a.token.removesuffix("</w>") for a in red_star.attributions] == ["a", "red", "star"]
    # ... the malformed one is in the DLQ with its reason, and the worker is still up
    dead = asyncio.run(collect(settings, topics.dlq, idle_timeout_s=1.0))
    assert [dlq_reason(r)["error_class"] for r in dead if r.key == b"bad-prompt"] == ["MalformedEventError"]
    assert worker.alive, worker.log_tail()
