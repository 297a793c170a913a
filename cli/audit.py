"""`swerve audit`: the compliance view of every decision, from a signed, Merkle-tree ledger.

The ledger, signatures and proofs are ``swerve.audit``; this module only parses options,
prints, and chooses exit codes (0: all verified; 1: something failed verification or was
refused; 2: bad usage, from typer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from swerve.streams.settings import Settings

app = typer.Typer(help="Audit the decision log: sync it from Kafka into a signed Merkle-tree ledger, verify, prove, query, export, erase.",
                  no_args_is_help=True)

LEDGER_OPTION = typer.Option(None, "--ledger", help="Ledger file (SQLite); default: $SWERVE_DATA_DIR/audit.sqlite.")
TRUSTED_OPTION = typer.Option(None, "--trusted-key", help="Trusted Ed25519 public key (PEM or 32 raw bytes), or a directory of "
                                                          "*.pem/*.pub; repeatable; default: $SWERVE_AUDIT_TRUSTED_KEYS_DIR.")
CHECKPOINT_OPTION = typer.Option(None, "--checkpoint", help="A signed checkpoint (JSON) from `swerve audit checkpoint`; repeatable.")


def open_ledger(path: Optional[Path]):  # type: ignore[no-untyped-def]
    from swerve.audit.ledger import AuditLedger

    return AuditLedger(path or Settings.from_env().data_dir / "audit.sqlite")


def trusted_keys(paths: Optional[List[Path]]):  # type: ignore[no-untyped-def]
    from swerve.audit.signing import TrustedKeys

    configured = Settings.from_env().audit.trusted_keys_dir
    return TrustedKeys.from_paths(list(paths or ([configured] if configured else [])))


def fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


@app.command()
def sync(
    ledger: Optional[Path] = LEDGER_OPTION,
    idle: float = typer.Option(2.0, help="Stop after this many idle seconds."),
    trusted_key: Optional[List[Path]] = TRUSTED_OPTION,
    allow_unsigned: bool = typer.Option(False, "--allow-unsigned", help="Also append unsigned events (workers without a signing key)."),
) -> None:
    """Append new, trusted events from the audit topic (idempotent; resumes where it stopped).

    Exits 1 when an event was refused (undecodable, unsigned, untrusted key, forged, replayed)
    or offsets were lost to retention (a gap, recorded in the ledger).
    """
    from swerve.audit.sync import run_sync

    keys = trusted_keys(trusted_key)
    if not len(keys) and not allow_unsigned:
        fail("no trusted audit keys: set SWERVE_AUDIT_TRUSTED_KEYS_DIR or give --trusted-key (or --allow-unsigned)")
    book = open_ledger(ledger)
    try:
        report = run_sync(Settings.from_env(), book, keys, allow_unsigned, idle)
        typer.echo("\n".join(report.lines()) + f"; ledger size {book.size()}")
    finally:
        book.close()
    if not report.clean:
        raise typer.Exit(1)


@app.command()
def verify(
    ledger: Optional[Path] = LEDGER_OPTION,
    checkpoint: Optional[List[Path]] = CHECKPOINT_OPTION,
    trusted_key: Optional[List[Path]] = TRUSTED_OPTION,
    signatures: bool = typer.Option(False, "--signatures", help="Also re-check the worker signature of every kept record."),
    allow_unsigned: bool = typer.Option(False, "--allow-unsigned", help="With --signatures: unsigned events are counted, not failed."),
) -> None:
    """Re-derive every row's leaf and record digest, hash the tree, and check each checkpoint.

    With --checkpoint: its signature (by a trusted key), that the ledger's first SIZE rows still
    hash to its root (truncation, rewriting, reordering, insertion), and that the current tree
    is consistent with it. With --signatures: that trusted keys signed every event whose record
    is kept (catches rows added after the last checkpoint by someone without a key).
    Exits 1 naming what failed.
    """
    from swerve.audit.checkpoint import check_checkpoint

    book = open_ledger(ledger)
    report = book.verify()
    signed = book.check_signatures(trusted_keys(trusted_key), allow_unsigned) if signatures and report.intact else None
    book.close()
    if not report.intact:
        fail(f"BROKEN: {report.problem}")
    typer.echo(f"intact: {report.rows} rows ({report.events} events, {report.erased} erased, {report.gaps} gaps), root {report.root_sha256}")
    if signed is not None:
        if signed.problem:
            fail(f"SIGNATURE FAILED: {signed.problem}")
        typer.echo(f"signatures: {signed.valid} valid, {signed.unsigned} unsigned, {signed.unchecked} not checkable (erased)")
    if report.gaps:
        typer.echo(f"warning: {report.gaps} gap entries: audit events were lost to retention before sync read them", err=True)
    if not checkpoint:
        return
    keys = trusted_keys(trusted_key)
    for path in checkpoint:
        check = check_checkpoint(load_json(path), report, keys)
        if not check.ok:
            fail(f"CHECKPOINT FAILED ({path}): {check.problem}")
        typer.echo(f"checkpoint {path}: signature valid, first {check.size} rows match its root, "
                   f"the {check.ledger_rows}-row tree is consistent with it")


@app.command()
def checkpoint(
    out: Path = typer.Option(..., "--out", help="Where to write the signed checkpoint (JSON)."),
    key: Optional[Path] = typer.Option(None, "--key", help="Ed25519 private key (PEM or 32-byte seed); default: $SWERVE_AUDIT_SIGNING_KEY_PATH."),
    ledger: Optional[Path] = LEDGER_OPTION,
    trusted_key: Optional[List[Path]] = TRUSTED_OPTION,
    allow_unsigned: bool = typer.Option(False, "--allow-unsigned", help="Sign over unsigned events too."),
) -> None:
    """Sign the ledger's current tree head (size, root, time, key id).

    Refuses a ledger that does not verify, and, when trusted keys are configured or given, one
    holding a kept event that they did not sign.
    """
    from swerve.audit.checkpoint import make_checkpoint
    from swerve.audit.signing import AuditSigner

    key_path = key or Settings.from_env().audit.signing_key_path
    if key_path is None:
        fail("no signing key: give --key or set SWERVE_AUDIT_SIGNING_KEY_PATH")
    assert key_path is not None
    keys = trusted_keys(trusted_key)
    book = open_ledger(ledger)
    if len(keys):
        problem = book.check_signatures(keys, allow_unsigned).problem
        if problem:
            book.close()
            fail(f"refusing to sign a checkpoint: {problem}")
    else:
        typer.echo("warning: no trusted keys given: the events' signatures were not re-checked", err=True)
    try:
        head = make_checkpoint(book, AuditSigner.from_file(key_path))
    except ValueError as exc:
        fail(str(exc))
    finally:
        book.close()
    out.write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"checkpoint of {head['size']} rows, root {head['root_sha256']}, key {head['key_id']} written to {out}")


@app.command()
def prove(
    event_id: str = typer.Argument(..., help="The audit event to prove."),
    checkpoint: Path = typer.Option(..., "--checkpoint", help="The signed checkpoint to prove inclusion in."),
    ledger: Optional[Path] = LEDGER_OPTION,
    trusted_key: Optional[List[Path]] = TRUSTED_OPTION,
) -> None:
    """Print an inclusion proof (leaf, index, tree size, path, checkpoint) that a third party can
    verify without the ledger (docs/security.md)."""
    from swerve.audit.checkpoint import check_checkpoint, prove_inclusion

    head = load_json(checkpoint)
    book = open_ledger(ledger)
    try:
        report = book.verify()
        if not report.intact:
            fail(f"BROKEN: {report.problem}")
        check = check_checkpoint(head, report, trusted_keys(trusted_key))
        if not check.ok:
            fail(f"CHECKPOINT FAILED ({checkpoint}): {check.problem}")
        try:
            proof = prove_inclusion(book, report, event_id, head)
        except LookupError as exc:
            fail(str(exc))
    finally:
        book.close()
    typer.echo(json.dumps(proof, indent=2))


@app.command()
def erase(request_id: str = typer.Option(..., "--request-id", help="The request whose records to erase."),
          ledger: Optional[Path] = LEDGER_OPTION) -> None:
    """Erase the records (prompt, images, scores) of a request's events; digests, proofs and an erasure entry remain."""
    book = open_ledger(ledger)
    try:
        erased = book.erase(request_id)
    finally:
        book.close()
    typer.echo(f"erased the records of {len(erased)} events of request {request_id}" + (f": {', '.join(erased)}" if erased else ""))


@app.command()
def keygen(out_dir: Path = typer.Argument(..., help="Directory for <name>.key (private, 0600) and <name>.pem (public)."),
           name: str = typer.Option("audit", help="File name stem.")) -> None:
    """Make an Ed25519 key pair for signing audit events and checkpoints."""
    from swerve.audit.signing import AuditSigner, generate_key_pair

    private, public = generate_key_pair(out_dir, name)
    typer.echo(f"private key {private} (give it to workers as SWERVE_AUDIT_SIGNING_KEY_PATH); public key {public} "
               f"(put it in SWERVE_AUDIT_TRUSTED_KEYS_DIR); key id {AuditSigner.from_file(private).key_id}")


@app.command()
def query(
    ledger: Optional[Path] = LEDGER_OPTION,
    request_id: Optional[str] = typer.Option(None, help="Only this request."),
    decision: Optional[str] = typer.Option(None, help="Only this decision (pass, correct, block, replaced, blocked)."),
    tenant: Optional[str] = typer.Option(None, help="Only this tenant."),
    since: Optional[str] = typer.Option(None, help="ISO time; only decisions at or after it."),
    limit: Optional[int] = typer.Option(None, help="At most this many rows."),
) -> None:
    """Print matching decisions as JSON lines (oldest first), with ledger position and leaf digest."""
    book = open_ledger(ledger)
    for row in book.query(request_id=request_id, decision=decision, tenant=tenant, since=since, limit=limit):
        typer.echo(json.dumps(row, ensure_ascii=False))
    book.close()


@app.command()
def export(out: Path = typer.Argument(..., help="JSONL file to write."), ledger: Optional[Path] = LEDGER_OPTION) -> None:
    """Export every ledger entry as JSON lines, after verifying it (refuses to export a broken ledger)."""
    book = open_ledger(ledger)
    report = book.verify()
    if not report.intact:
        book.close()
        fail(f"refusing to export: {report.problem}")
    with out.open("w", encoding="utf-8") as handle:
        for row in book.entries():
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    book.close()
    typer.echo(f"exported {report.rows} rows to {out}; root {report.root_sha256}")


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path}: {exc}")
