"""Backend spec grammar, price table, stop filter and prefix cache (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlace._errors import LLMModelNotFoundError, UsageError
from interlace.llm import (
    BACKEND_SPEC_HELP,
    OpenAICompatLLM,
    PrefixCache,
    PriceTable,
    Snapshot,
    StopFilter,
    Usage,
    load_llm,
    parse_spec,
)
from interlace.llm._engine import common_prefix


@pytest.mark.parametrize(
    ("spec", "kind", "model", "url"),
    [
        ("local", "local", "qwen2.5-coder-0.5b", None),
        ("local:qwen2.5-coder-1.5b", "local", "qwen2.5-coder-1.5b", None),
        ("local:/m/x.gguf", "local", "/m/x.gguf", None),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
        ("azure:my-deploy", "azure", "my-deploy", None),
        ("azure", "azure", None, None),
        (
            "vllm:Qwen/Qwen2.5-7B@http://gpu:8000/v1",
            "vllm",
            "Qwen/Qwen2.5-7B",
            "http://gpu:8000/v1",
        ),
        ("ollama:qwen2.5:0.5b", "ollama", "qwen2.5:0.5b", None),
        ("llamacpp:m@http://127.0.0.1:8080/v1", "llamacpp", "m", "http://127.0.0.1:8080/v1"),
        ("friendli:meta-llama-3.1-8b-instruct", "friendli", "meta-llama-3.1-8b-instruct", None),
    ],
)
def test_parse_spec(spec: str, kind: str, model: str | None, url: str | None) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, parsed.base_url) == (kind, model, url)


@pytest.mark.parametrize(
    "spec", ["gpt4", "vllm", "vllm:", "local:x@http://h/v1", "friendli:m@http://h"]
)
def test_bad_spec_shows_the_grammar(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_spec(spec)
    assert BACKEND_SPEC_HELP in str(info.value)
    assert repr(spec) in str(info.value)


def test_load_llm_builds_servers_without_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = load_llm("ollama:qwen2.5:0.5b")
    assert isinstance(llm, OpenAICompatLLM) and llm.model == "qwen2.5:0.5b"
    assert str(llm.client.base_url).startswith("http://localhost:11434/v1")
    llm = load_llm("sglang:m@http://10.0.0.2:30000/v1", timeout=5.0)
    assert str(llm.client.base_url).startswith("http://10.0.0.2:30000/v1")
    monkeypatch.delenv("FRIENDLI_TOKEN", raising=False)
    with pytest.raises(UsageError, match="FRIENDLI_TOKEN"):
        load_llm("friendli:m")
    monkeypatch.setenv("FRIENDLI_TOKEN", "tok")
    assert load_llm("friendli:m").client.api_key == "tok"


def test_azure_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_ENDPOINT", "AZURE_OPENAI_API_VERSION", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AZURE_DEPLOYMENT_NAME", raising=False)
    with pytest.raises(UsageError, match="AZURE_ENDPOINT"):
        load_llm("azure")
    monkeypatch.setenv("AZURE_ENDPOINT", "https://x.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2024-06-01")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    monkeypatch.setenv("AZURE_DEPLOYMENT_NAME", "dep")
    assert load_llm("azure").model == "dep"
    assert load_llm("azure:other").model == "other"


def test_local_spec_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(LLMModelNotFoundError, match="known models"):
        load_llm("local:llama-70b")
    with pytest.raises(LLMModelNotFoundError, match="no GGUF file"):
        load_llm(f"local:{tmp_path}/none.gguf")


def test_prices_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    table = PriceTable.default()
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert table.cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.15 + 0.60)
    assert table.cost("gpt-4o-2024-08-06", usage) == pytest.approx(2.50 + 10.00)
    assert table.cost("gpt-3.5-turbo", Usage(prompt_tokens=2000, completion_tokens=1000)) == (
        pytest.approx((2000 * 0.5 + 1000 * 1.5) / 1e6)
    )
    cached = Usage(prompt_tokens=1_000_000, cached_prompt_tokens=1_000_000)
    assert table.cost("gpt-4o", cached) == pytest.approx(1.25)
    assert table.cost("qwen2.5-coder-0.5b", usage) == 0.0
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"my-model": {"input": 1, "output": 2}, "gpt-4o": {"input": 5, "output": 5}})
    )
    monkeypatch.setenv("INTERLACE_PRICES", str(path))
    table = PriceTable.default()
    assert table.cost("my-model", usage) == pytest.approx(3.0)
    assert table.cost("gpt-4o", usage) == pytest.approx(10.0)
    assert table.cost("gpt-4o-mini", usage) == pytest.approx(0.75)  # longest prefix wins
    path.write_text('{"m": {"input": "cheap"}}')
    with pytest.raises(UsageError, match="bad price entry"):
        PriceTable.default()


def _feed_all(stops: tuple[str, ...], pieces: list[str]) -> tuple[list[str], str, bool]:
    f = StopFilter(stops)
    out = [f.feed(p) for p in pieces]
    if not f.stopped:
        out.append(f.flush())
    return [o for o in out if o], f.text, f.stopped


def test_stop_filter_holds_back_partial_stop_sequences() -> None:
    out, text, stopped = _feed_all(("<END_OF_PLAN>",), ["1. a()\n", "<END", "_OF", "_PLAN>", "x"])
    assert stopped and text == "1. a()\n" and "".join(out) == text
    assert "<END" not in "".join(out)
    out, text, stopped = _feed_all(("\nObservation:",), ["Thought: x", "\n", "Obs", "erved"])
    assert not stopped and "".join(out) == text == "Thought: x\nObserved"
    out, text, _ = _feed_all(("ab",), ["xa", "b"])
    assert text == "x" and out == ["x"]


def test_prefix_cache_is_bounded_and_prefers_longest_prefix() -> None:
    cache = PrefixCache(max_entries=2, max_bytes=1000, min_tokens=2)
    a = Snapshot(tokens=(1, 2, 3, 4), data=b"a" * 100)
    b = Snapshot(tokens=(1, 2, 9, 9, 9), data=b"b" * 100)
    cache.put(a)
    cache.put(b)
    snap, n = cache.best([1, 2, 3, 4, 5])
    assert snap is a and n == 4
    cache.put(Snapshot(tokens=(7, 7, 7), data=b"c" * 100))  # evicts b (least recently used)
    assert [s.data[:1] for s in cache.entries] == [b"a", b"c"]
    cache.put(Snapshot(tokens=(1, 2, 3, 4, 5, 6), data=b"d" * 100))  # supersedes a
    assert [s.data[:1] for s in cache.entries] == [b"c", b"d"]
    cache.put(Snapshot(tokens=(5, 5, 5), data=b"e" * 900))  # byte bound evicts older ones
    assert cache.nbytes <= 1000 and cache.entries[-1].data[:1] == b"e"
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
