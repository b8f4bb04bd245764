"""A three-number model of an LLM backend's speed, its presets, and its fit to recorded traces.

One request with ``u`` uncached prompt tokens and ``n`` output tokens takes::

    first token  = ttft + u / prefill                  (seconds after the request is sent)
    whole reply  = ttft + u / prefill + (n - 1) * tpot

``ttft`` is what a request costs before any prompt token is processed (network, queueing, the
first decode step); ``prefill`` is prompt tokens per second; ``tpot`` the seconds per output
token after the first. ``serial`` says whether the backend serves one request at a time (the
embedded llama.cpp model, behind its lock) or runs concurrent requests side by side (a GPU
server batching them, or a hosted API).

Presets (:data:`PRESETS`) say where their figures come from; ``recorded`` is not a preset but
:func:`fit_speed` applied to a store's own ``kind="llm"`` spans.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from interlace._errors import UsageError


@dataclass(frozen=True, kw_only=True, slots=True)
class LLMSpeed:
    """How fast a backend serves requests (see the module docstring for the model).

    Attributes:
        ttft: fixed seconds before the first token of every request (beyond prefill).
        prefill: uncached prompt tokens processed per second.
        tpot: seconds per output token after the first.
        serial: the backend serves one request at a time (requests queue behind each other).
        name: a label for reports and store configs (``"gpu-8b"``, ``"recorded"``, ``"custom"``).
        source: where the figures come from.
    """

    ttft: float
    prefill: float
    tpot: float
    serial: bool = False
    name: str = "custom"
    source: str = ""

    def __post_init__(self) -> None:
        if self.ttft < 0 or self.tpot < 0 or self.prefill <= 0:
            raise UsageError(
                f"LLM speed needs ttft >= 0 s, tpot >= 0 s and prefill > 0 tokens/s; got "
                f"ttft={self.ttft}, prefill={self.prefill}, tpot={self.tpot}"
            )

    def first_token_seconds(self, uncached_prompt_tokens: int) -> float:
        """Seconds from sending a request to its first output token."""
        return self.ttft + max(uncached_prompt_tokens, 0) / self.prefill

    def request_seconds(self, uncached_prompt_tokens: int, output_tokens: int) -> float:
        """Seconds one whole request takes (``ttft`` + prefill + decode)."""
        decode = max(output_tokens - 1, 0) * self.tpot
        return self.first_token_seconds(uncached_prompt_tokens) + decode

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored in a replay store's config."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LLMSpeed:
        """Inverse of :meth:`to_dict`.

        Raises:
            UsageError: a figure is missing or invalid.
        """
        try:
            return cls(
                ttft=float(data["ttft"]),
                prefill=float(data["prefill"]),
                tpot=float(data["tpot"]),
                serial=bool(data.get("serial", False)),
                name=str(data.get("name", "custom")),
                source=str(data.get("source", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"bad LLM speed {dict(data)!r}: {exc}") from exc

    def __str__(self) -> str:
        mode = ", serial" if self.serial else ""
        return (
            f"{self.name} (ttft={self.ttft:g}s, prefill={self.prefill:g} tok/s, "
            f"tpot={self.tpot:g}s{mode})"
        )


PRESETS: dict[str, LLMSpeed] = {
    "gpu-8b": LLMSpeed(
        ttft=0.03,
        prefill=8000.0,
        tpot=0.008,
        name="gpu-8b",
        source=(
            "an 8B model in BF16 served by vLLM/SGLang on one H100 SXM, one stream: decode is "
            "memory-bound (16 GB of weights / 3.35 TB/s HBM3 = 4.8 ms per token at best, ~8 ms "
            "measured with kernel and scheduler overheads); prefill is compute-bound (2 x 8e9 "
            "FLOP per token at ~15 % of the 989 TFLOPS dense BF16 peak ~ 8,000 tokens/s); 30 ms "
            "for scheduling and the first step. Figures: NVIDIA H100 datasheet; derivation ours."
        ),
    ),
    "api-hosted": LLMSpeed(
        ttft=0.5,
        prefill=20000.0,
        tpot=0.012,
        name="api-hosted",
        source=(
            "a hosted small-model API (GPT-4o-mini class): ~0.5 s to the first token (network, "
            "queueing), ~80 output tokens/s per stream, prompt processing hidden in the TTFT; "
            "orders of magnitude as listed by public API latency leaderboards (Artificial "
            "Analysis, 2024-2025), not a measurement of ours."
        ),
    ),
    "asynclm-cloud": LLMSpeed(
        ttft=0.0,
        prefill=1e9,
        tpot=0.005,
        name="asynclm-cloud",
        source=(
            "the setting of AsyncLM's simulated cloud figures (Gim et al. 2024, arXiv "
            "2412.07017): 5 ms per output token; prompt processing taken as free."
        ),
    ),
}


def parse_speed(spec: str) -> LLMSpeed:
    """A speed from a preset name or ``key=value`` pairs.

    Args:
        spec: ``"gpu-8b"`` (see :data:`PRESETS`), or e.g.
            ``"ttft=0.03,prefill=8000,tpot=0.008"`` (seconds, tokens/s, seconds), optionally
            with ``serial=1``, or a preset with overrides: ``"gpu-8b,tpot=0.02"``.

    Raises:
        UsageError: an unknown preset or key, or a value that is not a number.
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    base: LLMSpeed | None = None
    values: dict[str, float] = {}
    for part in parts:
        if "=" not in part:
            if part not in PRESETS or base is not None:
                names = ", ".join(PRESETS)
                raise UsageError(
                    f"unknown LLM speed {part!r}: use a preset ({names}) or "
                    "ttft=SECONDS,prefill=TOKENS_PER_S,tpot=SECONDS"
                )
            base = PRESETS[part]
            continue
        key, _, raw = part.partition("=")
        key = key.strip()
        if key not in ("ttft", "prefill", "tpot", "serial"):
            raise UsageError(f"unknown LLM speed key {key!r}: use ttft, prefill, tpot or serial")
        try:
            values[key] = float(raw)
        except ValueError as exc:
            raise UsageError(f"LLM speed {key}={raw!r} is not a number") from exc
    if base is None:
        missing = [k for k in ("ttft", "prefill", "tpot") if k not in values]
        if missing:
            raise UsageError(f"LLM speed {spec!r} lacks {', '.join(missing)}")
        return LLMSpeed(
            ttft=values["ttft"],
            prefill=values["prefill"],
            tpot=values["tpot"],
            serial=bool(values.get("serial", 0.0)),
            name="custom",
            source=f"given on the command line: {spec}",
        )
    if not values:
        return base
    return replace(
        base,
        ttft=values.get("ttft", base.ttft),
        prefill=values.get("prefill", base.prefill),
        tpot=values.get("tpot", base.tpot),
        serial=bool(values.get("serial", base.serial)),
        name=f"{base.name}*",
        source=f"{base.source} Overridden: {spec}.",
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestTiming:
    """What :func:`fit_speed` needs of one recorded request (seconds, tokens)."""

    uncached_prompt_tokens: int
    output_tokens: int
    ttft: float
    duration: float


def fit_speed(requests: Iterable[RequestTiming], *, serial: bool = True) -> LLMSpeed:
    """The speed that best explains recorded requests: the ``recorded`` speed of a store.

    ``tpot`` is the recorded decode time after the first token over the tokens decoded in it
    (requests with two or more output tokens), so the fitted speed spends as much time decoding
    as the recording did; ``ttft`` and ``prefill`` come from a least-squares
    line ``ttft_i = ttft + u_i / prefill`` through the requests' measured TTFTs (``u_i`` their
    uncached prompt tokens). A line that does not rise (prompt length does not explain the TTFT)
    gives ``ttft`` = the mean TTFT and a free prefill (1e9 tokens/s); one with a negative
    intercept gives ``ttft`` = 0 and prefill = mean uncached tokens / mean TTFT.

    Raises:
        UsageError: no request has a measured TTFT.
    """
    rows = [r for r in requests if r.ttft >= 0]
    if not rows:
        raise UsageError("cannot fit an LLM speed: no recorded request has a time to first token")
    decoding = [r for r in rows if r.output_tokens >= 2 and r.duration >= r.ttft]
    steps = sum(r.output_tokens - 1 for r in decoding)
    tpot = sum(r.duration - r.ttft for r in decoding) / steps if steps else 0.0
    xs = [float(r.uncached_prompt_tokens) for r in rows]
    ys = [r.ttft for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    intercept = my - slope * mx
    if slope <= 0:  # prompt length does not explain the TTFT: a fixed cost per request
        slope, intercept = 0.0, my
    elif intercept < 0:  # prefill explains it all
        slope, intercept = (my / mx if mx > 0 else 0.0), 0.0
    prefill = 1.0 / slope if slope > 0 else 1e9
    return LLMSpeed(
        ttft=intercept,
        prefill=prefill,
        tpot=tpot,
        serial=serial,
        name="recorded",
        source=(
            f"fitted to {len(rows)} recorded requests (least squares on TTFT, token-weighted TPOT)"
        ),
    )
