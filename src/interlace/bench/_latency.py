"""Simulated tool latency: a small grammar and a wrapper that adds it to any tool function.

Grammar (seconds or milliseconds; whitespace ignored)::

    real                     no added latency (the tool's own time)
    0.5s | 500ms | 0.5       a fixed delay
    uniform:0.2-0.8s         uniform between 0.2 s and 0.8 s (unit applies to both bounds)
    normal:0.5s,0.1s         normal with mean 0.5 s and standard deviation 0.1 s, clipped at 0

Delays are drawn from a seeded :class:`random.Random`, so a run is reproducible.
"""

from __future__ import annotations

import functools
import inspect
import random
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.to_thread

from interlace._errors import UsageError

Kind = Literal["real", "fixed", "uniform", "normal"]
_NUM = r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?"


def _seconds(value: str, unit: str | None) -> float:
    return float(value) / 1000.0 if unit == "ms" else float(value)


@dataclass(frozen=True, kw_only=True)
class Latency:
    """A distribution of extra seconds added before each tool call.

    Attributes:
        kind: ``"real"``, ``"fixed"``, ``"uniform"`` or ``"normal"``.
        a: fixed delay / uniform low bound / normal mean, seconds.
        b: uniform high bound / normal standard deviation, seconds.
        seed: seed of the random draws.
    """

    kind: Kind = "real"
    a: float = 0.0
    b: float = 0.0
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    @classmethod
    def parse(cls, spec: str, *, seed: int = 0) -> Latency:
        """Parse a latency spec (see module docstring).

        Raises:
            UsageError: the spec does not follow the grammar.
        """
        text = re.sub(r"\s+", "", spec.lower())
        if text in ("", "real", "none", "0"):
            return cls(seed=seed)
        if m := re.fullmatch(_NUM, text):
            return cls(kind="fixed", a=_seconds(m[1], m[2]), seed=seed)
        if m := re.fullmatch(rf"uniform:{_NUM}-{_NUM}", text):
            lo, hi = _seconds(m[1], m[2] or m[4]), _seconds(m[3], m[4])
            if lo > hi:
                raise UsageError(f"uniform latency needs low <= high, got {spec!r}")
            return cls(kind="uniform", a=lo, b=hi, seed=seed)
        if m := re.fullmatch(rf"normal:{_NUM},{_NUM}", text):
            return cls(kind="normal", a=_seconds(m[1], m[2]), b=_seconds(m[3], m[4]), seed=seed)
        raise UsageError(
            f"bad tool latency {spec!r}; use e.g. 'real', '0.5s', '500ms', "
            "'uniform:0.2-0.8s' or 'normal:0.5s,0.1s'"
        )

    def draw(self) -> float:
        """One delay, seconds (>= 0)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return self._rng.uniform(self.a, self.b)
        if self.kind == "normal":
            return max(0.0, self._rng.gauss(self.a, self.b))
        return 0.0

    def __str__(self) -> str:
        if self.kind == "real":
            return "real"
        if self.kind == "fixed":
            return f"{self.a:g}s"
        if self.kind == "uniform":
            return f"uniform:{self.a:g}-{self.b:g}s"
        return f"normal:{self.a:g}s,{self.b:g}s"


def with_latency(fn: Callable[..., Any], latency: Latency) -> Callable[..., Awaitable[Any]]:
    """Wrap a tool function so each call first sleeps ``latency.draw()`` seconds.

    The wrapper is async and keeps ``fn``'s name, docstring and signature (so a Tool built from
    it has the same schema). A sync ``fn`` runs in a worker thread, never on the event loop.
    With ``latency.kind == "real"`` the wrapper adds nothing but the thread hop.
    """
    is_async = inspect.iscoroutinefunction(fn)

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        delay = latency.draw()
        if delay > 0:
            await anyio.sleep(delay)
        if is_async:
            return await fn(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    preserve_signature(wrapper, fn)
    return wrapper


def preserve_signature(wrapper: Callable[..., Any], fn: Callable[..., Any]) -> None:
    """Give the async ``wrapper`` (made with ``functools.wraps(fn)``) ``fn``'s resolved schema.

    ``Tool.from_function`` unwraps ``__wrapped__`` to decide sync vs async, so the sync
    original is hidden, and its resolved type hints and signature are copied instead.
    """
    hints = typing.get_type_hints(fn)
    if hasattr(wrapper, "__wrapped__"):
        del wrapper.__wrapped__
    wrapper.__annotations__ = hints
    sig = inspect.signature(fn)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()
    ]
    wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=params, return_annotation=hints.get("return", sig.return_annotation)
    )
