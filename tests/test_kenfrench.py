"""The Ken French parser against the raw text of every real fixture file, and the client."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factorxray.data.cache import Cache
from factorxray.data.kenfrench import (
    decode_text,
    normalize_name,
    parse_french_csv,
    parse_french_zip,
    read_dataset,
    read_zip_member,
)
from factorxray.errors import DataSourceError, ParseError, UsageError
from tests._kenfrench_server import KF_DIR

FIXTURES = sorted(KF_DIR.glob("*_CSV.zip"))
_KEY_ROW = re.compile(r"^\s*(\d{4}|\d{6}|\d{8})\s*,")


def _raw_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read(archive.namelist()[0]).decode("ascii")


def _raw_blocks(text: str) -> list[list[tuple[str, list[str]]]]:
    """Independent reading: runs of consecutive keyed lines, each a list of (key, cells)."""
    blocks: list[list[tuple[str, list[str]]]] = []
    current: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if _KEY_ROW.match(line):
            cells = line.split(",")
            current.append((cells[0].strip(), [c.strip() for c in cells[1:]]))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _label(key: str) -> object:
    if len(key) == 6:
        return pd.Period(f"{key[:4]}-{key[4:]}", freq="M")
    if len(key) == 8:
        return pd.Timestamp(f"{key[:4]}-{key[4:6]}-{key[6:]}")
    return int(key)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_every_row_of_every_section_matches_the_raw_text(path: Path) -> None:
    text = _raw_text(path)
    dataset = parse_french_zip(path.read_bytes(), path.stem)
    blocks = _raw_blocks(text)
    frames = list(dataset.sections.values())
    assert len(frames) == len(blocks) > 0
    for frame, block in zip(frames, blocks, strict=True):
        assert len(frame) == len(block)
        assert list(frame.index) == [_label(key) for key, _ in block]
        raw = np.array([[float(cell) for cell in cells] for _, cells in block])
        expected = np.where(np.isin(raw, [-99.99, -999.0]), np.nan, raw)
        np.testing.assert_array_equal(frame.to_numpy(), expected)
        assert all(column == column.strip() for column in frame.columns)


def test_index_types_follow_the_key_width() -> None:
    monthly = parse_french_zip((KF_DIR / "F-F_Research_Data_Factors_CSV.zip").read_bytes())
    assert isinstance(monthly.section("Monthly").index, pd.PeriodIndex)
    assert monthly.section("Monthly").index.freqstr == "M"
    assert monthly.section("Annual").index.dtype == np.int64
    daily = parse_french_zip((KF_DIR / "F-F_Research_Data_Factors_daily_CSV.zip").read_bytes())
    assert isinstance(daily.section(0).index, pd.DatetimeIndex)
    assert daily.section(0).index[0] == pd.Timestamp("1926-07-01")


@pytest.mark.parametrize(
    ("stem", "vintage", "database"),
    [
        ("F-F_Research_Data_5_Factors_2x3", "202511", "CRSP"),
        ("F-F_Research_Data_Factors_daily", "202408", "CRSP"),
        ("Developed_5_Factors", "202510", "Bloomberg"),
        ("Developed_Mom_Factor", "202207", "Bloomberg"),
        ("25_Portfolios_ME_VAR_5x5", "202602", "CRSP"),
    ],
)
def test_vintage_and_description(stem: str, vintage: str, database: str) -> None:
    dataset = parse_french_zip((KF_DIR / f"{stem}_CSV.zip").read_bytes(), stem)
    assert (dataset.vintage, dataset.database) == (vintage, database)
    assert dataset.description.startswith("This file was created")
    assert "," not in dataset.description.splitlines()[-1][:1]


def test_titled_sections_of_the_size_variance_file() -> None:
    dataset = parse_french_zip((KF_DIR / "25_Portfolios_ME_VAR_5x5_CSV.zip").read_bytes())
    titles = list(dataset.sections)
    assert titles[:4] == [
        "Average Value Weighted Returns -- Monthly",
        "Average Equal Weighted Returns -- Monthly",
        "Average Value Weighted Returns -- Annual",
        "Average Equal Weighted Returns -- Annual",
    ]
    vw = dataset.section("Average Value Weighted Returns -- Monthly")
    assert list(vw.columns[[0, 4, 20, 24]]) == [
        "SMALL LoVAR",
        "SMALL HiVAR",
        "BIG LoVAR",
        "BIG HiVAR",
    ]
    assert vw.index[0] == pd.Period("1963-07", "M")
    assert vw.loc[pd.Period("1963-07", "M"), "SMALL LoVAR"] == pytest.approx(-0.6621)
    # -99.99 / -999 are missing values: as many NaN as such cells in the raw text
    raw_cells = [
        float(cell)
        for block in _raw_blocks(_raw_text(KF_DIR / "25_Portfolios_ME_VAR_5x5_CSV.zip"))
        for _, cells in block
        for cell in cells
    ]
    n_missing = sum(value in (-99.99, -999.0) for value in raw_cells)
    assert (
        sum(int(frame.isna().to_numpy().sum()) for frame in dataset.sections.values()) == n_missing
    )


def test_missing_value_markers_become_nan() -> None:
    text = _raw_text(KF_DIR / "Developed_3_Factors_CSV.zip")
    text = text.replace("199007    ,0.77    ,0.53", "199007    ,-99.99    ,-999", 1)
    monthly = parse_french_csv(text, "edited").section("Monthly")
    first = monthly.loc[pd.Period("1990-07", "M")]
    assert np.isnan(first["Mkt-RF"]) and np.isnan(first["SMB"])
    assert first["HML"] == pytest.approx(-0.36)


def test_regional_layout_spaces_before_commas_and_wml() -> None:
    dataset = parse_french_zip((KF_DIR / "Developed_Mom_Factor_CSV.zip").read_bytes())
    monthly = dataset.section("Monthly")
    assert list(monthly.columns) == ["WML"]
    assert monthly.index[0] == pd.Period("1990-11", "M")
    assert monthly.iloc[0, 0] == pytest.approx(0.08)


def test_section_lookup_errors_name_the_sections() -> None:
    dataset = parse_french_zip((KF_DIR / "F-F_Momentum_Factor_CSV.zip").read_bytes())
    with pytest.raises(ParseError, match="no section 'Weekly'; sections: Monthly; Annual"):
        dataset.section("Weekly")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just some words\nand more\n", "no data sections found"),
        ("x\n\n,A,B\n202001, 1.0\n", r"1 values where the header has 2 columns"),
        ("x\n\n,A\n202001, abc\n", r"'abc' is not a number"),
        ("x\n\n,A\n202002, 1\n202001, 2\n", "not strictly increasing"),
        ("x\n\n,A\n202013, 1\n", "invalid dates"),
        ("x\n\n,A\n\n", "header row with no data rows"),
        ("x\n\n,A\n202001, 1\n2020, 2\n", "mixed widths"),
    ],
)
def test_garbage_and_changed_layouts_raise_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_french_csv(text, "demo")


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_bomb_non_csv_corrupt_and_truncated_archives_are_refused() -> None:
    real = (KF_DIR / "F-F_Momentum_Factor_CSV.zip").read_bytes()
    with pytest.raises(ParseError, match="over the 1000-byte limit"):
        read_zip_member(_zip_of({"bomb.csv": b"0" * 5000}), "bomb", max_bytes=1000)
    with pytest.raises(ParseError, match=r"no CSV file \(found: readme.txt\)"):
        read_zip_member(_zip_of({"readme.txt": b"hello"}), "x")
    with pytest.raises(ParseError, match="not a valid zip"):
        read_zip_member(real[: len(real) // 2], "truncated")
    with pytest.raises(ParseError, match="not a valid zip"):
        read_zip_member(b"<html>Service unavailable</html>", "html")
    corrupt = bytearray(real)
    corrupt[100:140] = b"\x00" * 40
    with pytest.raises(ParseError, match="corrupt"):
        read_zip_member(bytes(corrupt), "corrupt")


def test_decode_handles_cp1252_and_lone_carriage_returns() -> None:
    assert decode_text(b"a\r\nb\rc\n") == "a\nb\nc\n"
    assert decode_text("caf\xe9".encode("cp1252")) == "café"


def test_names_are_normalised_and_checked() -> None:
    assert normalize_name("F-F_Momentum_Factor_CSV.zip") == "F-F_Momentum_Factor"
    assert normalize_name(" Developed_5_Factors ") == "Developed_5_Factors"
    with pytest.raises(UsageError, match="not valid"):
        normalize_name("../../etc/passwd")


_MOM_TEXT = _raw_text(KF_DIR / "F-F_Momentum_Factor_CSV.zip")
_DEV_TEXT = _raw_text(KF_DIR / "Developed_3_Factors_CSV.zip")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from([_MOM_TEXT, _DEV_TEXT]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["delete", "insert", "dupline", "dropline", "truncate"]),
            st.integers(min_value=0, max_value=10**6),
            st.text(alphabet=",-. 0123456789\nabcXYZ", max_size=6),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_fuzzed_real_files_raise_only_parse_errors(source: str, edits: list) -> None:
    text = source
    for kind, position, chunk in edits:
        lines = text.split("\n")
        at = position % max(len(text), 1)
        if kind == "delete":
            text = text[:at] + text[at + len(chunk) + 1 :]
        elif kind == "insert":
            text = text[:at] + chunk + text[at:]
        elif kind == "dupline":
            i = position % len(lines)
            text = "\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
        elif kind == "dropline":
            i = position % len(lines)
            text = "\n".join(lines[:i] + lines[i + 1 :])
        else:
            text = text[:at]
    try:
        dataset = parse_french_csv(text, "fuzz")
    except ParseError:
        return
    for frame in dataset.sections.values():
        assert frame.index.is_monotonic_increasing and frame.index.is_unique
        assert frame.dtypes.eq(np.float64).all()


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=6000), st.binary(min_size=1, max_size=8))
def test_fuzzed_zip_bytes_raise_only_parse_errors(position: int, junk: bytes) -> None:
    real = (KF_DIR / "Developed_Mom_Factor_CSV.zip").read_bytes()
    at = position % len(real)
    mutated = real[:at] + junk + real[at + len(junk) :]
    try:
        parse_french_zip(mutated, "fuzz")
    except ParseError:
        pass


def test_read_dataset_downloads_caches_and_reuses(kf_server, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    first = read_dataset("F-F_Momentum_Factor", base=kf_server.url, cache=cache)
    assert first.vintage == "202511"
    assert first.url == f"{kf_server.url}/F-F_Momentum_Factor_CSV.zip"
    entry = cache.get("kenfrench", "F-F_Momentum_Factor_CSV.zip")
    assert entry is not None and entry.meta["vintage"] == "202511" and entry.meta["etag"]
    requests_before = len(kf_server.requests)
    again = read_dataset("F-F_Momentum_Factor", base=kf_server.url, cache=cache)
    assert len(kf_server.requests) == requests_before  # fresh: no request
    pd.testing.assert_frame_equal(again.section(0), first.section(0))


def test_stale_entry_is_revalidated_with_a_conditional_get(kf_server, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c", ttl_seconds=0)
    read_dataset("Developed_Mom_Factor", base=kf_server.url, cache=cache)
    read_dataset("Developed_Mom_Factor", base=kf_server.url, cache=cache)
    assert kf_server.requests[-1].headers.get("if-none-match")
    entry = cache.get("kenfrench", "Developed_Mom_Factor_CSV.zip")
    assert entry is not None and entry.meta["vintage"] == "202207"


def test_unknown_dataset_is_a_usage_error_with_suggestions(kf_server, tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"dataset F-F_Momentum_Factr not found .*did you mean F-F_Momentum_Factor"
    ):
        read_dataset("F-F_Momentum_Factr", base=kf_server.url, cache=Cache(tmp_path))


def test_offline_without_cache_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        DataSourceError,
        match=r"not in the cache .*; call once with offline=False \(the default\) to download it",
    ):
        read_dataset("F-F_Momentum_Factor", cache=Cache(tmp_path), offline=True)


def test_a_corrupt_cache_entry_is_announced_offline_and_online(
    kf_server, tmp_path: Path, caplog
) -> None:
    """Offline, a corrupt entry fell back to the bundled snapshot with nothing on stderr."""
    import logging

    cache = Cache(tmp_path / "c")
    read_dataset("F-F_Research_Data_Factors", base=kf_server.url, cache=cache)
    data_file = tmp_path / "c" / "kenfrench" / "F-F_Research_Data_Factors_CSV.zip.data"
    data_file.write_bytes(data_file.read_bytes()[:-10] + b"0123456789")
    with caplog.at_level(logging.WARNING, logger="factorxray.cache"):
        offline = read_dataset(
            "F-F_Research_Data_Factors", cache=cache, offline=True, snapshot=True
        )
    assert offline.url == "snapshot:F-F_Research_Data_Factors_CSV.zip"
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "corrupt cache entry kenfrench/F-F_Research_Data_Factors_CSV.zip in "
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="factorxray.cache"):
        online = read_dataset("F-F_Research_Data_Factors", base=kf_server.url, cache=cache)
    assert online.vintage == "202511" and "corrupt cache entry" in caplog.text
    assert cache.get("kenfrench", "F-F_Research_Data_Factors_CSV.zip") is not None  # repaired
