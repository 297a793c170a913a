"""`swerve review`: the human review queue from a terminal: list what waits, decide, export labels.

A thin CLI over ``streams/review_ledger.py`` (the same checks the gateway makes) and
``streams/review_labels.py``. Exit codes: 0 done; 1 a decision refused because another one
settled the request first (the first decision is printed); 2 any other refusal (no such item,
no candidate to approve, a reserved reviewer name, a missing topic).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from swerve.cli.reported_errors import reported_errors
from swerve.streams.settings import Settings

if TYPE_CHECKING:
    from swerve.media import ImageRef
    from swerve.streams.events import ReviewItemEvent

app = typer.Typer(
    help="The human review queue: items held for a person (<prefix>.review) and their decisions (<prefix>.review.decisions).",
    no_args_is_help=True,
)

DECISIONS = ("approve_original", "approve_replacement", "block")
TENANT = typer.Option(None, "--tenant", help="Only this tenant's items.")


def image_summary(ref: ImageRef) -> dict[str, Any]:
    return {"sha256": ref.sha256, "media_type": ref.media_type, "width": ref.width, "height": ref.height, "uri": ref.uri, "inline": ref.is_inline}


def item_summary(item: ReviewItemEvent) -> dict[str, Any]:
    """What a reviewer needs to see of one item, as one JSON object."""
    candidate = item.candidate
    return {
        "request_id": item.request_id,
        "tenant": item.tenant,
        "item_id": item.id,
        "route": item.route,
        "waiting_since": item.waiting_since.isoformat(),
        "deadline": item.deadline.isoformat(),
        "policy_version": item.policy_version,
        "prompt": item.generation.prompt,
        "seed": item.generation.seed,
        "reasons": item.verdict.reasons,
        "scores": [s.model_dump(mode="json", include={"detector", "status", "value", "threshold", "flagged", "action"}) for s in item.verdict.scores],
        "original": image_summary(item.generation.image),
        "candidate": None if candidate is None else {
            **image_summary(candidate.image), "attempt": candidate.attempt, "method": candidate.method, "reasons": candidate.verdict.reasons,
        },
        "correction_reasons": item.correction_reasons,
    }


@app.command("list")
def list_pending(tenant: Optional[str] = TENANT) -> None:
    """Print the items waiting for a person as JSON lines, oldest first."""
    from swerve.streams.review_ledger import ReviewLedger

    with reported_errors():
        ledger = asyncio.run(ReviewLedger.read(Settings.from_env()))
    pending = ledger.pending(tenant)
    for item in pending:
        typer.echo(json.dumps(item_summary(item), ensure_ascii=False))
    typer.echo(f"{len(pending)} item(s) pending review" + (f" for tenant {tenant!r}" if tenant else ""), err=True)


@app.command("decide")
def decide(
    request_id: str = typer.Argument(..., help="The request under review."),
    decision: str = typer.Option(..., "--decision", help="approve_original, approve_replacement (only with a candidate) or block."),
    reviewer: str = typer.Option(..., "--reviewer", help="Who decides; recorded in the delivery's reason and the audit log."),
    note: str = typer.Option("", "--note", help="Why; recorded with the decision."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Decide only if the item belongs to this tenant."),
) -> None:
    """Publish a decision on a pending item, then read the log back: print it as accepted, or the
    refusal with the first decision when another one settled the request first (exit 1)."""
    from swerve.errors import AlreadyDecidedError
    from swerve.streams.review_ledger import ReviewLedger

    if decision not in DECISIONS:
        raise typer.BadParameter(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    settings = Settings.from_env()
    with reported_errors():
        try:
            ledger = asyncio.run(ReviewLedger.read(settings))
            event = ledger.decision(request_id, decision, reviewer=reviewer, note=note, tenant=tenant)  # type: ignore[arg-type]
            receipt = asyncio.run(ledger.submit(event))
            refused = receipt.refusal()
        except AlreadyDecidedError as exc:
            refused = exc
        if refused is not None:
            typer.echo(json.dumps({
                "status": "refused", "request_id": request_id, "reason": str(refused),
                "first_decision": {"decision": refused.first_decision, "reviewer": refused.first_reviewer,
                                   "decided_at": refused.first_decided_at, "id": refused.first_decision_id},
            }, ensure_ascii=False))
            raise typer.Exit(1)
    typer.echo(json.dumps({
        "status": "accepted", "request_id": request_id, "decision": decision, "reviewer": reviewer, "id": receipt.decision.id,
        "partition": receipt.partition, "offset": receipt.offset,
    }, ensure_ascii=False))


@app.command("export")
def export(
    output: Path = typer.Option(..., "--output", dir_okay=False, help="JSONL file to write; `swerve calibrate` reads it."),
    tenant: Optional[str] = TENANT,
) -> None:
    """Write the items people decided as labeled examples: the detectors' scores on the original and
    the label (1: block or approve_replacement, the flag was right; 0: approve_original, it was wrong)."""
    from swerve.streams.review_labels import labeled_examples
    from swerve.streams.review_ledger import ReviewLedger

    with reported_errors():
        ledger = asyncio.run(ReviewLedger.read(Settings.from_env()))
    decided = ledger.decided(tenant)
    examples = list(labeled_examples(decided))
    output.write_text("".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples), encoding="utf-8")
    typer.echo(f"wrote {len(examples)} labeled example(s) to {output}; {len(decided) - len(examples)} decided by the timeout, left out", err=True)
