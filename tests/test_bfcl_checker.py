"""BFCL AST checker rules and the hashed latency."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import pytest

from interlace._errors import ChecksumError
from interlace.bench.bfcl import check_parallel, hashed_latency
from interlace.bench.bfcl._data import multi_step_groups

FUNCS = [
    {
        "name": "play",
        "parameters": {
            "properties": {
                "artist": {"type": "string"},
                "minutes": {"type": "float"},
                "loud": {"type": "boolean"},
            },
            "required": ["artist", "minutes"],
        },
    }
]
TRUTH = [
    {"play": {"artist": ["Taylor Swift"], "minutes": [20.0], "loud": ["", False]}},
    {"play": {"artist": ["Maroon 5"], "minutes": [15.0], "loud": ["", False]}},
]


def _call(artist: str, minutes: object, **extra: object) -> dict[str, object]:
    return {"name": "play", "arguments": {"artist": artist, "minutes": minutes, **extra}}


def test_order_free_int_for_float_and_normalised_strings() -> None:
    assert check_parallel([_call("maroon 5", 15), _call("Taylor Swift", 20)], TRUTH, FUNCS)


def test_rejections() -> None:
    assert not check_parallel([_call("Taylor Swift", 20)], TRUTH, FUNCS)  # count
    assert not check_parallel([_call("Taylor Swift", 20), _call("Maroon 5", 16)], TRUTH, FUNCS)
    unknown = _call("Maroon 5", 15, volume=3)
    assert not check_parallel([_call("Taylor Swift", 20), unknown], TRUTH, FUNCS)
    missing = {"name": "play", "arguments": {"artist": "Maroon 5"}}
    assert not check_parallel([_call("Taylor Swift", 20), missing], TRUTH, FUNCS)
    wrong = {"name": "Play", "arguments": {"artist": "Maroon 5", "minutes": 15}}
    assert not check_parallel([_call("Taylor Swift", 20), wrong], TRUTH, FUNCS)


def test_hashed_latency_is_fixed_and_in_range() -> None:
    values = [hashed_latency(f"f{i}") for i in range(50)]
    assert all(0.03 <= v <= 0.5 for v in values) and len(set(values)) > 40
    assert hashed_latency("cd") == hashed_latency("cd")


def test_multi_step_groups_have_disjoint_classes() -> None:
    entries = [
        {"id": i, "involved_classes": c}
        for i, c in enumerate([["A"], ["A", "B"], ["C"], ["B"], ["D"]])
    ]
    groups = multi_step_groups(entries)
    assert [[e["id"] for e in g] for g in groups] == [[0, 2, 3]]


def test_categories_option_selects_bfcl_categories(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from interlace.bench.bfcl import bfcl
    from interlace.cli import app

    assert bfcl.with_categories(["parallel"]).categories == ("parallel",)
    store = tmp_path / "out.jsonl"
    args = ["bench", "bfcl", "--methods", "async", "--store", str(store)]
    result = CliRunner().invoke(app, [*args, "--categories", "parallel,nope"])
    assert result.exit_code != 0 and "unknown BFCL categories" in result.output
    assert not store.exists()
    result = CliRunner().invoke(
        app, ["bench", "hotpotqa", "--store", str(store), "--categories", "x"]
    )
    assert result.exit_code != 0 and "has no categories" in result.output


def test_data_fetch_bfcl_saves_the_verified_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlace.bench import _data
    from interlace.bench.bfcl import _data as bfcl_data

    entry = _data.DATASETS["bfcl"]
    assert (entry.url, entry.sha256) == (bfcl_data.REQUIREMENT, bfcl_data.SHA256)
    assert tmp_path / entry.path == bfcl_data.wheel_path(tmp_path)
    asked: list[str] = []

    def pip_download(requirement: str) -> bytes:
        asked.append(requirement)
        return b"PK fake wheel"

    with pytest.raises(ChecksumError):  # not the published bytes: nothing is written
        _data.fetch("bfcl", tmp_path, pip_download=pip_download)
    assert asked == ["bfcl-eval==2026.3.23"] and not (tmp_path / entry.path).exists()
    digest = hashlib.sha256(b"PK fake wheel").hexdigest()
    monkeypatch.setitem(_data.DATASETS, "bfcl", dataclasses.replace(entry, sha256=digest))
    assert _data.fetch("bfcl", tmp_path, pip_download=pip_download) == [tmp_path / entry.path]
    assert bfcl_data.wheel_path(tmp_path).read_bytes() == b"PK fake wheel"  # kept as is


def test_function_lines_carry_no_brackets_for_the_model_to_copy() -> None:
    from interlace.bench.bfcl import render_function

    line = render_function(FUNCS[0], latency=0.31)
    assert line.startswith("play(artist: string, minutes: float, optional loud: boolean)")
    assert line.endswith("# takes ~0.3 s") and "[" not in line and "=optional" not in line


def test_function_latency_follows_the_tool_latency_option() -> None:
    from interlace.bench._latency import Latency
    from interlace.bench.bfcl import function_latency

    names = [f"f{i}" for i in range(50)]
    assert [function_latency(n) for n in names] == [hashed_latency(n) for n in names]
    assert function_latency("cd", Latency.parse("real")) == hashed_latency("cd")
    assert {function_latency(n, Latency.parse("0.5s")) for n in names} == {0.5}
    wide = [function_latency(n, Latency.parse("uniform:0.5-2s")) for n in names]
    assert all(0.5 <= v <= 2.0 for v in wide) and max(wide) - min(wide) > 1.0
    normal = Latency.parse("normal:1s,0.2s", seed=3)
    draws = [function_latency(n, normal) for n in names]
    assert draws == [function_latency(n, normal) for n in names]  # fixed per function
    assert len(set(draws)) == len(draws) and 0.6 < sum(draws) / len(draws) < 1.4


def test_a_backend_with_a_missing_dependency_is_a_clear_data_error(tmp_path: Path) -> None:
    from interlace._errors import DataError
    from interlace.bench.bfcl import _tools

    folder = tmp_path / _tools._SRC
    folder.mkdir(parents=True)
    (folder / "broken_api.py").write_text("import no_such_module_xyz\n")
    before = set(sys.modules)
    try:
        with pytest.raises(DataError, match="no_such_module_xyz"):
            _tools._import(tmp_path, "broken_api")
        assert f"{_tools._PKG}.broken_api" not in sys.modules
    finally:  # the parent packages point at tmp_path: later tests must not see them
        for name in set(sys.modules) - before:
            del sys.modules[name]
