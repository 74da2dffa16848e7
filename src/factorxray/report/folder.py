"""Which files of a report folder factorxray wrote: never replace a user's own files.

A report folder holds a small manifest, :data:`MARKER` (``.factorxray-report``), listing the
files factorxray wrote there (paths relative to the folder, one a line). Before writing,
:func:`check_folder` refuses a folder that holds anything else (a user's own
``index.html``, ``notes.txt``...) unless ``force`` is set; after writing,
:func:`record_files` adds the new files to the manifest. So rerunning into a folder the
tool wrote before just works, and ``--out`` pointed at the wrong folder fails in one line
before anything is replaced.

Hidden entries (names starting with ``.``: ``.git``, ``.DS_Store``, our own temporary
files) are never written over and are not counted. A folder written by a factorxray older
than the manifest (an ``index.html`` made by factorxray and only report file names beside
it) counts as ours.

This module imports nothing heavy: the command line calls it before any download.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from factorxray._atomic import atomic_write_text
from factorxray.errors import UsageError

__all__ = ["MARKER", "ReportFolderError", "check_folder", "record_files", "written_files"]

#: The manifest of the files factorxray wrote into a report folder.
MARKER = ".factorxray-report"
_HEADER = "# factorxray report folder: the files factorxray wrote here, one a line"
#: Files the report writers have written (for folders written before the manifest existed).
_KNOWN_FILES = frozenset(
    {
        "index.html",
        "exposures.csv",
        "summary.json",
        "rolling_betas.csv",
        "implied_exposures.csv",
        "risk_attribution.csv",
        "performance.csv",
        "holdings.csv",
        "blend.json",
        "blend_target.csv",
    }
)
_KNOWN_PNG_PREFIXES = ("betas_", "rolling_", "heatmap_betas", "factor_correlations", "attribution")
_GENERATOR = b'<meta name="generator" content="factorxray'
#: How many foreign names the error message lists.
_NAMED = 3


class ReportFolderError(UsageError):
    """The report folder holds files factorxray did not write (exit code 2)."""


def written_files(folder: str | os.PathLike[str]) -> set[str]:
    """The files factorxray wrote into ``folder``, as paths relative to it (``png/x.png``).

    From the manifest; for a folder without one, the report files of an older factorxray
    when its ``index.html`` was made by factorxray, else nothing.
    """
    root = Path(folder)
    try:
        text = (root / MARKER).read_text(encoding="utf-8")
    except FileNotFoundError:
        return _legacy_files(root)
    except OSError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"}


def _legacy_files(root: Path) -> set[str]:
    """Files of a report written before the manifest: only when index.html is ours."""
    try:
        with open(root / "index.html", "rb") as page:
            head = page.read(2048)
    except OSError:
        return set()
    if _GENERATOR not in head:
        return set()
    ours = {name for name in _KNOWN_FILES if (root / name).is_file()}
    png = root / "png"
    if png.is_dir():
        ours |= {
            f"png/{path.name}"
            for path in png.iterdir()
            if path.suffix == ".png" and path.name.startswith(_KNOWN_PNG_PREFIXES)
        }
    return ours


def foreign_files(folder: str | os.PathLike[str]) -> list[str]:
    """Entries of ``folder`` (and of its subfolders factorxray writes into) that factorxray
    did not write, as sorted relative paths; hidden entries are left out."""
    root = Path(folder)
    if not root.is_dir():
        return []
    ours = written_files(root)
    our_dirs = {name.split("/", 1)[0] for name in ours if "/" in name}
    foreign: list[str] = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir() and name in our_dirs:
            foreign += [
                f"{name}/{inner.name}"
                for inner in sorted(entry.iterdir())
                if not inner.name.startswith(".") and f"{name}/{inner.name}" not in ours
            ]
        elif name not in ours:
            foreign.append(name + ("/" if entry.is_dir() else ""))
    return foreign


def check_folder(folder: str | os.PathLike[str], *, force: bool = False) -> None:
    """Refuse a report folder that holds files factorxray did not write.

    Parameters
    ----------
    folder : path
        The report folder (``--out``); it need not exist.
    force : bool
        Write anyway (``--force``): files of the report's names are then replaced.

    Raises
    ------
    ReportFolderError
        One line naming the folder, a few of the foreign files and ``--force``.

    Examples
    --------
    >>> check_folder("my-notes/")  # doctest: +SKIP
    ReportFolderError: my-notes/ holds files factorxray did not write (notes.txt); ...
    """
    if force:
        return
    foreign = foreign_files(folder)
    if not foreign:
        return
    more = len(foreign) - _NAMED
    listed = ", ".join(foreign[:_NAMED]) + (f" and {more} more" if more > 0 else "")
    raise ReportFolderError(
        f"{folder} holds files factorxray did not write ({listed}); choose a new or empty "
        "folder for the report, or pass --force (force=True in Python) to write into it anyway"
    )


def record_files(folder: str | os.PathLike[str], names: Iterable[str]) -> None:
    """Add ``names`` (paths relative to ``folder``) to its manifest of files factorxray
    wrote, and drop entries whose files are gone. Written atomically."""
    root = Path(folder)
    current = written_files(root)
    wanted = {str(name).replace(os.sep, "/") for name in names}
    keep = sorted(name for name in current | wanted if (root / name).exists() or name in wanted)
    text = "\n".join([_HEADER, *keep]) + "\n"
    atomic_write_text(root / MARKER, text)
