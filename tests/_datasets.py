"""Equality of two parsed Ken French datasets, down to the bits (shared by the tests of the
kept parsed forms and of pinned vintages)."""

from __future__ import annotations

import pandas as pd

from factorxray.data.kenfrench import FrenchDataset


def assert_same_dataset(got: FrenchDataset, expected: FrenchDataset) -> None:
    """Same name, description, vintage, database and sections: titles in order, frames bit
    for bit with their index type, dtype and name, column dtype and attrs."""
    assert (got.name, got.description, got.vintage, got.database) == (
        expected.name,
        expected.description,
        expected.vintage,
        expected.database,
    )
    assert list(got.sections) == list(expected.sections)
    for title, frame in expected.sections.items():
        other = got.sections[title]
        pd.testing.assert_frame_equal(other, frame, check_exact=True, check_freq=True)
        assert type(other.index) is type(frame.index)
        assert other.index.dtype == frame.index.dtype and other.index.name == frame.index.name
        assert other.columns.dtype == frame.columns.dtype and other.attrs == frame.attrs
        assert other.to_numpy().tobytes() == frame.to_numpy().tobytes()
