"""Typer sub-commands of the `swerve` CLI, one module per command group."""
