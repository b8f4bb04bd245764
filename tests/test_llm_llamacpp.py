"""Loading llama.cpp models without the AMX kernels that crash on some Xeons (llm/_llamacpp.py)."""

from __future__ import annotations

import threading

import llama_cpp.llama_cpp as lib
import pytest

from interlace.llm import _llamacpp
from interlace.llm._llamacpp import load_llama, without_amx
from interlace.llm._models import model_path


def test_without_amx_turns_off_extra_buffer_types_and_restores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_llamacpp, "amx_kernels_built", lambda: True)
    original = lib.llama_model_default_params
    assert original().use_extra_bufts is True
    with without_amx() as changed:
        assert changed is True
        assert lib.llama_model_default_params().use_extra_bufts is False
    assert lib.llama_model_default_params is original
    assert lib.llama_model_default_params().use_extra_bufts is True


def test_without_amx_restores_when_the_load_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_llamacpp, "amx_kernels_built", lambda: True)
    original = lib.llama_model_default_params
    with pytest.raises(RuntimeError, match="load failed"), without_amx():
        raise RuntimeError("load failed")
    assert lib.llama_model_default_params is original


def test_without_amx_leaves_a_build_without_amx_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_llamacpp, "amx_kernels_built", lambda: False)
    original = lib.llama_model_default_params
    with without_amx() as changed:
        assert changed is False
        assert lib.llama_model_default_params is original


def test_without_amx_serialises_concurrent_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_llamacpp, "amx_kernels_built", lambda: True)
    original = lib.llama_model_default_params
    inside = threading.Event()
    release = threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with without_amx():
            inside.set()
            release.wait(5)

    def second() -> None:
        inside.wait(5)
        with without_amx():
            seen.append(lib.llama_model_default_params().use_extra_bufts)

    a, b = threading.Thread(target=first), threading.Thread(target=second)
    a.start()
    b.start()
    inside.wait(5)
    b.join(0.2)
    assert b.is_alive(), "the second load must wait for the first"
    release.set()
    a.join(5)
    b.join(5)
    assert seen == [False]
    assert lib.llama_model_default_params is original


def test_load_llama_generates_with_the_real_model() -> None:
    """The real load path: on a build with AMX kernels this segfaulted before the fix."""
    llama = load_llama(model_path("smollm2-135m"), n_ctx=256, n_threads=1, verbose=False)
    tokens = llama.tokenize(b"The capital of France is")
    llama.eval(tokens)
    assert llama.n_tokens == len(tokens)
