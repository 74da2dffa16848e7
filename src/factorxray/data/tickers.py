"""What a ticker symbol is: the one rule shared by the price sources and the fund lists.

A ticker is 1 to 20 characters: letters, digits and the punctuation providers use in
symbols, ``.`` ``-`` ``=`` (``BRK.B``, ``BRK-B``, ``EURUSD=X``), with an optional leading
``^`` for indexes (``^GSPC``). It starts with a letter or digit (after the ``^``) and ends
with one, so ``MTUM.`` or ``-SPY`` are refused rather than sent to a provider (which
would answer with another fund or nothing). Case does not matter: symbols are upper-cased.
"""

from __future__ import annotations

import re

from factorxray.errors import UsageError, quote

#: The longest symbol accepted.
MAX_TICKER_LENGTH = 20
#: A valid (upper-cased) symbol.
TICKER_PATTERN = re.compile(r"^\^?[A-Z0-9](?:[A-Z0-9.=-]*[A-Z0-9])?$")
#: The rule in words, for error messages.
TICKER_RULE = (
    f"a ticker is 1 to {MAX_TICKER_LENGTH} letters, digits and . - = inside, "
    "optionally after a leading ^ (e.g. SPY, BRK-B, BRK.B, ^GSPC, EURUSD=X)"
)


def check_ticker(ticker: object) -> str:
    """Return ``ticker`` stripped and upper-cased, or raise if it cannot be a symbol.

    Parameters
    ----------
    ticker : str
        A symbol as typed by the user.

    Returns
    -------
    str
        The normalised symbol.

    Raises
    ------
    UsageError
        Not text, empty, too long, or with characters no provider uses (``/``, ``_``,
        spaces...); the message quotes at most a short prefix of the value.

    Examples
    --------
    >>> check_ticker(" spy "), check_ticker("^gspc")
    ('SPY', '^GSPC')
    >>> check_ticker("A/B")
    Traceback (most recent call last):
    ...
    factorxray.errors.UsageError: 'A/B' is not a ticker: a ticker is 1 to 20 letters, digits and . - = inside, optionally after a leading ^ (e.g. SPY, BRK-B, BRK.B, ^GSPC, EURUSD=X)
    """
    if not isinstance(ticker, str):
        raise UsageError(f"{quote(ticker)} is not a ticker: {TICKER_RULE}")
    cleaned = ticker.strip().upper()
    if len(cleaned) > MAX_TICKER_LENGTH or not TICKER_PATTERN.fullmatch(cleaned):
        raise UsageError(f"{quote(ticker)} is not a ticker: {TICKER_RULE}")
    return cleaned


__all__ = ["MAX_TICKER_LENGTH", "TICKER_PATTERN", "TICKER_RULE", "check_ticker"]
