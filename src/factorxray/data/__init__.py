"""Data sources (Ken French library, price providers) and the on-disk cache. No statistics here."""
