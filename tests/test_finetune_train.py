"""The LoRA recipe's parts that run without torch, and the adapter in the embedded backend.

The training run itself needs the finetune extra (torch), which CI does not install; it is the
documented command in README.md ("Fine-tuning"). What is checked here: the loss mask, the error
without the extra, the llama.cpp adapter file, and (slow) that the embedded backend loads an
adapter written by :func:`write_adapter` and that it changes the greedy output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from interlace._errors import LLMModelNotFoundError, UsageError
from interlace.finetune import TrainConfig, encode, train, write_adapter
from interlace.finetune._adapter import base_tensors, gguf_name
from interlace.finetune._train import IGNORE
from interlace.llm import GenerationConfig, Message
from interlace.llm._models import resolve_model

RECORD = {
    "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
    "segments": [
        {"text": "[CALL] c1 [HEAD] f() [END]", "model": True},
        {"text": "\n[INTR] c1 [HEAD] 42 [END]\n", "model": False},
        {"text": "Done.", "model": True},
    ],
}


def _chars(text: str) -> list[int]:
    return [ord(c) for c in text]


def test_loss_is_on_the_models_own_tokens_only() -> None:
    ids, labels = encode(
        RECORD, prompt=lambda ms: _chars("".join(m["content"] for m in ms)), tokenize=_chars,
        end=[0],
    )  # fmt: skip
    assert len(ids) == len(labels)
    own = "".join(chr(i) if i else "<end>" for i, x in zip(ids, labels, strict=True) if x != IGNORE)
    assert own == "[CALL] c1 [HEAD] f() [END]Done.<end>"
    context = "".join(chr(i) for i, x in zip(ids, labels, strict=True) if x == IGNORE)
    assert context == "SQ\n[INTR] c1 [HEAD] 42 [END]\n"


def test_training_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now raises ImportError
    traces = tmp_path / "t.jsonl"
    traces.write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match=r"interlace\[finetune\]"):
        train(traces, tmp_path / "out", TrainConfig(steps=1))
    with pytest.raises(UsageError):
        train(traces, tmp_path / "out", TrainConfig(steps=0))


def test_module_names_map_to_gguf_tensors() -> None:
    assert gguf_name("base_model.model.model.layers.3.self_attn.v_proj") == "blk.3.attn_v.weight"
    assert gguf_name("model.layers.12.mlp.down_proj") == "blk.12.ffn_down.weight"
    with pytest.raises(UsageError):
        gguf_name("model.layers.0.self_attn.q_proj")  # rows permuted in llama GGUFs


def _base() -> Path:
    return resolve_model("smollm2-135m")


def _factors(scale: float, rank: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    _, shapes = base_tensors(_base())
    rng = np.random.default_rng(0)
    factors = {}
    for i in range(4):
        for name in (f"blk.{i}.attn_v.weight", f"blk.{i}.ffn_down.weight"):
            n_in, n_out = shapes[name][0], shapes[name][1]
            a = rng.normal(0, 1, (rank, n_in)).astype(np.float32)
            b = (scale * rng.normal(0, 1, (n_out, rank))).astype(np.float32)
            factors[name] = (a, b)
    return factors


def test_the_adapter_file_has_llama_cpp_metadata(tmp_path: Path) -> None:
    import gguf

    out = write_adapter(tmp_path / "a.gguf", _base(), _factors(0.1), alpha=8.0)
    reader = gguf.GGUFReader(str(out))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["general.architecture"].contents() == "llama"
    assert float(reader.fields["adapter.lora.alpha"].contents()) == 8.0
    shapes = {t.name: [int(d) for d in t.shape] for t in reader.tensors}
    assert shapes["blk.0.attn_v.weight.lora_a"] == [576, 4]  # ne: [n_in, r]
    assert shapes["blk.0.attn_v.weight.lora_b"] == [4, 192]  # ne: [r, n_out]


def test_bad_factors_are_usage_errors(tmp_path: Path) -> None:
    good = _factors(0.1)
    name = "blk.0.attn_v.weight"
    a, b = good[name]
    cases = [
        {"blk.0.nope.weight": (a, b)},
        {name: (a.T, b)},
        {name: (a, b[:, :2])},
        {},
    ]
    for factors in cases:
        with pytest.raises(UsageError):
            write_adapter(tmp_path / "x.gguf", _base(), factors, alpha=8.0)
    with pytest.raises(UsageError):
        write_adapter(tmp_path / "x.gguf", _base(), good, alpha=0.0)


def _greedy(spec: str) -> str:
    from interlace.llm import load_llm

    llm = load_llm(spec, n_ctx=512, n_threads=1)
    messages = [Message(role="user", content="Name three colours.")]
    return llm.complete_sync(messages, GenerationConfig(max_tokens=12, temperature=0.0)).text


@pytest.mark.slow
def test_the_embedded_backend_loads_the_adapter_and_it_changes_the_output(
    tmp_path: Path,
) -> None:
    strong = write_adapter(tmp_path / "strong.gguf", _base(), _factors(0.5), alpha=8.0)
    zero = write_adapter(tmp_path / "zero.gguf", _base(), _factors(0.0), alpha=8.0)
    base = _greedy("local:smollm2-135m")
    assert _greedy(f"local:smollm2-135m+{zero}") == base  # B = 0: no change, but it loaded
    assert _greedy(f"local:smollm2-135m+{strong}") != base
    with pytest.raises(LLMModelNotFoundError):
        _greedy(f"local:smollm2-135m+{tmp_path / 'missing.gguf'}")
