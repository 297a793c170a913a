"""`swerve audit`: the compliance view of every decision, from a hash-chained ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from swerve.streams.settings import Settings

app = typer.Typer(help="Audit the decision log: sync it from Kafka into a hash-chained ledger, verify, query, export.", no_args_is_help=True)

LEDGER_OPTION = typer.Option(None, "--ledger", help="Ledger file (SQLite); default: $SWERVE_DATA_DIR/audit.sqlite.")


def open_ledger(path: Optional[Path]):  # type: ignore[no-untyped-def]
    from swerve.streams.audit_ledger import AuditLedger

    return AuditLedger(path or Settings.from_env().data_dir / "audit.sqlite")


@app.command()
def sync(ledger: Optional[Path] = LEDGER_OPTION, idle: float = typer.Option(2.0, help="Stop after this many idle seconds.")) -> None:
    """Append new events from the audit topic to the ledger (idempotent; resumes where it stopped)."""
    from swerve.streams.audit_sync import run_sync

    book = open_ledger(ledger)
    appended, rejected = run_sync(Settings.from_env(), book, idle)
    typer.echo(f"appended {appended} audit events, rejected {rejected} undecodable; head {book.head()}")
    book.close()


@app.command()
def verify(ledger: Optional[Path] = LEDGER_OPTION) -> None:
    """Recompute every record digest and the hash chain. Exits 1 at the first altered row."""
    book = open_ledger(ledger)
    report = book.verify()
    book.close()
    if report.intact:
        typer.echo(f"intact: {report.rows} rows, chain verified")
        return
    typer.echo(f"BROKEN: {report.problem}", err=True)
    raise typer.Exit(1)


@app.command()
def query(
    ledger: Optional[Path] = LEDGER_OPTION,
    request_id: Optional[str] = typer.Option(None, help="Only this request."),
    decision: Optional[str] = typer.Option(None, help="Only this decision (pass, correct, block, replaced, blocked)."),
    tenant: Optional[str] = typer.Option(None, help="Only this tenant."),
    since: Optional[str] = typer.Option(None, help="ISO time; only decisions at or after it."),
    limit: Optional[int] = typer.Option(None, help="At most this many rows."),
) -> None:
    """Print matching decisions as JSON lines (oldest first), with ledger position and chain digest."""
    book = open_ledger(ledger)
    for row in book.query(request_id=request_id, decision=decision, tenant=tenant, since=since, limit=limit):
        typer.echo(json.dumps(row, ensure_ascii=False))
    book.close()


@app.command()
def export(out: Path = typer.Argument(..., help="JSONL file to write."), ledger: Optional[Path] = LEDGER_OPTION) -> None:
    """Export the whole ledger as JSON lines, after verifying it (refuses to export a broken chain)."""
    book = open_ledger(ledger)
    report = book.verify()
    if not report.intact:
        typer.echo(f"refusing to export: {report.problem}", err=True)
        raise typer.Exit(1)
    with out.open("w", encoding="utf-8") as handle:
        for row in book.query():
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    typer.echo(f"exported {report.rows} rows to {out}; head {book.head()}")
    book.close()
