"""``interlace finetune``: simulated AsyncLM traces (paper §5) and a LoRA recipe for them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interlace._errors import InterlaceError, UsageError
from interlace.cli import app
from interlace.cli._common import fail

finetune_app = typer.Typer(
    name="finetune",
    help="Fine-tune a local model for AsyncLM: simulate CML traces, train a LoRA adapter.",
    no_args_is_help=True,
)
app.add_typer(finetune_app)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@finetune_app.command("simulate")
def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write (replaced).")],
    categories: Annotated[
        str,
        typer.Option(
            help="Comma-separated BFCL categories: parallel, parallel_multiple, "
            "multi_turn_base, multi_step."
        ),
    ] = "parallel,parallel_multiple,multi_turn_base,multi_step",
    n: Annotated[int, typer.Option("--n", min=0, help="Conversations to simulate.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the latency and token-time draws.")] = 0,
    policies: Annotated[
        str, typer.Option(help="Comma-separated: async (LPT, interrupts, traps), sync.")
    ] = "async,sync",
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory (default: $INTERLACE_DATA_DIR, else the user's)."),
    ] = None,
) -> None:
    """Simulate N CML conversations from BFCL ground truth on training ids only (never the
    ids the benchmark evaluates; see `interlace.finetune` for the split), one JSON line per
    conversation and policy. The same seed writes the same file.

    Example: `interlace finetune simulate --categories parallel,multi_step --n 200 --seed 0
    --out traces.jsonl`
    """
    from interlace.bench import _data
    from interlace.bench.bfcl import fetch_wheel
    from interlace.finetune._bfcl import episodes, sample_traces, write_traces
    from interlace.finetune._simulate import POLICIES, SimPolicy

    try:
        root = _data.data_dir(data_dir)
        fetch_wheel(root)
        chosen: list[SimPolicy] = []
        for p in _split(policies):
            if p not in POLICIES:
                raise UsageError(f"unknown policy {p!r}; use {', '.join(POLICIES)}")
            chosen.append(p)
        found = episodes(root, _split(categories))
        count = write_traces(sample_traces(found, n=n, seed=seed, policies=chosen), out)
    except InterlaceError as exc:
        raise fail(exc) from exc
    typer.echo(f"{count} traces from {len(found)} training episodes -> {out}")


@finetune_app.command("train")
def train_command(
    traces: Annotated[Path, typer.Option("--traces", help="Traces of `finetune simulate`.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for adapter.gguf, train.json.")],
    model: Annotated[
        str, typer.Option(help="Base model: registry name or GGUF path.")
    ] = "smollm2-135m",
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 20,
    batch: Annotated[int, typer.Option(min=1, help="Conversations per step.")] = 1,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank r.")] = 8,
    alpha: Annotated[float, typer.Option(help="LoRA alpha (updates scaled by alpha/r).")] = 16.0,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    max_tokens: Annotated[
        int, typer.Option(min=1, help="Leave out conversations longer than this (tokens).")
    ] = 1024,
    threads: Annotated[int, typer.Option(min=1, help="torch threads.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the order and the LoRA init.")] = 0,
) -> None:
    """Train a LoRA adapter on simulated traces (loss on the model's own tokens only) and
    write it as a llama.cpp adapter, OUT/adapter.gguf; prints seconds and memory per step.
    Needs `pip install 'interlace[finetune]'`.

    Serve it with `--llm local:MODEL+OUT/adapter.gguf`.
    """
    from interlace.finetune._train import TrainConfig, summarize, train

    config = TrainConfig(
        model=model,
        steps=steps,
        batch=batch,
        rank=rank,
        alpha=alpha,
        lr=lr,
        max_tokens=max_tokens,
        threads=threads,
        seed=seed,
    )
    try:
        report = train(traces, out, config, log=typer.echo)
    except InterlaceError as exc:
        raise fail(exc) from exc
    figures = summarize(report.steps)
    typer.echo(
        f"{figures['seconds_per_step']:.2f} s/step, peak {figures['peak_rss_gib']:.2f} GiB, "
        f"loss {figures['first_loss']:.3f} -> {figures['last_loss']:.3f}"
    )
