"""AsyncLM's analytical latency model (arXiv 2412.07017, Section 4.1).

For independent calls with generation times ``G`` (seconds the model spends writing each call)
and execution times ``E`` (seconds each call runs)::

    L_sync          = ΣG + ΣE
    L_sync_parallel = ΣG + max E
    L_async         = max_f ( E(f) + Σ_{g : E(g) >= E(f)} G(g) )

The async figure assumes the calls are written longest-first (longest processing time first is
optimal for independent calls): call ``f`` can only start once every call at least as slow as it
has been written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class LatencyModel:
    """Modelled task latency of the three calling styles, seconds."""

    sync: float
    sync_parallel: float
    async_: float

    def as_dict(self) -> dict[str, float]:
        """``{"sync": ..., "sync_parallel": ..., "async": ...}`` (seconds)."""
        data = asdict(self)
        data["async"] = data.pop("async_")
        return data


def latency_model(gen: Sequence[float], exe: Sequence[float]) -> LatencyModel:
    """Evaluate the model for calls with generation times ``gen`` and execution times ``exe``.

    Args:
        gen: seconds to generate each call, shape ``[n_calls]``.
        exe: seconds to execute each call, shape ``[n_calls]`` (same order).

    Raises:
        ValueError: the two sequences differ in length.
    """
    if len(gen) != len(exe):
        raise ValueError(f"gen has {len(gen)} entries but exe has {len(exe)}")
    if not gen:
        return LatencyModel(sync=0.0, sync_parallel=0.0, async_=0.0)
    total_gen = sum(gen)
    asynchronous = max(
        e_f + sum(g for g, e_g in zip(gen, exe, strict=True) if e_g >= e_f) for e_f in exe
    )
    return LatencyModel(
        sync=total_gen + sum(exe), sync_parallel=total_gen + max(exe), async_=asynchronous
    )
