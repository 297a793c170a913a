"""`swerve dlq`: list dead letters, and redrive chosen ones to the topic they came from.

A thin CLI over ``streams/redrive.py``: it parses the selection, prints JSON lines, and turns
named errors into exit codes. It must never hold redrive logic of its own.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Coroutine, List, Optional

import typer

from swerve.errors import ConfigurationError
from swerve.streams.settings import Settings

if TYPE_CHECKING:
    from swerve.streams.redrive import DeadLetterSelection

app = typer.Typer(
    help="Inspect the dead-letter queue (<prefix>.dlq) and re-publish chosen dead letters to their origin topic.",
    no_args_is_help=True,
)

FROM_OFFSET = typer.Option(None, "--from-offset", min=0, help="First DLQ offset, in every partition (or only in --partition).")
TO_OFFSET = typer.Option(None, "--to-offset", min=0, help="Stop before this DLQ offset (exclusive).")
PARTITION = typer.Option(None, "--partition", min=0, help="Only this DLQ partition.")
ERROR_CLASS = typer.Option(None, "--error-class", help="Only this swerve_dlq_error_class, e.g. SchemaViolationError. Repeatable.")
STAGE = typer.Option(None, "--stage", help="Only this swerve_dlq_stage: decode, detect, correct, screen. Repeatable.")


def selection_of(
    from_offset: Optional[int], to_offset: Optional[int], partition: Optional[int],
    error_class: Optional[List[str]], stage: Optional[List[str]],
) -> DeadLetterSelection:
    from swerve.streams.redrive import DeadLetterSelection

    return DeadLetterSelection(from_offset, to_offset, partition, frozenset(error_class or ()), frozenset(stage or ()))


def run_or_exit(work: Coroutine[object, object, None]) -> None:
    """Run ``work``; a refusal exits 2 and an unfinished read exits 1, each with its reason."""
    try:
        asyncio.run(work)
    except ConfigurationError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    except TimeoutError as exc:
        typer.echo(f"failed, nothing was sent: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("list")
def list_dead_letters(
    from_offset: Optional[int] = FROM_OFFSET,
    to_offset: Optional[int] = TO_OFFSET,
    partition: Optional[int] = PARTITION,
    error_class: Optional[List[str]] = ERROR_CLASS,
    stage: Optional[List[str]] = STAGE,
) -> None:
    """Print dead letters as JSON lines: position, origin, error class, stage, message, request key."""
    from swerve.streams.topic_io import dumps
    from swerve.streams.redrive import iter_dead_letters

    settings = Settings.from_env()
    chosen = selection_of(from_offset, to_offset, partition, error_class, stage)

    async def run() -> None:
        async for letter in iter_dead_letters(settings, chosen):
            typer.echo(dumps(letter.as_json()))

    run_or_exit(run())


@app.command()
def redrive(
    from_offset: Optional[int] = FROM_OFFSET,
    to_offset: Optional[int] = TO_OFFSET,
    partition: Optional[int] = PARTITION,
    error_class: Optional[List[str]] = ERROR_CLASS,
    stage: Optional[List[str]] = STAGE,
    everything: bool = typer.Option(False, "--all", help="Choose every dead letter; needed when no filter is given."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be sent, and send nothing."),
) -> None:
    """Re-publish chosen dead letters to their origin topic, once.

    Each goes back with its original key, value and headers, minus the swerve_dlq_* headers, plus swerve_redriven_from=<dlq topic>/<partition>/<offset>.

    Dead letters that such a header in the origin topic already names are skipped, so a second run sends nothing new. Waits for every broker acknowledgement.

    Prints one JSON line per chosen dead letter (sent, would_send, already_redriven, skipped), and a summary on stderr.
    """
    from swerve.streams.topic_io import dumps
    from swerve.streams.redrive import redrive as run_redrive

    settings = Settings.from_env()
    chosen = selection_of(from_offset, to_offset, partition, error_class, stage)
    if chosen.chooses_everything != everything:
        raise typer.BadParameter(
            "--all cannot be combined with filters" if everything
            else "choose dead letters with --from-offset/--to-offset/--partition, --error-class or --stage, or pass --all"
        )

    async def run() -> None:
        report = await run_redrive(settings, chosen, dry_run=dry_run)
        for item in report.planned:
            typer.echo(dumps({"action": "would_send" if dry_run else "sent", **item.as_json()}))
        for letter in report.already_redriven:
            typer.echo(dumps({"action": "already_redriven", "from": letter.position}))
        for skipped in report.skipped:
            typer.echo(dumps({"action": "skipped", "from": skipped.letter.position, "reason": skipped.reason}))
        typer.echo(report.summary(), err=True)

    run_or_exit(run())
