"""The ``swerve`` command line: run the broker and workers, submit and watch events.

Every command reads ``SWERVE_*`` settings from the environment (see ``streams/settings.py``);
``SWERVE_KAFKA_BOOTSTRAP`` points them all at a real Kafka cluster.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from swerve.cli import audit as audit_commands
from swerve.cli import calibrate as calibrate_command
from swerve.cli import dlq as dlq_commands
from swerve.cli import evaluate as evaluate_commands
from swerve.cli import evaluate_correct, evaluate_detect, evaluate_gie_maps, evaluate_tradeoff
from swerve.cli import gateway as gateway_commands
from swerve.cli import gie as gie_commands
from swerve.cli import index as index_commands
from swerve.cli import review as review_commands
from swerve.cli import toyworld as toyworld_commands
from swerve.streams.settings import Settings

app = typer.Typer(
    name="swerve",
    help=(
        "swerve: streaming moderation for image generators. Detectors score every generated image; "
        "a flagged one is regenerated, steered away from the problem, re-checked and delivered. "
        "Start with `swerve broker` (a local Kafka-compatible broker), then `swerve worker`, "
        "then `swerve submit` an image and `swerve tail delivery` to see the outcome."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
topics_app = typer.Typer(help="Manage swerve's Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(dlq_commands.app, name="dlq")
app.add_typer(gateway_commands.app, name="gateway")
app.command(name="calibrate")(calibrate_command.calibrate)
app.add_typer(index_commands.app, name="index")
app.add_typer(review_commands.app, name="review")
app.add_typer(gie_commands.app, name="gie")
app.add_typer(toyworld_commands.app, name="toyworld")
evaluate_commands.app.command(name="detect")(evaluate_detect.detect)
evaluate_commands.app.command(name="correct")(evaluate_correct.correct)
evaluate_commands.app.command(name="gie-maps")(evaluate_gie_maps.gie_maps)
evaluate_commands.app.command(name="tradeoff")(evaluate_tradeoff.tradeoff)
app.add_typer(evaluate_commands.app, name="eval")


@app.command()
def broker(
    port: int = typer.Option(0, help="Port to listen on; 0 picks a free one."),
    host: str = typer.Option("127.0.0.1", help="Loopback address to bind."),
) -> None:
    """Run the embedded development broker (Tansu, in memory only) until Ctrl-C or SIGTERM.

    Prints the bootstrap address; export it as SWERVE_KAFKA_BOOTSTRAP for workers and the CLI.
    """
    from swerve.streams.embedded_broker import EmbeddedBroker

    class StopRequested(Exception):
        """Raised from the signal handler to interrupt the wait; the broker stops in `finally`."""

    def request_stop(signum: int, _frame: object) -> None:
        raise StopRequested(signal.Signals(signum).name)

    # Handlers first: a signal that arrives while the broker starts must still stop it cleanly.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    embedded = EmbeddedBroker(host=host, port=port or None)
    try:
        embedded.start()
        typer.echo(f"broker listening on {embedded.bootstrap}")
        typer.echo(f"export SWERVE_KAFKA_BOOTSTRAP={embedded.bootstrap}")
        sys.stdout.flush()
        code = embedded.wait()
    except StopRequested as stop:
        embedded.stop()
        typer.echo(f"broker stopped ({stop})")
        raise typer.Exit(0) from None
    finally:
        embedded.stop()
    typer.echo(f"broker exited unexpectedly with code {code}", err=True)
    raise typer.Exit(code or 1)


@app.command()
def worker(
    role: str = typer.Option("all", help="screen: score prompts before generation; detect: score generated images; correct: regenerate flagged ones; all: every role."),
    policy: Optional[Path] = typer.Option(None, help="Policy YAML (overrides SWERVE_POLICY_PATH). None passes everything."),
    metrics_port: Optional[int] = typer.Option(None, help="Serve Prometheus /metrics on this port."),
    loglevel: str = typer.Option("info", help="Log level."),
    log_format: str = typer.Option("json", help="json: one JSON object per line (for log pipelines); text: faust's console format."),
) -> None:
    """Run a stream worker. Stops cleanly on Ctrl-C or SIGTERM, committing only acknowledged work."""
    from swerve.errors import ConfigurationError
    from swerve.streams import exit_codes
    from swerve.streams.worker import run_worker

    if role not in ("screen", "detect", "correct", "all"):
        raise typer.BadParameter(f"role must be screen, detect, correct or all, got {role!r}")
    settings = Settings.from_env()
    if policy is not None:
        settings = settings.model_copy(update={"policy_path": policy})
    sys.argv = [sys.argv[0]]  # faust's Worker parses argv; ours are already consumed
    if log_format not in ("json", "text"):
        raise typer.BadParameter(f"log format must be json or text, got {log_format!r}")
    try:
        run_worker(settings, role, loglevel=loglevel, metrics_port=metrics_port, json_logs=log_format == "json")  # type: ignore[arg-type]
    except ConfigurationError as exc:
        typer.echo(f"swerve worker cannot start: {exc}", err=True)
        raise typer.Exit(exit_codes.CONFIGURATION) from None


@app.command()
def submit(
    image: Path = typer.Argument(..., exists=True, dir_okay=False, help="The generated image file (PNG, JPEG or WebP)."),
    prompt: str = typer.Option(..., help="The prompt that produced the image."),
    seed: Optional[int] = typer.Option(None, help="The seed that produced the image."),
    request_id: Optional[str] = typer.Option(None, help="Request id (Kafka key); a new one by default."),
    tenant: str = typer.Option("default", help="Tenant, for per-tenant policy rules."),
    model_id: Optional[str] = typer.Option(None, help="The generator model's id."),
) -> None:
    """Publish one generation event to swerve.generations, as a generator would."""
    from swerve.media import ImageRef, ImageStore
    from swerve.streams.topic_io import publish_events
    from swerve.streams.events import GenerationEvent
    from swerve.streams.ids import derive_id

    settings = Settings.from_env()
    ref = ImageRef.from_bytes(image.read_bytes(), limits=settings.media, store=ImageStore(settings.image_store_uri))
    request = request_id or str(uuid.uuid4())
    event = GenerationEvent(
        id=derive_id(request, "generation"), request_id=request, tenant=tenant,
        prompt=prompt, seed=seed, model_id=model_id, image=ref,
    )
    asyncio.run(publish_events(settings, "generations", [event]))
    typer.echo(f"submitted request {request} (event {event.id}, image {'inline' if ref.is_inline else ref.uri})")


@app.command()
def tail(
    topic: str = typer.Argument(..., help="Topic, short (delivery) or full (swerve.delivery)."),
    from_beginning: bool = typer.Option(True, help="Start at the oldest message (else only new ones)."),
    max_records: Optional[int] = typer.Option(None, "--max", help="Stop after this many messages."),
    idle: float = typer.Option(3.0, help="Stop after this many seconds without a message."),
) -> None:
    """Print a topic's messages as JSON lines: position, headers and the decoded event."""
    from swerve.streams.topic_io import dumps, read_topic
    from swerve.streams.topics import TopicNames

    settings = Settings.from_env()
    full = TopicNames(settings.topic_prefix).resolve(topic)

    async def run() -> None:
        async for record in read_topic(settings, full, from_beginning=from_beginning, idle_timeout_s=idle, max_records=max_records):
            typer.echo(dumps(record.as_json(settings.topic_prefix)))

    asyncio.run(run())


@app.command()
def replay(
    into: str = typer.Option(..., help="Topic prefix to write the replayed outcomes to (never the live prefix)."),
    source: str = typer.Option("generations", help="generations, or flagged (its events carry their generation)."),
    policy: Optional[Path] = typer.Option(None, help="Policy to judge under (default: SWERVE_POLICY_PATH, else pass everything)."),
    from_offset: Optional[int] = typer.Option(None, help="First offset, in every partition."),
    to_offset: Optional[int] = typer.Option(None, help="Stop before this offset, in every partition."),
    from_time: Optional[datetime] = typer.Option(None, help="First message at or after this time (ISO 8601)."),
    to_time: Optional[datetime] = typer.Option(None, help="Stop at the first message at or after this time."),
) -> None:
    """Re-judge past generations under the current policy into a separate topic set (idempotent)."""
    from swerve.streams.policy import PASS_EVERYTHING, load_policy
    from swerve.streams.replay import ReplayRange, replay as run_replay

    settings = Settings.from_env()
    path = policy or settings.policy_path
    chosen = load_policy(path) if path else PASS_EVERYTHING
    span = ReplayRange(from_offset, to_offset, from_time, to_time)
    report = asyncio.run(run_replay(settings, chosen, source, into, span))
    typer.echo(
        f"read {report.read}, replayed {report.replayed}, skipped {report.skipped_invalid} invalid; "
        f"decisions {report.decisions}; outcomes in {into}.* under policy {chosen.full_version}"
    )


@topics_app.command("create")
def topics_create() -> None:
    """Create every swerve topic (idempotent), with SWERVE_WORKER_TOPIC_PARTITIONS partitions."""
    from swerve.streams.admin import ensure_topics

    for name, status in asyncio.run(ensure_topics(Settings.from_env())).items():
        typer.echo(f"{status:8} {name}")


@topics_app.command("list")
def topics_list() -> None:
    """List swerve's topic names under the configured prefix."""
    from swerve.streams.topics import TopicNames

    for name in TopicNames(Settings.from_env().topic_prefix).all():
        typer.echo(name)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
