"""The parsed form of Ken French files: equal to parsing the zip, never stale, never fatal.

A new process reading a warm cache takes each dataset from its kept parsed form
(``kenfrench-parsed/<name>.npz``) instead of parsing the zip again; so does an offline run
that falls back to the bundled snapshot (``<name>@snapshot.npz``, made by the first such
run). These tests check, on the real fixture files and on every file of the snapshot, that
the form gives exactly the dataset the parser gives, that it follows its zip (a new
download, or a new package's snapshot, is never read through an older form), that a damaged
form of any kind is parsed again and rewritten without a word, and that an unwritable or
absent cache only loses the speed-up.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from factorxray import snapshot
from factorxray.cli import app
from factorxray.data import kenfrench
from factorxray.data.cache import Cache, CacheEntry, entry_stem
from factorxray.data.kenfrench import (
    CACHE_NAMESPACE,
    PARSED_NAMESPACE,
    FrenchDataset,
    decode_parsed,
    encode_parsed,
    form_key,
    parse_french_zip,
    read_dataset,
)
from factorxray.factors import load_factors
from factorxray.factors.vintages import read_pinned_dataset, vintages_at_hand
from tests._datasets import assert_same_dataset
from tests._kenfrench_server import KF_DIR

ROOT = Path(__file__).resolve().parents[1]
SHARED_KF = ROOT.parent / "shared" / "data" / "kenfrench"
VINTAGES_DIR = Path(__file__).parent / "data" / "kenfrench-vintages"


def _zip_of_csv(path: Path) -> bytes:
    """A ``_CSV.zip`` holding one CSV file, as the library serves them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.name.split(".")[0] + ".csv", path.read_bytes())
    return buffer.getvalue()


def _real_zips() -> list[tuple[str, bytes]]:
    """Every real Ken French file at hand: the fixtures' zips and the shared CSVs zipped."""
    found = [
        (p.name.removesuffix("_CSV.zip"), p.read_bytes()) for p in sorted(KF_DIR.glob("*.zip"))
    ]
    frequencies = KF_DIR.parent / "kenfrench-frequencies"
    found += [(p.name.removesuffix("_CSV.zip"), p.read_bytes()) for p in frequencies.glob("*.zip")]
    if SHARED_KF.is_dir():
        found += [(p.stem, _zip_of_csv(p)) for p in sorted(SHARED_KF.glob("*.csv"))]
    return found


REAL = _real_zips()


def _forget() -> None:
    """Forget what this process has read, as a new process would start."""
    kenfrench._READ.clear()
    kenfrench._snapshot_zip.cache_clear()


@pytest.fixture(autouse=True)
def _new_process() -> None:
    """Each test starts as a new process would: nothing read yet."""
    _forget()
    yield
    _forget()


def _cache_zip(cache: Cache, name: str, data: bytes) -> CacheEntry:
    """Store a zip as a download stores it (the vintage in its metadata)."""
    vintage = parse_french_zip(data, name).vintage
    return cache.put(
        CACHE_NAMESPACE,
        f"{name}_CSV.zip",
        data,
        {"url": f"https://example.test/{name}_CSV.zip", "vintage": vintage, "dataset": name},
    )


def _parsed_path(cache: Cache, name: str) -> Path:
    return cache.root / PARSED_NAMESPACE / f"{name}.npz.data"


def _read(cache: Cache, name: str) -> FrenchDataset:
    _forget()  # as a new process
    return read_dataset(name, cache=cache, offline=True)


# ----------------------------------------------------------------------------- equality


def test_every_real_file_is_at_hand() -> None:
    names = {name for name, _ in REAL}
    assert {"25_Portfolios_ME_VAR_5x5", "F-F_Research_Data_Factors_daily"} <= names
    assert "F-F_Research_Data_Factors_weekly" in names and len(REAL) >= 10


@pytest.mark.parametrize(("name", "data"), REAL, ids=[f"{n}-{len(d)}" for n, d in REAL])
def test_the_parsed_form_gives_the_dataset_the_parser_gives(name: str, data: bytes) -> None:
    sha = hashlib.sha256(data).hexdigest()
    parsed = parse_french_zip(data, name)
    form = encode_parsed(parsed, sha)
    back = decode_parsed(form, name, sha)
    assert_same_dataset(back, parsed)
    assert encode_parsed(back, sha) == form  # same content, same bytes
    with np.load(io.BytesIO(form), allow_pickle=False) as archive:
        header = json.loads(bytes(archive["header"]))
        assert header["source_sha256"] == sha and header["version"] == kenfrench.PARSED_VERSION
        assert [s["title"] for s in header["sections"]] == list(parsed.sections)
        assert len(archive.files) == 1 + 2 * len(parsed.sections)


@pytest.mark.parametrize(
    "name", ["25_Portfolios_ME_VAR_5x5", "F-F_Research_Data_Factors_daily", "Developed_Mom_Factor"]
)
def test_a_warm_cache_reads_the_kept_form_and_gives_the_same_dataset(
    tmp_path: Path, name: str
) -> None:
    data = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    cache = Cache(tmp_path / "c")
    entry = _cache_zip(cache, name, data)
    first = _read(cache, name)  # parses the zip, keeps the form
    kept = cache.get(PARSED_NAMESPACE, f"{name}.npz")
    assert kept is not None
    assert kept.meta["source_sha256"] == entry.meta["sha256"]
    assert kept.meta["derived_from"] == f"kenfrench/{name}_CSV.zip"
    second = _read(cache, name)  # reads the form
    assert_same_dataset(second, parse_french_zip(data, name))
    assert_same_dataset(first, second)
    assert second.url == first.url and second.url.endswith(f"/{name}_CSV.zip")


def _doctored_form(data: bytes, name: str, sha: str, vintage: str) -> bytes:
    """The true parsed form with another vintage written in: a marker that it was read."""
    parsed = parse_french_zip(data, name)
    return encode_parsed(
        FrenchDataset(name, parsed.description, vintage, parsed.database, parsed.sections), sha
    )


def test_a_new_process_reads_the_kept_form_instead_of_the_zip(tmp_path: Path) -> None:
    name = "F-F_Momentum_Factor"
    data = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    cache = Cache(tmp_path / "c")
    entry = _cache_zip(cache, name, data)
    _read(cache, name)
    marked = _doctored_form(data, name, entry.meta["sha256"], "190001")
    kept = cache.get(PARSED_NAMESPACE, f"{name}.npz")
    cache.put(PARSED_NAMESPACE, f"{name}.npz", marked, kept.meta)
    code = (
        "from factorxray.data.cache import Cache\n"
        "from factorxray.data.kenfrench import read_dataset\n"
        f"print(read_dataset({name!r}, cache=Cache({str(cache.root)!r}), offline=True).vintage)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "190001"  # from the kept form, not from parsing the zip


# ----------------------------------------------------------------------------- following the zip


def test_a_new_download_never_reads_the_form_of_the_old_one(kf_server, tmp_path: Path) -> None:
    name = "F-F_Research_Data_Factors"
    old = _zip_of_csv(VINTAGES_DIR / f"{name}.202006.csv")
    new = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    cache = Cache(tmp_path / "c")
    _cache_zip(cache, name, old)
    assert _read(cache, name).vintage == "202006"
    old_form = _parsed_path(cache, name).read_bytes()
    # a download replaces the zip: the form follows it
    fresh = read_dataset(name, base=kf_server.url, cache=cache, refresh=True)
    assert fresh.vintage == "202511"
    assert_same_dataset(fresh, parse_french_zip(new, name))
    assert _parsed_path(cache, name).read_bytes() != old_form
    assert_same_dataset(_read(cache, name), parse_french_zip(new, name))
    # another writer (an older factorxray) replaces the zip and leaves the old form
    _cache_zip(cache, name, old)
    assert _read(cache, name).vintage == "202006"
    _cache_zip(cache, name, new)
    stale = cache.get(PARSED_NAMESPACE, f"{name}.npz")
    assert stale is not None and stale.meta["source_sha256"] == hashlib.sha256(old).hexdigest()
    again = _read(cache, name)
    assert_same_dataset(again, parse_french_zip(new, name))
    assert cache.get(PARSED_NAMESPACE, f"{name}.npz").meta["source_sha256"] == (
        hashlib.sha256(new).hexdigest()
    )


def test_a_form_naming_another_zip_inside_is_not_read(tmp_path: Path) -> None:
    """The metadata may be rewritten by hand; the header inside names the zip too."""
    name = "F-F_Momentum_Factor"
    data = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    cache = Cache(tmp_path / "c")
    entry = _cache_zip(cache, name, data)
    _read(cache, name)
    kept = cache.get(PARSED_NAMESPACE, f"{name}.npz")
    other = _doctored_form(data, name, "0" * 64, "190001")
    cache.put(PARSED_NAMESPACE, f"{name}.npz", other, kept.meta)  # meta says: this zip
    assert _read(cache, name).vintage == "202511"
    assert cache.get(PARSED_NAMESPACE, f"{name}.npz").data != other
    with pytest.raises(ValueError, match="source_sha256"):
        decode_parsed(other, name, entry.meta["sha256"])


# ----------------------------------------------------------------------------- damage


def _object_array_form(form: bytes) -> bytes:
    """The form with its first values replaced by a pickled object array."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(form)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == "values0.npy":
                with dst.open("values0.npy", "w") as handle:
                    np.lib.format.write_array(
                        handle, np.array([[1.0, "x"]], dtype=object), allow_pickle=True
                    )
            else:
                dst.writestr(info, src.read(info))
    return out.getvalue()


def _with_header(form: bytes, change) -> bytes:
    """The form with its JSON header changed by ``change(header)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(form)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == "header.npy":
                with np.load(io.BytesIO(form)) as archive:
                    header = json.loads(bytes(archive["header"]))
                header = change(header)
                text = json.dumps(header).encode()
                with dst.open("header.npy", "w") as handle:
                    np.lib.format.write_array(handle, np.frombuffer(text, dtype=np.uint8))
            else:
                dst.writestr(info, src.read(info))
    return out.getvalue()


def _flip(form: bytes, position: int) -> bytes:
    return form[:position] + bytes([form[position] ^ 0xFF]) + form[position + 1 :]


def _drop_a_column(header: dict) -> dict:
    header["sections"][0]["columns"] = header["sections"][0]["columns"][:-1]
    return header


DAMAGE = {
    "empty": lambda form: b"",
    "truncated": lambda form: form[: len(form) // 2],
    "last bytes cut": lambda form: form[:-7],
    "junk": lambda form: np.random.default_rng(0).bytes(len(form)),
    "a values byte flipped": lambda form: _flip(form, len(form) // 2),
    "a header byte flipped": lambda form: _flip(form, 200),
    "a pickled object array": _object_array_form,
    "an older version": lambda form: _with_header(form, lambda h: {**h, "version": 0}),
    "another format": lambda form: _with_header(form, lambda h: {**h, "format": "other"}),
    "another dataset": lambda form: _with_header(form, lambda h: {**h, "name": "Other"}),
    "a header that is a list": lambda form: _with_header(form, lambda h: [h]),
    "a column missing": lambda form: _with_header(form, _drop_a_column),
    "no sections": lambda form: _with_header(form, lambda h: {**h, "sections": []}),
    "the zip itself": lambda form: (KF_DIR / "F-F_Momentum_Factor_CSV.zip").read_bytes(),
}


@pytest.mark.parametrize("how", list(DAMAGE))
@pytest.mark.parametrize("consistent", [True, False], ids=["sha256-rewritten", "on-disk"])
def test_a_damaged_form_is_parsed_again_and_rewritten_silently(
    tmp_path: Path, caplog, how: str, consistent: bool
) -> None:
    """``consistent``: written through the cache (its sha256 matches), else edited on disk."""
    name = "F-F_Momentum_Factor"
    data = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    cache = Cache(tmp_path / "c")
    _cache_zip(cache, name, data)
    _read(cache, name)
    good = _parsed_path(cache, name).read_bytes()
    bad = DAMAGE[how](good)
    assert bad != good
    if consistent:
        kept = cache.get(PARSED_NAMESPACE, f"{name}.npz")
        cache.put(PARSED_NAMESPACE, f"{name}.npz", bad, kept.meta)
    else:
        _parsed_path(cache, name).write_bytes(bad)
    with caplog.at_level(logging.DEBUG, logger="factorxray"):
        got = _read(cache, name)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert_same_dataset(got, parse_french_zip(data, name))
    assert _parsed_path(cache, name).read_bytes() == good  # rewritten
    assert_same_dataset(_read(cache, name), got)


def test_unreadable_form_metadata_is_parsed_again_and_rewritten(tmp_path: Path, caplog) -> None:
    name = "F-F_Research_Data_5_Factors_2x3"
    data = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    cache = Cache(tmp_path / "c")
    _cache_zip(cache, name, data)
    _read(cache, name)
    meta_path = cache.root / PARSED_NAMESPACE / f"{name}.npz.meta.json"
    meta_path.write_bytes(b"{not json")
    with caplog.at_level(logging.WARNING, logger="factorxray"):
        got = _read(cache, name)
    assert not caplog.records
    assert_same_dataset(got, parse_french_zip(data, name))
    assert json.loads(meta_path.read_bytes())["source_sha256"] == hashlib.sha256(data).hexdigest()


def test_no_flipped_byte_ever_gives_a_wrong_dataset() -> None:
    """Any one byte of a form flipped: the form is refused (ValueError) or reads the same."""
    name = "Developed_Mom_Factor"
    data = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    parsed = parse_french_zip(data, name)
    form = encode_parsed(parsed, sha)
    positions = sorted({*range(0, len(form), 29), *range(max(0, len(form) - 300), len(form))})
    refused = 0
    for position in positions:
        try:
            got = decode_parsed(_flip(form, position), name, sha)
        except ValueError:
            refused += 1
            continue
        assert_same_dataset(got, parsed)
    assert refused > len(positions) // 2  # most bytes are content under a CRC-32


# ----------------------------------------------------------------------------- the cache


def test_an_unwritable_cache_only_loses_the_speed_up(tmp_path: Path) -> None:
    name = "F-F_Momentum_Factor"
    data = (KF_DIR / f"{name}_CSV.zip").read_bytes()
    cache = Cache(tmp_path / "c")
    _cache_zip(cache, name, data)
    (cache.root / PARSED_NAMESPACE).write_bytes(b"")  # no folder can be made there
    for _ in range(2):
        assert_same_dataset(_read(cache, name), parse_french_zip(data, name))
    assert (cache.root / PARSED_NAMESPACE).read_bytes() == b""
    assert not [p for p in (cache.root / CACHE_NAMESPACE).iterdir() if p.name.endswith(".tmp")]


def test_a_download_into_a_cache_whose_forms_cannot_be_written(kf_server, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    cache.root.mkdir()
    (cache.root / PARSED_NAMESPACE).write_bytes(b"")
    got = read_dataset("F-F_Momentum_Factor", base=kf_server.url, cache=cache)
    assert got.vintage == "202511"
    assert cache.get(CACHE_NAMESPACE, "F-F_Momentum_Factor_CSV.zip") is not None


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's console 200 columns wide, whatever width an earlier test left it with (it
    is created once per process, so COLUMNS given to one invocation does not reach it)."""
    from factorxray.cli import _common

    monkeypatch.setattr(_common.out_console, "width", 200)


def test_forms_are_listed_as_derived_and_cleared_with_their_namespace(
    wide_console, kf_server, tmp_path: Path
) -> None:
    cache = Cache(tmp_path / "c")
    for name in ("F-F_Momentum_Factor", "Developed_Mom_Factor"):
        read_dataset(name, base=kf_server.url, cache=cache)
    entries = list(cache.entries())
    assert sorted((e.namespace, e.key) for e in entries) == [
        ("kenfrench", "Developed_Mom_Factor_CSV.zip"),
        ("kenfrench", "F-F_Momentum_Factor_CSV.zip"),
        ("kenfrench-parsed", "Developed_Mom_Factor.npz"),
        ("kenfrench-parsed", "F-F_Momentum_Factor.npz"),
    ]
    derived = {e.key: e.meta for e in entries if e.namespace == PARSED_NAMESPACE}
    assert derived["Developed_Mom_Factor.npz"]["derived_from"] == (
        "kenfrench/Developed_Mom_Factor_CSV.zip"
    )
    # the vintages at hand are the downloads', once each
    records = [r for r in vintages_at_hand(cache) if r.where == "cache"]
    assert sorted((r.dataset, r.vintage) for r in records) == [
        ("Developed_Mom_Factor", "202207"),
        ("F-F_Momentum_Factor", "202511"),
    ]
    runner = CliRunner()
    info = runner.invoke(app, ["--cache-dir", str(cache.root), "cache", "info"])
    assert info.exit_code == 0, info.output
    assert "kenfrench-parsed" in info.stdout and "Developed_Mom_Factor.npz" in info.stdout
    assert "4 item(s)" in info.stdout
    only_forms = runner.invoke(
        app, ["--cache-dir", str(cache.root), "cache", "clear", "kenfrench-parsed"]
    )
    assert only_forms.exit_code == 0 and "removed 4 file(s)" in only_forms.stderr
    assert not (cache.root / PARSED_NAMESPACE).exists()
    _forget()
    read_dataset("F-F_Momentum_Factor", base=kf_server.url, cache=cache)  # kept again
    assert _parsed_path(cache, "F-F_Momentum_Factor").is_file()
    both = runner.invoke(app, ["--cache-dir", str(cache.root), "cache", "clear", "kenfrench"])
    assert both.exit_code == 0 and "removed 6 file(s)" in both.stderr
    assert list(cache.entries()) == []
    assert sorted(p.name for p in cache.root.iterdir()) == ["CACHEDIR.TAG"]


# ----------------------------------------------------------------------------- the bundled snapshot

SNAPSHOT = snapshot.datasets()


def _snapshot_read(cache: Cache, name: str) -> FrenchDataset:
    _forget()  # as a new process
    return read_dataset(name, cache=cache, snapshot=True)


def _snapshot_form_path(cache: Cache, name: str) -> Path:
    return cache.root / PARSED_NAMESPACE / f"{entry_stem(f'{name}@snapshot.npz')}.data"


def test_the_snapshot_holds_the_files_of_the_readme_run() -> None:
    assert len(SNAPSHOT) == 24 and "25_Portfolios_ME_VAR_5x5" in SNAPSHOT
    assert form_key("snapshot:25_Portfolios_ME_VAR_5x5_CSV.zip") == (
        "25_Portfolios_ME_VAR_5x5@snapshot.npz"
    )


@pytest.mark.parametrize("name", SNAPSHOT)
def test_every_snapshot_file_read_through_its_form_is_the_parsed_zip(
    tmp_path: Path, name: str
) -> None:
    data = snapshot.dataset_zip(name)
    sha = hashlib.sha256(data).hexdigest()
    expected = parse_french_zip(data, name)
    cache = Cache(tmp_path / "c")  # not made yet
    first = _snapshot_read(cache, name)  # parses the bundled zip, keeps the form
    kept = cache.get(PARSED_NAMESPACE, f"{name}@snapshot.npz")
    assert kept is not None
    assert kept.meta["source_sha256"] == sha and kept.meta["vintage"] == expected.vintage
    assert kept.meta["derived_from"] == f"snapshot:{name}_CSV.zip"
    assert_same_dataset(decode_parsed(kept.data, name, sha), expected)  # the form holds it all
    second = _snapshot_read(cache, name)  # reads the form
    assert_same_dataset(first, expected)
    assert_same_dataset(second, expected)
    assert first.url == second.url == f"snapshot:{name}_CSV.zip"
    assert cache.get(PARSED_NAMESPACE, f"{name}@snapshot.npz").data == kept.data  # not rewritten
    assert cache.get(CACHE_NAMESPACE, f"{name}_CSV.zip") is None  # no zip copied to the cache


def _mark_snapshot_form(cache: Cache, name: str, sha: str, vintage: str) -> bytes:
    """Keep a true form of the bundled file with another vintage written in (a marker)."""
    data = snapshot.dataset_zip(name)
    marked = _doctored_form(data, name, sha, vintage)
    meta = {"derived_from": f"snapshot:{name}_CSV.zip", "source_sha256": sha}
    cache.put(PARSED_NAMESPACE, f"{name}@snapshot.npz", marked, meta)
    return marked


def test_a_new_offline_process_reads_the_snapshot_form_instead_of_the_zip(tmp_path: Path) -> None:
    name = "25_Portfolios_ME_VAR_5x5"
    sha = hashlib.sha256(snapshot.dataset_zip(name)).hexdigest()
    cache = Cache(tmp_path / "c")
    _mark_snapshot_form(cache, name, sha, "190001")
    assert _snapshot_read(cache, name).vintage == "190001"  # this process
    code = (
        "from factorxray.data.cache import Cache\n"
        "from factorxray.data.kenfrench import read_dataset\n"
        f"ds = read_dataset({name!r}, cache=Cache({str(cache.root)!r}), snapshot=True)\n"
        "print(ds.vintage, ds.url)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACTORXRAY_KENFRENCH_URL": "http://127.0.0.1:9/"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["190001", f"snapshot:{name}_CSV.zip"]  # from the form


def test_the_form_of_another_package_s_snapshot_is_never_read(tmp_path: Path) -> None:
    """An upgraded package ships a new zip: the form made from the old one is parsed again."""
    name = "F-F_Research_Data_Factors"
    data = snapshot.dataset_zip(name)
    cache = Cache(tmp_path / "c")
    old = "0" * 64  # the sha256 of the zip an older package shipped
    _mark_snapshot_form(cache, name, old, "190001")
    got = _snapshot_read(cache, name)
    assert_same_dataset(got, parse_french_zip(data, name))
    assert got.vintage == "202511"
    rewritten = cache.get(PARSED_NAMESPACE, f"{name}@snapshot.npz")
    assert rewritten.meta["source_sha256"] == hashlib.sha256(data).hexdigest()
    # metadata edited to name this zip, the header inside still the other one's: not read
    marked = _doctored_form(data, name, old, "190001")
    cache.put(PARSED_NAMESPACE, f"{name}@snapshot.npz", marked, rewritten.meta)
    assert _snapshot_read(cache, name).vintage == "202511"


@pytest.mark.parametrize("how", list(DAMAGE))
@pytest.mark.parametrize("consistent", [True, False], ids=["sha256-rewritten", "on-disk"])
def test_a_damaged_snapshot_form_is_parsed_again_and_rewritten_silently(
    tmp_path: Path, caplog, how: str, consistent: bool
) -> None:
    name = "Developed_Mom_Factor"
    data = snapshot.dataset_zip(name)
    cache = Cache(tmp_path / "c")
    _snapshot_read(cache, name)
    path = _snapshot_form_path(cache, name)
    good = path.read_bytes()
    bad = DAMAGE[how](good)
    assert bad != good
    if consistent:
        kept = cache.get(PARSED_NAMESPACE, f"{name}@snapshot.npz")
        cache.put(PARSED_NAMESPACE, f"{name}@snapshot.npz", bad, kept.meta)
    else:
        path.write_bytes(bad)
    with caplog.at_level(logging.DEBUG, logger="factorxray"):
        got = _snapshot_read(cache, name)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert_same_dataset(got, parse_french_zip(data, name))
    assert path.read_bytes() == good  # rewritten
    assert_same_dataset(_snapshot_read(cache, name), got)


@pytest.mark.parametrize("where", ["a file as the cache", "a file as the forms' folder"])
def test_an_unwritable_cache_reads_the_snapshot_as_before(
    tmp_path: Path, caplog, where: str
) -> None:
    cache = Cache(tmp_path / "c")
    if where == "a file as the cache":
        cache.root.write_bytes(b"not a folder")
    else:
        cache.root.mkdir()
        (cache.root / PARSED_NAMESPACE).write_bytes(b"")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with caplog.at_level(logging.DEBUG, logger="factorxray"):
        for name in ("25_Portfolios_ME_VAR_5x5", "Japan_Mom_Factor"):
            expected = parse_french_zip(snapshot.dataset_zip(name), name)
            for _ in range(2):
                assert_same_dataset(_snapshot_read(cache, name), expected)
        factors = load_factors("xray7", "us", snapshot=True, cache=cache)
    # (a file as the cache is warned about when the zips are looked up, as before; the
    # forms, which are only a speed-up, are not)
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [message for message in warned if PARSED_NAMESPACE in message]
    assert all("_CSV.zip" in message for message in warned)
    assert factors.attrs["vintages"]["25_Portfolios_ME_VAR_5x5"] == "202602"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, no leftovers


def test_the_first_offline_run_on_a_fresh_cache_keeps_forms_the_next_one_reads(
    tmp_path: Path,
) -> None:
    """The README's run, on its factors: a fresh cache, then a new process on the same cache."""
    cache = Cache(tmp_path / "fresh")
    assert not cache.root.exists()
    _forget()
    first = {
        (model, region): load_factors(model, region, snapshot=True, cache=cache)
        for model, region in (("xray7", "us"), ("ff6", "us"), ("ff5", "developed"))
    }
    kept = sorted(e.key for e in cache.entries())
    assert kept == sorted(
        f"{name}@snapshot.npz"
        for name in (
            "25_Portfolios_ME_VAR_5x5",
            "F-F_Momentum_Factor",
            "F-F_Research_Data_5_Factors_2x3",
            "Developed_5_Factors",
        )
    )
    assert cache.is_marked()
    stamps = {p: p.stat().st_mtime_ns for p in (cache.root / PARSED_NAMESPACE).iterdir()}
    _forget()
    for (model, region), frame in first.items():
        again = load_factors(model, region, snapshot=True, cache=cache)
        pd.testing.assert_frame_equal(again, frame, check_exact=True, check_freq=True)
        assert again.to_numpy().tobytes() == frame.to_numpy().tobytes()
        assert again.attrs == frame.attrs
    assert {p: p.stat().st_mtime_ns for p in (cache.root / PARSED_NAMESPACE).iterdir()} == stamps
    # pinned to the snapshot's vintage: the same form
    pinned = read_pinned_dataset("F-F_Research_Data_5_Factors_2x3", "202511", cache=cache)
    assert pinned.url == "snapshot:F-F_Research_Data_5_Factors_2x3_CSV.zip"
    assert_same_dataset(pinned, _snapshot_read(cache, "F-F_Research_Data_5_Factors_2x3"))
    assert sorted(e.key for e in cache.entries()) == kept


def test_snapshot_forms_are_listed_and_cleared_honestly(wide_console, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    for name in ("Developed_Mom_Factor", "Japan_5_Factors"):
        _snapshot_read(cache, name)
    # the listing of vintages names the snapshot's files once, and writes no form
    records = vintages_at_hand(cache)
    assert {(r.dataset, r.where) for r in records if r.dataset == "Japan_5_Factors"} == {
        ("Japan_5_Factors", "snapshot")
    }
    assert len(records) == len(SNAPSHOT) and {r.where for r in records} == {"snapshot"}
    assert sorted(e.key for e in cache.entries()) == [
        "Developed_Mom_Factor@snapshot.npz",
        "Japan_5_Factors@snapshot.npz",
    ]
    runner = CliRunner()
    info = runner.invoke(app, ["--cache-dir", str(cache.root), "cache", "info"])
    assert info.exit_code == 0, info.output
    rows = [line for line in info.stdout.splitlines() if "@snapshot.npz" in line]
    assert len(rows) == 2 and all("kenfrench-parsed" in row for row in rows)
    assert "202207" in rows[0] and "202512" in rows[1]  # each form's vintage
    assert "2 item(s)" in info.stdout
    cleared = runner.invoke(
        app, ["--cache-dir", str(cache.root), "cache", "clear", "kenfrench-parsed"]
    )
    assert cleared.exit_code == 0 and "removed 4 file(s)" in cleared.stderr
    assert sorted(p.name for p in cache.root.iterdir()) == ["CACHEDIR.TAG"]
    # the next offline read keeps it again; clearing everything removes it
    _forget()
    _snapshot_read(cache, "Japan_5_Factors")
    everything = runner.invoke(app, ["--cache-dir", str(cache.root), "cache", "clear"])
    assert everything.exit_code == 0 and "removed 2 file(s)" in everything.stderr
    assert list(cache.entries()) == []
