"""AsyncLM's analytical latency model (arXiv 2412.07017, Section 4.1).

For independent calls with generation times ``G`` (seconds the model spends writing each call)
and execution times ``E`` (seconds each call runs)::

    L_sync          = ΣG + ΣE
    L_sync_parallel = ΣG + max E
    L_async         = max_f ( E(f) + Σ_{g : E(g) >= E(f)} G(g) )

The async figure assumes the calls are written longest-first (longest processing time first is
optimal for independent calls): call ``f`` can only start once every call at least as slow as it
has been written.

Dependent calls (``deps``: call ``i`` needs the results of earlier calls) are timed in written
order, ``W_i`` the time call ``i`` is written and ``F_i`` when it finishes (``F_d`` of its inputs):

    async (no futures)  W_i = max(W_{i-1}, max_d F_d) + G_i     F_i = W_i + E_i
    async with futures  W_i = W_{i-1} + G_i                     F_i = max(W_i, max_d F_d) + E_i

Without futures the model must wait for an input before writing the call that uses it; with
futures (``f(x=$c1)``) it writes it at once and the scheduler starts it when the input is ready.
The bound: ``L_async_futures <= L_async <= L_async_futures + Σ_{i: deps(i) ≠ ∅} G_i`` (each
dependent call's writing is what futures overlap), and ``L_async_futures >= max(ΣG, longest
dependency chain of E)``. Without dependencies both equal the written-order async schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, kw_only=True, slots=True)
class LatencyModel:
    """Modelled task latency of the three calling styles, seconds."""

    sync: float
    sync_parallel: float
    async_: float
    async_futures: float | None = field(default=None)

    def as_dict(self) -> dict[str, float]:
        """``{"sync": ..., "sync_parallel": ..., "async": ...}`` (seconds), plus
        ``"async_futures"`` when dependencies were given."""
        data = asdict(self)
        data["async"] = data.pop("async_")
        if data["async_futures"] is None:
            del data["async_futures"]
        return data


def latency_model(
    gen: Sequence[float], exe: Sequence[float], *, deps: Sequence[Sequence[int]] | None = None
) -> LatencyModel:
    """Evaluate the model for calls with generation times ``gen`` and execution times ``exe``.

    Args:
        gen: seconds to generate each call, shape ``[n_calls]``.
        exe: seconds to execute each call, shape ``[n_calls]`` (same order).
        deps: for each call, the indices of the earlier calls whose results it needs; given,
            ``async`` and ``async_futures`` follow the dependent recurrences of the module
            docstring (``sync_parallel`` stays the independent figure).

    Raises:
        ValueError: the sequences differ in length, or a dependency is not an earlier call.
    """
    if len(gen) != len(exe) or (deps is not None and len(deps) != len(gen)):
        raise ValueError(f"gen, exe (and deps) differ in length: {len(gen)}, {len(exe)}")
    if deps is not None and any(d >= i or d < 0 for i, ds in enumerate(deps) for d in ds):
        raise ValueError(f"deps must name earlier calls: {deps}")
    if deps is not None and any(deps) and gen:
        plain, futures = _dependent(gen, exe, deps)
        return LatencyModel(
            sync=sum(gen) + sum(exe),
            sync_parallel=sum(gen) + max(exe),
            async_=plain,
            async_futures=futures,
        )
    model = _independent(gen, exe)
    if deps is None:
        return model
    return LatencyModel(
        sync=model.sync,
        sync_parallel=model.sync_parallel,
        async_=model.async_,
        async_futures=model.async_,
    )


def _dependent(
    gen: Sequence[float], exe: Sequence[float], deps: Sequence[Sequence[int]]
) -> tuple[float, float]:
    """Makespans (seconds) of the dependent recurrences: without futures, with futures."""
    written, plain = 0.0, list[float]()
    for g, e, ds in zip(gen, exe, deps, strict=True):
        written = max([written, *(plain[d] for d in ds)]) + g
        plain.append(written + e)
    written, futures = 0.0, list[float]()
    for g, e, ds in zip(gen, exe, deps, strict=True):
        written += g
        futures.append(max([written, *(futures[d] for d in ds)]) + e)
    return max(plain), max(futures)


def _independent(gen: Sequence[float], exe: Sequence[float]) -> LatencyModel:
    if not gen:
        return LatencyModel(sync=0.0, sync_parallel=0.0, async_=0.0)
    total_gen = sum(gen)
    asynchronous = max(
        e_f + sum(g for g, e_g in zip(gen, exe, strict=True) if e_g >= e_f) for e_f in exe
    )
    return LatencyModel(
        sync=total_gen + sum(exe), sync_parallel=total_gen + max(exe), async_=asynchronous
    )
