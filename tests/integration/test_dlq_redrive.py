"""Given dead letters in the DLQ, when ops redrive chosen ones, then exactly those go back to
their origin topic, once, with their original bytes and a ``swerve_redriven_from`` header; and the
CLI does the same, and refuses what it must not do."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from swerve.errors import MalformedEventError, SchemaViolationError
from swerve.cli.main import app
from swerve.streams.topic_io import ConsumedRecord, collect, dlq_reason, publish_events, publish_raw
from swerve.streams.dead_letters import Origin, dead_letter
from swerve.streams.envelope import EncodedEvent, encode
from swerve.streams.redrive import REDRIVEN_FROM, DeadLetterSelection, redrive
from swerve.streams.settings import Settings
from swerve.streams.topics import TopicNames

from .builders import generation
from .conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

runner = CliRunner()


def schema_broken(index: int) -> EncodedEvent:
    """A generation with its real headers whose body is valid JSON, but ``prompt`` is a number."""
    good = encode(generation(index, "redrive"))
    body = json.loads(good.value)
    body["prompt"] = 3
    return EncodedEvent(good.key, json.dumps(body).encode(), good.headers)


def not_json(index: int) -> EncodedEvent:
    """A generation with its real headers whose body is cut short: not JSON."""
    good = encode(generation(index, "redrive"))
    return EncodedEvent(good.key, b'{"id": "cut short', good.headers)


def position(record: ConsumedRecord) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


def header(record: ConsumedRecord, name: str) -> str | None:
    values = [raw.decode() for key, raw in record.headers if key == name]
    return values[-1] if values else None


def dead_letters(settings: Settings, at_least: int | None = None) -> list[ConsumedRecord]:
    """The DLQ's records; with ``at_least``, keep reading (up to a deadline) until that many are there."""
    topic = TopicNames(settings.topic_prefix).dlq
    return asyncio.run(collect(settings, topic, until_count=at_least, deadline_s=15, idle_timeout_s=0.5))


def copies(settings: Settings, expected_total: int) -> list[ConsumedRecord]:
    """The redriven messages in the generations topic, read once ``expected_total`` records are there."""
    topic = TopicNames(settings.topic_prefix).generations
    records = asyncio.run(collect(settings, topic, until_count=expected_total, deadline_s=15, idle_timeout_s=1.0))
    return [record for record in records if header(record, REDRIVEN_FROM) is not None]


def test_given_dead_letters_when_redriven_by_class_and_by_range_then_each_chosen_one_returns_once(settings: Settings, start_worker) -> None:
    topics = TopicNames(settings.topic_prefix)
    broken = [schema_broken(10 + i) for i in range(2)]
    unparsable = [not_json(20 + i) for i in range(2)]
    sent_by_key = {message.key: message for message in [*broken, *unparsable]}
    originals = len(sent_by_key) + 3

    # Given a worker that dead-letters two schema violations and two unparsable messages among good generations
    worker = start_worker()
    asyncio.run(publish_raw(settings, topics.generations, [*broken, *unparsable]))
    asyncio.run(publish_events(settings, "generations", [generation(i, "redrive") for i in range(3)]))
    assert wait_until(lambda: len(dead_letters(settings)) >= 4, timeout_s=60), worker.log_tail()
    # ... then stopped, so that nothing consumes the copies while they are counted
    worker.stop()
    letters = dead_letters(settings, at_least=4)
    classes = {position(r): dlq_reason(r)["error_class"] for r in letters}
    schema_positions = sorted(p for p, c in classes.items() if c == "SchemaViolationError")
    assert sorted(classes.values()) == ["MalformedEventError"] * 2 + ["SchemaViolationError"] * 2

    # When a dry run chooses the schema violations, then it plans both and sends nothing
    by_class = DeadLetterSelection(error_classes=frozenset({"SchemaViolationError"}))
    dry = asyncio.run(redrive(settings, by_class, dry_run=True))
    assert sorted(letter.position for letter in dry.chosen) == schema_positions
    assert sorted(item.letter.position for item in dry.planned) == schema_positions
    assert dry.republished == () and dry.already_redriven == () and dry.skipped == ()
    assert copies(settings, originals) == []

    # When it runs for real, then exactly those two are back in the origin topic: original key, value
    # and headers, no swerve_dlq_* header, and the DLQ position they came from
    first = asyncio.run(redrive(settings, by_class))
    assert sorted(item.letter.position for item in first.republished) == schema_positions
    back = copies(settings, originals + 2)
    assert sorted(header(r, REDRIVEN_FROM) or "" for r in back) == schema_positions
    for record in back:
        sent = sent_by_key[record.key or b""]
        assert record.value == sent.value
        assert [(name, raw) for name, raw in record.headers if name != REDRIVEN_FROM] == sent.headers

    # When the same redrive runs again, then it sends nothing new
    second = asyncio.run(redrive(settings, by_class))
    assert second.republished == ()
    assert sorted(letter.position for letter in second.already_redriven) == schema_positions
    assert len(copies(settings, originals + 2)) == 2

    # When an offset range is chosen (the first offset of every DLQ partition), then only that range
    # is chosen, and of it only what was not redriven yet is sent
    in_range = sorted(p for p in classes if p.endswith("/0"))
    ranged = asyncio.run(redrive(settings, DeadLetterSelection(from_offset=0, to_offset=1)))
    assert sorted(letter.position for letter in ranged.chosen) == in_range
    assert sorted(letter.position for letter in ranged.already_redriven) == [p for p in in_range if p in schema_positions]
    newly_sent = sorted(item.letter.position for item in ranged.republished)
    assert newly_sent == [p for p in in_range if p not in schema_positions]
    assert len(copies(settings, originals + 2 + len(newly_sent))) == 2 + len(newly_sent)

    # When the cause is not fixed and a worker runs again, then the copies fail again at new DLQ
    # positions, naming where they were redriven from, and a further redrive sends those (only)
    worker = start_worker()

    def failed_again() -> list[ConsumedRecord]:
        return [r for r in dead_letters(settings) if header(r, REDRIVEN_FROM) in schema_positions]

    assert wait_until(lambda: len(failed_again()) >= 2, timeout_s=60), worker.log_tail()
    again = asyncio.run(redrive(settings, by_class))
    assert sorted(item.letter.position for item in again.republished) == sorted(position(r) for r in failed_again())
    assert sorted(letter.position for letter in again.already_redriven) == schema_positions


def test_given_seeded_dead_letters_when_the_cli_redrives_then_it_lists_sends_once_and_refuses_what_it_must(
    settings: Settings, swerve_env: dict[str, str],
) -> None:
    topics = TopicNames(settings.topic_prefix)
    broken = schema_broken(30)
    letters = [
        dead_letter(Origin(topics.generations, 0, 11), broken.key, broken.value, broken.headers, SchemaViolationError("prompt is not a string"), "decode"),
        dead_letter(Origin(topics.generations, 0, 12), b"cli-2", b"{", [], MalformedEventError("not JSON"), "decode"),
    ]
    asyncio.run(publish_raw(settings, topics.dlq, letters))

    # Given the help, then it names the selection and the dry run
    helped = runner.invoke(app, ["dlq", "redrive", "--help"])
    assert helped.exit_code == 0
    for option in ("--from-offset", "--to-offset", "--partition", "--error-class", "--stage", "--dry-run", "--all"):
        assert option in helped.output

    # When listing by error class, then one JSON line says where the dead letter is, came from, and why
    listed = runner.invoke(app, ["dlq", "list", "--error-class", "SchemaViolationError"], env=swerve_env)
    assert listed.exit_code == 0, listed.output
    [line] = [json.loads(text) for text in listed.stdout.splitlines()]
    assert line["origin"] == f"{topics.generations}/0/11"
    assert (line["error_class"], line["stage"], line["request_key"]) == ("SchemaViolationError", "decode", broken.key.decode())
    assert line["message"] == "prompt is not a string"

    # When redriving it, then it is sent once; a second run finds it already redriven
    sent = runner.invoke(app, ["dlq", "redrive", "--error-class", "SchemaViolationError"], env=swerve_env)
    assert sent.exit_code == 0, sent.output
    [action] = [json.loads(text) for text in sent.stdout.splitlines()]
    assert (action["action"], action["from"], action["to"]) == ("sent", line["position"], topics.generations)
    assert "republished 1" in sent.stderr
    [copy] = copies(settings, 1)
    assert (copy.key, copy.value, header(copy, REDRIVEN_FROM)) == (broken.key, broken.value, line["position"])
    repeated = runner.invoke(app, ["dlq", "redrive", "--error-class", "SchemaViolationError"], env=swerve_env)
    assert repeated.exit_code == 0, repeated.output
    assert "republished 0, already redriven 1" in repeated.stderr

    # When a chosen dead letter came from a topic outside this prefix, then nothing is sent and the refusal says why
    foreign = dead_letter(Origin("elsewhere.generations", 0, 1), b"cli-3", b"{}", [], MalformedEventError("x"), "decode")
    asyncio.run(publish_raw(settings, topics.dlq, [foreign]))
    refused = runner.invoke(app, ["dlq", "redrive", "--error-class", "MalformedEventError"], env=swerve_env)
    assert refused.exit_code == 2
    assert "not a swerve topic" in refused.stderr and "elsewhere.generations" in refused.stderr
    assert len(copies(settings, 1)) == 1

    # When no dead letters are chosen at all, then it asks for a filter or --all instead of sending everything
    unfiltered = runner.invoke(app, ["dlq", "redrive"], env=swerve_env)
    assert unfiltered.exit_code == 2
    assert "--all" in unfiltered.output
