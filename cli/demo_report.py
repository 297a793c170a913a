"""`make demo`'s report: every request's outcome, on the topic path and through the front doors,
and a contact sheet of each original beside its replacement."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.table import Table

from swerve.cli.demo_front_doors import FrontDoorOutcome
from swerve.media import decode_image
from swerve.streams.events import DeliveryEvent, GenerationEvent, ReplacementEvent
from swerve.streams.settings import Settings

__all__ = ["DemoOutcomes", "print_outcomes"]

Sample = tuple[str, int, Image.Image]  # caption, seed, image


@dataclass(frozen=True)
class DemoOutcomes:
    """What the demo sent and what came back."""

    samples: list[tuple[str, GenerationEvent, Image.Image]]  # (kind, event, image) on the topic path
    deliveries: dict[str, DeliveryEvent]
    replacements: dict[str, ReplacementEvent]
    letters: dict[str, dict[str, str]]  # dead letters by key
    front_doors: list[tuple[FrontDoorOutcome, Sample]]

    def failed(self) -> bool:
        """A topic-path request without its outcome, or a front door that did not replace its memorized image."""
        missing = [event.request_id for _, event, _ in self.samples if event.request_id not in self.deliveries]
        return bool(missing) or any(door.outcome != "replacement" for door, _ in self.front_doors)


def print_outcomes(console: Console, settings: Settings, outcomes: DemoOutcomes, run_dir: Path) -> None:
    """Print both tables and save the contact sheet into ``run_dir``."""
    table = Table(title="swerve outcomes (toy world)")
    for column in ("request", "kind", "prompt", "outcome", "how"):
        table.add_column(column)
    rows = []
    for kind, event, image in outcomes.samples:
        delivery = outcomes.deliveries.get(event.request_id)
        replacement = outcomes.replacements.get(event.request_id)
        if delivery is None:
            table.add_row(event.request_id, kind, event.prompt, "[red]missing[/]", "")
            continue
        how = delivery.reason or ""
        if replacement is not None:
            how = f"{replacement.method} after {replacement.attempts} attempt(s); was: {delivery.reason}"
            rows.append((f"{kind}: {event.prompt[:40]}", image, decode_image(replacement.image, settings.media)))
        table.add_row(event.request_id, kind, event.prompt, delivery.outcome, how[:90])
    for key, letter in outcomes.letters.items():
        rejected = outcomes.deliveries.get(key)
        where = (f" (dead letter {rejected.dead_letter.topic}/{rejected.dead_letter.partition}@{rejected.dead_letter.offset})"
                 if rejected and rejected.dead_letter else "")
        outcome = rejected.outcome if rejected is not None else "dead-lettered"
        table.add_row(key, "malformed", "", outcome, f"{letter['error_class']}: {letter['error_message'][:50]}{where}")
    console.print(table)
    doors = Table(title="the same, through the front doors")
    for column in ("door", "request", "prompt", "outcome", "seconds"):
        doors.add_column(column)
    for door, (caption, _seed, original) in outcomes.front_doors:
        doors.add_row(door.door, door.request_id, caption, door.outcome, f"{door.seconds:.1f}")
        if door.image is not None and door.outcome == "replacement":
            rows.append((f"{door.door.split()[0]}: {caption[:40]}", original, door.image))
    console.print(doors)
    if rows:
        from swerve.evaluation.contact_sheet import SheetRow, render_rows

        sheet = run_dir / "contact_sheet.png"
        render_rows([SheetRow(label, (original, replaced)) for label, original, replaced in rows], title="original | replacement").save(sheet)
        console.print(f"[bold]8.[/] contact sheet of original vs replacement: {sheet}")
