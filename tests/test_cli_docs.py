"""Every CLI command has help text with an example and appears in the README."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from factorxray.cli import app

README = (Path(__file__).parents[1] / "README.md").read_text()


def _commands() -> list[tuple[str, object]]:
    root = typer.main.get_command(app)
    found = []
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            found.extend(
                (f"{name} {sub}", subcommand) for sub, subcommand in command.commands.items()
            )
        else:
            found.append((name, command))
    return found


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    commands = _commands()
    assert {"analyze", "presets", "returns", "factors show", "cache info"} <= {
        name for name, _ in commands
    }
    for name, command in commands:
        assert command.help and "Example" in command.help, name
        assert f"factorxray {name}" in README, f"`factorxray {name}` is not documented in README.md"


def test_help_runs_for_every_command() -> None:
    runner = CliRunner()
    for name, _ in _commands():
        result = runner.invoke(app, [*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output
