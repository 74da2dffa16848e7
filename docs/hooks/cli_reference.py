"""MkDocs hook: the CLI reference page (docs/cli.md) from the real ``factorxray --help``.

At every build the marker ``<!-- cli-reference -->`` in docs/cli.md is replaced by the help
of ``factorxray`` and of every command and sub-command, so the page never goes stale. The
help is printed by the installed CLI in a subprocess (this module never imports
``factorxray.cli``), in one process for all commands: about 1.5 s instead of one CLI start-up
per command. Commands are found the way a user finds them, from the "Commands:" list of each
help text.

Run it alone to print the page's generated part: ``uv run python docs/hooks/cli_reference.py``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout
from typing import Any

from mkdocs.exceptions import PluginError

MARKER = "<!-- cli-reference -->"
PAGE = "cli.md"
#: Plain click help (no rich boxes), 100 columns wide, no colour: the same words as the
#: boxed help a terminal shows.
HELP_ENV = {"TYPER_USE_RICH": "0", "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}


def _help_of(app: Any, command: list[str]) -> str:
    """The help text ``factorxray COMMAND --help`` prints (in this process)."""
    out = io.StringIO()
    with redirect_stdout(out):
        try:
            app([*command, "--help"], prog_name="factorxray", standalone_mode=False)
        except SystemExit:
            pass
    return out.getvalue()


def subcommands(help_text: str) -> list[str]:
    """The command names listed under "Commands:" in a help text, in their order."""
    names: list[str] = []
    listing = False
    for line in help_text.splitlines():
        if line.strip() == "Commands:":
            listing = True
            continue
        if listing:
            if not line.strip() or not line.startswith("  "):
                listing = False
                continue
            match = re.match(r"^  (\S+)", line)
            if match:
                names.append(match.group(1))
    return names


def _collect() -> dict[str, str]:
    """Every command path -> its help, walking the "Commands:" lists depth first."""
    from factorxray.cli import app

    found: dict[str, str] = {}

    def visit(command: list[str]) -> None:
        text = _help_of(app, command)
        if "Usage:" not in text:
            raise RuntimeError(f"factorxray {' '.join(command)} --help printed no usage")
        found[" ".join(command)] = text
        for name in subcommands(text):
            visit([*command, name])

    visit([])
    return found


def collect_help() -> dict[str, str]:
    """Run the CLI in a subprocess and return ``{"": top help, "analyze": ..., ...}``."""
    env = {**os.environ, **HELP_ENV}
    done = subprocess.run(
        [sys.executable, __file__, "--collect"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise PluginError(f"collecting the CLI help failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout)


def render(helps: dict[str, str]) -> str:
    """Markdown: a table of the commands, then each one's help as a code block."""
    lines = ["| command | what it does |", "|---|---|"]
    for command, text in helps.items():
        if command:
            lines.append(f"| [`factorxray {command}`](#{_anchor(command)}) | {_summary(text)} |")
    lines.append("")
    for command, text in helps.items():
        title = f"factorxray {command}".strip()
        lines += [f"## `{title}` {{#{_anchor(command)}}}", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


def _anchor(command: str) -> str:
    return "-".join(["factorxray", *command.split()])


def _summary(help_text: str) -> str:
    """The first line of a command's description (the line after "Usage:")."""
    paragraphs = help_text.split("\n\n")
    for paragraph in paragraphs[1:]:
        text = " ".join(paragraph.split())
        if text and not text.endswith(":") and not text.startswith(("Options:", "Arguments:")):
            return text.replace("|", "\\|")
    return ""


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Replace the marker in docs/cli.md with the generated reference (at every build)."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/{PAGE} lost its marker {MARKER}")
    return markdown.replace(MARKER, render(collect_help()))


if __name__ == "__main__":
    if sys.argv[1:] == ["--collect"]:
        print(json.dumps(_collect()))
    else:
        print(render(collect_help()))
