"""MkDocs hook: the gallery's reports, built from the bundled snapshot at every site build.

``factorxray analyze --preset smart-beta-20 --offline`` runs in a subprocess with an empty
cache folder (so the data are the snapshot's, the same on every machine) and writes its
report into a temporary folder; its files join the site under ``reports/<name>/`` as built
artifacts (never committed: ``index.html`` alone is about 1.6 MB). The console table the run
prints replaces the marker ``<!-- gallery-console:<name> -->`` in docs/gallery.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

#: name -> the ``factorxray`` arguments that build it (each runs offline, from the snapshot).
REPORTS = {
    "smart-beta-20": ["analyze", "--preset", "smart-beta-20", "--offline"],
}
PAGE = "gallery.md"

_built: dict[str, tuple[Path, str]] = {}


def _cli() -> list[str]:
    """The installed ``factorxray`` entry point beside this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("factorxray")
    return [str(script)] if script.exists() else [sys.executable, "-m", "factorxray"]


def build_report(name: str, root: Path) -> tuple[Path, str]:
    """Run one gallery report into ``root/reports/name``; return its folder and console text."""
    out = root / "reports" / name
    cache = root / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FACTORXRAY_CACHE_DIR": str(cache), "COLUMNS": "100", "NO_COLOR": "1"}
    done = subprocess.run(
        [*_cli(), *REPORTS[name], "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0 or not (out / "index.html").is_file():
        raise PluginError(
            f"the gallery report {name!r} failed (exit {done.returncode}): "
            f"factorxray {' '.join(REPORTS[name])}\n{done.stderr.strip()}"
        )
    return out, done.stdout


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    """Build every gallery report (once per process) and add its files to the site."""
    if not _built:
        root = Path(tempfile.mkdtemp(prefix="factorxray-gallery-"))
        try:
            for name in REPORTS:
                _built[name] = build_report(name, root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            _built.clear()
            raise
    for out, _ in _built.values():
        src_dir = out.parents[1]
        for path in sorted(out.rglob("*")):
            if path.is_file():
                files.append(
                    File(
                        path.relative_to(src_dir).as_posix(),
                        src_dir=str(src_dir),
                        dest_dir=config["site_dir"],
                        use_directory_urls=config["use_directory_urls"],
                    )
                )
    return files


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Put each report's console table into the gallery page."""
    if page.file.src_uri != PAGE:
        return markdown
    for name, (_, console) in _built.items():
        marker = f"<!-- gallery-console:{name} -->"
        if marker not in markdown:
            raise PluginError(f"docs/{PAGE} lost its marker {marker}")
        markdown = markdown.replace(marker, f"```text\n{console.rstrip()}\n```")
    return markdown


def on_shutdown(**kwargs: Any) -> None:
    """Remove the temporary reports when the build (or ``mkdocs serve``) ends."""
    for out, _ in _built.values():
        shutil.rmtree(out.parents[1], ignore_errors=True)
    _built.clear()
