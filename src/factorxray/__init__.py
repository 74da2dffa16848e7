"""factorxray: X-ray what a fund really holds in factor terms."""

from __future__ import annotations

__version__ = "0.1.0"
