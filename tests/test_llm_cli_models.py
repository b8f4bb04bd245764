"""``interlace models list`` and ``interlace models fetch``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from interlace.cli import app
from interlace.llm import MODELS


def test_models_list_shows_presence_and_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INTERLACE_CACHE_DIR", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "smollm2-135m.gguf").write_bytes(b"\0")  # wrong size: absent
    result = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in MODELS:
        assert name in result.output
    assert "yes" not in result.output and "no" in result.output
    assert str(tmp_path) in result.output


def test_models_fetch_unknown_name_fails_with_known_names() -> None:
    result = CliRunner().invoke(app, ["models", "fetch", "llama-70b"])
    assert result.exit_code == 2
    assert "qwen2.5-coder-0.5b" in result.output


@pytest.mark.slow
def test_models_fetch_recognises_present_file() -> None:
    result = CliRunner().invoke(app, ["models", "fetch", "smollm2-135m"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("smollm2-135m.gguf")


def test_ensure_local_model_fetches_only_missing_registry_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rich.console import Console

    from interlace.cli import _models

    fetched: list[str] = []
    monkeypatch.setenv("INTERLACE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(
        _models, "fetch_model", lambda name, progress: fetched.append(name) or tmp_path
    )
    console = Console(file=open(tmp_path / "log.txt", "w"))  # noqa: SIM115
    _models.ensure_local_model("openai:gpt-4o-mini", console)
    _models.ensure_local_model(f"local:{tmp_path / 'x.gguf'}", console)
    assert fetched == []
    _models.ensure_local_model("local", console)
    _models.ensure_local_model("local:smollm2-135m", console)
    assert fetched == ["qwen2.5-coder-0.5b", "smollm2-135m"]
