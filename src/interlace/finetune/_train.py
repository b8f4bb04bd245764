"""A LoRA recipe for the simulated traces that runs on a small CPU machine (AsyncLM §5).

``pip install 'interlace[finetune]'`` brings torch (CPU), transformers, peft and gguf; nothing
here imports them before :func:`train` is called.

The recipe:

1. the base weights are the registry model's GGUF, dequantised by transformers' GGUF loader
   (``from_pretrained(dir, gguf_file=...)``) into float32;
2. each trace is tokenised the way the runtime sees it (:func:`encode`): the prompt is the
   embedded engine's own chat prefix (``TokenEngine.chat_prefix``, llama.cpp's tokenizer), each
   model segment and each injected interrupt is tokenised on its own (the runtime decodes the
   former token by token and evaluates the latter as a separate batch), and the end-of-turn
   token follows the reply;
3. the loss is the cross-entropy on the model's own tokens only (its ``[CALL]``/``[TRAP]``
   blocks, separators, final answer and end of turn); the prompt and every ``[INTR]`` block
   are context, never targets;
4. peft LoRA (rank ``r``, ``alpha``) on the projections llama.cpp can take as an adapter
   (:data:`~interlace.finetune._adapter.TARGETS`), AdamW, gradient clipping at 1.0, one thread
   by default; seconds and memory of every step are printed;
5. the adapter is written as a llama.cpp LoRA GGUF (:func:`~interlace.finetune.write_adapter`),
   which the embedded backend loads: ``local:NAME+DIR/adapter.gguf``.
"""

from __future__ import annotations

import json
import random
import resource
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interlace._errors import DataError, UsageError
from interlace.finetune._adapter import TARGETS, gguf_name, write_adapter

IGNORE = -100
"""Label of a token that is context, not a target (the prompt and injected interrupts)."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Settings of one LoRA run.

    Attributes:
        model: registry name (``interlace models list``) or GGUF path of the base model.
        steps: optimizer steps.
        batch: conversations per step (their losses are averaged per target token).
        rank: LoRA rank ``r``; ``alpha``: LoRA alpha (updates scaled by ``alpha / r``).
        lr: AdamW learning rate.
        max_tokens: conversations longer than this (prompt + reply, tokens) are left out.
        threads: torch threads.
        seed: seeds the conversation order and the LoRA initialisation.
        targets: Hugging Face module names to adapt (a subset of :data:`TARGETS`).
    """

    model: str = "smollm2-135m"
    steps: int = 20
    batch: int = 1
    rank: int = 8
    alpha: float = 16.0
    lr: float = 1e-3
    max_tokens: int = 1024
    threads: int = 1
    seed: int = 0
    targets: tuple[str, ...] = tuple(TARGETS)


@dataclass(frozen=True, kw_only=True)
class StepLog:
    """One optimizer step: ``loss`` (mean cross-entropy per target token, nats), ``tokens`` (in
    the batch), ``targets`` (tokens with a label), ``seconds`` (wall time of the step), ``rss``
    and ``peak_rss`` (resident memory after the step and its peak so far, bytes)."""

    step: int
    loss: float
    tokens: int
    targets: int
    seconds: float
    rss: int
    peak_rss: int


@dataclass(frozen=True, kw_only=True)
class TrainReport:
    """What :func:`train` did: the adapter written, the steps, and the data used."""

    adapter: Path
    steps: tuple[StepLog, ...]
    conversations: int
    skipped: int
    load_seconds: float
    extra: Mapping[str, Any] = field(default_factory=dict)


def encode(
    record: Mapping[str, Any],
    *,
    prompt: Callable[[Sequence[Mapping[str, str]]], list[int]],
    tokenize: Callable[[str], list[int]],
    end: Sequence[int],
) -> tuple[list[int], list[int]]:
    """Token ids and labels of one simulated conversation (a record of ``sample_traces``).

    Args:
        record: ``{"messages": [...], "segments": [{"text", "model"}, ...]}``.
        prompt: the prompt's token ids for the messages, up to where the reply begins.
        tokenize: token ids of a text (no special tokens added).
        end: the end-of-turn token ids that close the reply (targets).

    Returns:
        ``(ids, labels)`` of equal length; a label is the id itself for the model's own tokens
        and :data:`IGNORE` for the prompt and for injected interrupts.

    Raises:
        DataError: the record has no messages or segments of the expected shape.
    """
    try:
        messages = list(record["messages"])
        segments = [(str(s["text"]), bool(s["model"])) for s in record["segments"]]
    except (KeyError, TypeError) as exc:
        raise DataError(f"not a simulated trace record: {exc!r}") from exc
    ids = list(prompt(messages))
    labels = [IGNORE] * len(ids)
    for text, own in segments:
        tokens = tokenize(text)
        ids += tokens
        labels += tokens if own else [IGNORE] * len(tokens)
    ids += end
    labels += end
    return ids, labels


def read_traces(path: Path) -> list[dict[str, Any]]:
    """The records of a traces file (``interlace finetune simulate``).

    Raises:
        DataError: the file is missing or a line is not JSON.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read traces from {path}: {exc}") from exc


class RuntimeTokens:
    """The embedded runtime's tokenisation of a model (llama.cpp, vocabulary only).

    Args:
        gguf: the model's GGUF file.
    """

    def __init__(self, gguf: Path) -> None:
        from llama_cpp import Llama

        from interlace.llm._engine import PrefixCache, TokenEngine

        llama = Llama(str(gguf), n_ctx=64, n_batch=64, vocab_only=True, verbose=False)
        self.engine = TokenEngine(llama, cache=PrefixCache(max_entries=0, max_bytes=0))
        self.end = self._end_of_turn()

    def prompt(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """Token ids of the chat prefix of ``messages``, as the runtime prefills it."""
        from interlace.llm._base import Message

        chat = [Message(role=m["role"], content=m["content"]) for m in messages]  # type: ignore[arg-type]
        return self.engine.tokenize(self.engine.chat_prefix(chat), add_bos=True, special=True)

    def text(self, text: str) -> list[int]:
        """Token ids of reply text, as the runtime evaluates injected text."""
        return self.engine.tokenize(text, add_bos=False, special=False)

    def _end_of_turn(self) -> list[int]:
        """The token the template closes an assistant turn with (the model's stop token)."""
        from interlace.llm._base import Message

        marker = "\x00reply\x00"
        chat = [Message(role="user", content="hi"), Message(role="assistant", content=marker)]
        rendered = self.engine.chat_prefix(chat)
        tail = rendered[rendered.find(marker) + len(marker) :]
        tokens = self.engine.tokenize(tail, add_bos=False, special=True)
        if tokens and self.engine.is_eog(tokens[0]):
            return tokens[:1]
        return [self.engine.eos_token]


def _imports() -> tuple[Any, Any, Any]:
    try:
        import peft
        import torch
        import transformers
    except ImportError as exc:
        raise UsageError(
            f"fine-tuning needs the finetune extra ({exc.name} is missing): "
            "pip install 'interlace[finetune]'"
        ) from exc
    return torch, transformers, peft


def _memory() -> tuple[int, int]:
    """Resident memory now and at its peak, bytes (Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        rss = pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        rss = peak
    return rss, peak


def _check(config: TrainConfig) -> None:
    if config.steps < 1 or config.batch < 1 or config.rank < 1 or config.threads < 1:
        raise UsageError("steps, batch, rank and threads must be >= 1")
    if not config.lr > 0 or not config.alpha > 0:
        raise UsageError("lr and alpha must be > 0")
    unknown = set(config.targets) - set(TARGETS)
    if unknown or not config.targets:
        raise UsageError(f"LoRA targets must be among {', '.join(TARGETS)}, got {config.targets}")


def train(
    traces: Path,
    out: Path,
    config: TrainConfig = TrainConfig(),
    *,
    log: Callable[[str], None] = print,
) -> TrainReport:
    """Train a LoRA adapter on simulated traces and write it as ``out/adapter.gguf``.

    Args:
        traces: a JSON Lines file of ``interlace finetune simulate``.
        out: output directory: ``adapter.gguf`` (llama.cpp LoRA) and ``train.json`` (the
            config and every step's loss, seconds and memory).
        config: the run's settings.
        log: receives one line per step (and a few about loading).

    Returns:
        The report (also in ``train.json``).

    Raises:
        UsageError: the finetune extra is not installed, or a setting is out of range.
        LLMModelNotFoundError: the base model is unknown or not fetched.
        DataError: the traces cannot be read, or none fits ``max_tokens``.
    """
    from interlace.llm._models import resolve_model

    _check(config)
    torch, transformers, peft = _imports()
    gguf = resolve_model(config.model)
    records = read_traces(traces)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    runtime = RuntimeTokens(gguf)
    data = [
        encode(r, prompt=runtime.prompt, tokenize=runtime.text, end=runtime.end) for r in records
    ]
    kept = [d for d in data if len(d[0]) <= config.max_tokens]
    if not kept:
        raise DataError(f"no trace in {traces} fits max_tokens={config.max_tokens}")
    skipped = len(data) - len(kept)
    log(f"{len(kept)} conversations ({skipped} over {config.max_tokens} tokens left out)")
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    lora = peft.LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=0.0,
        bias="none",
        target_modules=list(config.targets),
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(model, lora)
    load_seconds = time.perf_counter() - started
    log(f"loaded {gguf.name} in {load_seconds:.1f} s; {_trainable(model)} trainable parameters")
    steps = _loop(torch, model, kept, config, log)
    adapter = write_adapter(out / "adapter.gguf", gguf, lora_factors(model), alpha=config.alpha)
    report = TrainReport(
        adapter=adapter,
        steps=tuple(steps),
        conversations=len(kept),
        skipped=len(data) - len(kept),
        load_seconds=load_seconds,
        extra={"base": str(gguf), "traces": str(traces), "config": asdict(config)},
    )
    (out / "train.json").write_text(json.dumps(_jsonable(report), indent=1), encoding="utf-8")
    log(f"adapter -> {adapter}")
    return report


def _trainable(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _loop(
    torch: Any, model: Any, data: Sequence[tuple[list[int], list[int]]], config: TrainConfig,
    log: Callable[[str], None],
) -> list[StepLog]:  # fmt: skip
    """The optimizer steps: conversations in a seeded order, cycled."""
    order = list(range(len(data)))
    random.Random(config.seed).shuffle(order)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    model.train()
    logs = []
    for step in range(config.steps):
        t0 = time.perf_counter()
        batch = [data[order[(step * config.batch + k) % len(order)]] for k in range(config.batch)]
        targets = sum(sum(1 for x in labels[1:] if x != IGNORE) for _, labels in batch)
        total = 0.0
        optimizer.zero_grad()
        for ids, labels in batch:
            logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
            gold = torch.tensor(labels[1:])
            loss = torch.nn.functional.cross_entropy(
                logits.float(), gold, ignore_index=IGNORE, reduction="sum"
            ) / max(targets, 1)
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        rss, peak = _memory()
        entry = StepLog(
            step=step + 1,
            loss=total,
            tokens=sum(len(ids) for ids, _ in batch),
            targets=targets,
            seconds=time.perf_counter() - t0,
            rss=rss,
            peak_rss=peak,
        )
        logs.append(entry)
        log(
            f"step {entry.step}/{config.steps} loss {entry.loss:.4f} tokens {entry.tokens} "
            f"(targets {entry.targets}) {entry.seconds:.2f} s rss {rss / 2**30:.2f} GiB "
            f"peak {peak / 2**30:.2f} GiB"
        )
    return logs


def lora_factors(model: Any) -> dict[str, tuple[Any, Any]]:
    """The trained ``(A, B)`` of every LoRA module of a peft model, keyed by the base GGUF
    tensor name (numpy float32, shapes ``(r, n_in)`` and ``(n_out, r)``).

    Raises:
        UsageError: a LoRA module has no GGUF counterpart.
    """
    factors = {}
    for name, module in model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if lora_a is None or "default" not in lora_a:
            continue
        a = lora_a["default"].weight.detach().float().cpu().numpy()
        b = module.lora_B["default"].weight.detach().float().cpu().numpy()
        factors[gguf_name(name)] = (a, b)
    return factors


def _jsonable(report: TrainReport) -> dict[str, Any]:
    return {
        "adapter": str(report.adapter),
        "conversations": report.conversations,
        "skipped": report.skipped,
        "load_seconds": report.load_seconds,
        "steps": [asdict(s) for s in report.steps],
        **dict(report.extra),
    }


def summarize(steps: Iterable[StepLog]) -> dict[str, float]:
    """Mean seconds per step, peak memory (GiB) and first/last loss of a run's steps."""
    logs = list(steps)
    if not logs:
        return {}
    return {
        "seconds_per_step": sum(s.seconds for s in logs) / len(logs),
        "peak_rss_gib": max(s.peak_rss for s in logs) / 2**30,
        "first_loss": logs[0].loss,
        "last_loss": logs[-1].loss,
    }
