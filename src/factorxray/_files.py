"""What a file the caller gave holds, told before a reader's own error would.

Readers of the caller's files (factor files, panels) ask here first, so that random bytes
given as Parquet are named "not a valid Parquet file" with a short reason, not with
pyarrow's paragraph about magic bytes, and binary data given as CSV is not read as text.
Pure functions of bytes (and one that reads a file's two ends); no pandas, no pyarrow.
"""

from __future__ import annotations

import os

#: Every Parquet file starts and ends with these four bytes.
PARQUET_MARKER = b"PAR1"
#: The smallest Parquet file: both markers and the 4-byte length of its footer.
_PARQUET_MIN_BYTES = 12
#: Control characters that never occur in CSV text (tab, newlines, form feed and the DOS
#: end-of-file mark excepted).
_BINARY_BYTES = bytes([*range(0, 9), 11, *range(14, 26), *range(27, 32), 127])


def parquet_problem(head: bytes, tail: bytes, size: int) -> str | None:
    """Why a file cannot be Parquet, judged from its first and last bytes, or None.

    Parameters
    ----------
    head, tail : bytes
        The file's first and last (at least 4) bytes.
    size : int
        Its length in bytes.

    Examples
    --------
    >>> parquet_problem(b"date", b"5\\n", 40)
    'it does not start with the Parquet marker PAR1'
    >>> parquet_problem(b"PAR1", b"\\x00\\x01", 4000)
    'it does not end with the Parquet marker PAR1: cut short?'
    >>> parquet_problem(b"PAR1", b"PAR1", 4000) is None
    True
    """
    if not head.startswith(PARQUET_MARKER):
        return "it does not start with the Parquet marker PAR1"
    if size < _PARQUET_MIN_BYTES or not tail.endswith(PARQUET_MARKER):
        return "it does not end with the Parquet marker PAR1: cut short?"
    return None


def file_parquet_problem(path: str | os.PathLike[str]) -> str | None:
    """:func:`parquet_problem` of a file on disk (reads 8 bytes); an unreadable file is None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(PARQUET_MARKER))
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - len(PARQUET_MARKER)))
            tail = handle.read()
    except OSError:
        return None  # the reader names the OS error
    return parquet_problem(head, tail, size)


def looks_binary(sample: bytes) -> bool:
    """True for data that is not text: a NUL byte, or over 1% control characters.

    Random bytes hold about 11% control characters; a CSV file, in any 8-bit encoding, none.

    Examples
    --------
    >>> looks_binary(b"date,MYF\\n2020-01,1.5\\n"), looks_binary(b"PAR1\\x00\\x15")
    (False, True)
    """
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return controls > max(1, len(sample) // 100)


def short_reason(exc: BaseException, limit: int = 80) -> str:
    """A reader's error as a short clause: one line, without pyarrow's ``... '<path>':`` prefix.

    Examples
    --------
    >>> short_reason(OSError("Could not open Parquet input source '<Buffer>': Corrupt data."))
    'Corrupt data.'
    >>> short_reason(ValueError("Could not read schema from 'a.pq': Could not open 'a.pq': Bad."))
    'Bad.'
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "Could not open" in text and "': " in text:  # pyarrow: what it tried, then why
        text = text.rsplit("': ", 1)[1]
    return text if len(text) <= limit else text[: limit - 3] + "..."
