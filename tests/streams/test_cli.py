"""The CLI tells a newcomer what it can do."""

from __future__ import annotations

from typer.testing import CliRunner

from swerve.cli.main import app

runner = CliRunner()


def test_given_help_then_every_command_is_listed() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("broker", "worker", "submit", "tail", "topics"):
        assert command in result.output
    topics = runner.invoke(app, ["topics", "--help"])
    assert "create" in topics.output


def test_given_an_unknown_role_then_the_worker_refuses_before_connecting() -> None:
    result = runner.invoke(app, ["worker", "--role", "everything"])
    assert result.exit_code != 0
    assert "role must be screen, detect, correct or all" in result.output
