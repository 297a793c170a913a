"""`swerve gateway`: serve the HTTP gateway, and make API keys for its keys file.

A thin CLI over ``swerve.gateway``: it reads the settings, applies the options over them,
prints, and turns a configuration error into exit 78. It must never hold gateway logic.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
import yaml

from swerve.errors import ConfigurationError
from swerve.streams import exit_codes
from swerve.streams.settings import Settings

app = typer.Typer(
    help="The HTTP gateway: moderate images over HTTP, each API key speaking for one tenant.",
    no_args_is_help=True,
)


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="Address to bind (overrides SWERVE_GATEWAY_HOST; default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="Port (overrides SWERVE_GATEWAY_PORT; default 8080); 0 picks a free one."),
    api_keys_file: Optional[Path] = typer.Option(
        None, help="Keys file, YAML or JSON (overrides SWERVE_GATEWAY_API_KEYS_FILE); `swerve gateway hash-key` makes entries."
    ),
    insecure_dev_tenant: Optional[str] = typer.Option(
        None, help="Development only, on a loopback host: no keys, every request is this tenant's "
        "(overrides SWERVE_GATEWAY_INSECURE_DEV_TENANT)."
    ),
    log_level: str = typer.Option("info", help="uvicorn's log level: critical, error, warning, info, debug."),
) -> None:
    """Serve the gateway until Ctrl-C or SIGTERM. Prints the URL it listens on (the real port for --port 0)."""
    import logging

    from swerve.gateway.app import create_app
    from swerve.gateway.server import bind, serve as serve_app
    from swerve.gateway.settings import GatewaySettings

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise typer.BadParameter(f"log level must be critical, error, warning, info or debug, got {log_level!r}")
    options: dict[str, Any] = {
        "host": host, "port": port, "api_keys_file": api_keys_file, "insecure_dev_tenant": insecure_dev_tenant,
    }
    try:
        settings = Settings.from_env()
        configured = GatewaySettings.from_env()
        gateway = GatewaySettings.checked(
            {**configured.model_dump(), **{name: value for name, value in options.items() if value is not None}}
        )
        app_ = create_app(settings, gateway)
    except ConfigurationError as exc:
        typer.echo(f"swerve gateway cannot start: {exc}", err=True)
        raise typer.Exit(exit_codes.CONFIGURATION) from None
    try:
        listener = bind(gateway.host, gateway.port)
    except OSError as exc:
        typer.echo(f"swerve gateway cannot listen on {gateway.host}:{gateway.port}: {exc}", err=True)
        raise typer.Exit(exit_codes.CONFIGURATION) from None

    # uvicorn configures its own loggers only: the gateway's and the Kafka client's go to stderr here.
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def announce(url: str) -> None:
        typer.echo(f"gateway listening on {url}")
        typer.echo(f"API description: {url}/docs")
        sys.stdout.flush()

    serve_app(app_, listener, log_level=log_level, announce=announce)


@app.command("hash-key")
def hash_key(
    name: str = typer.Option(..., help="Who holds the key, e.g. acme-generator; unique in the keys file."),
    tenant: List[str] = typer.Option(..., help="The key's tenant (a producer has exactly one); repeatable for a reviewer."),
    role: List[str] = typer.Option(["producer"], help="producer (moderate images) or reviewer; repeatable."),
) -> None:
    """Make a new random API key: print the key (give it to its holder) and its keys-file entry (digest only)."""
    from swerve.gateway.api_keys import ApiKey, key_digest, new_key

    key = new_key()
    try:
        entry = ApiKey.model_validate({"name": name, "sha256": key_digest(key), "roles": role, "tenants": tenant})
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        typer.echo(f"invalid key entry: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"# the key (shown once, stored nowhere): {key}")
    typer.echo("# its entry, for the `keys:` list of the keys file:")
    document = [{"name": entry.name, "sha256": entry.sha256, "roles": list(entry.roles), "tenants": list(entry.tenants)}]
    typer.echo(yaml.safe_dump(document, sort_keys=False, default_flow_style=None).rstrip())
