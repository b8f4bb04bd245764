"""Benchmark fan-out on Ray: a run's questions spread over workers, the store kept by the driver.

``interlace bench ... --ray [local|ADDRESS]`` runs the same (question, method) pairs as
:func:`~interlace.bench._runner.run_benchmark`, in the same order, on a pool of Ray actors:

* **Workers.** One actor per worker holds its own LLM, loaded once (the embedded model with the
  run's ``--threads``, or a remote endpoint: with several ``--llm`` specs, worker ``i`` uses spec
  ``i``). An actor reserves ``threads`` CPUs for a local model and 1 for an endpoint, and runs
  one pair at a time with :func:`~interlace.bench._runner.run_question`, the runner's own step.
* **One writer.** Records travel back to the driver, which alone appends them to the store, each
  (question, method) exactly once: a pair is in flight on one worker at a time, and a record is
  written only if its key is not in the store yet.
* **Resumable as today.** Pairs already in the store are skipped (same keys as the local runner,
  so a local run and a Ray run of one configuration resume each other). A killed driver loses
  the pairs in flight (at most one per worker); the next run re-runs them. A lost worker (its
  process or node died, or it was killed) loses only its pair in flight, which goes back to the
  front of the queue for another worker; the run fails with :class:`~interlace.InterlaceError`
  only when no worker is left.
* **Failures.** What the local runner records as a failed answer (an agent crash, a context
  overflow) is recorded the same way; an ``LLMError`` on a worker (backend unusable) stops the
  run, raised on the driver as itself.

The store's ``config`` records the execution: ``config["ray"]`` is ``{"address", "workers",
"worker"}`` (the worker index that answered) and ``config["threads"]`` the threads per worker.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from interlace._errors import InterlaceError, UsageError
from interlace._ray_tools import import_ray, wait_for
from interlace.bench._registry import Question
from interlace.bench._runner import (
    OnRecord,
    RunConfig,
    planned_runs,
    probe_record,
    run_question,
)
from interlace.bench._store import Store, record_key
from interlace.llm._base import LLM

__all__ = ["BenchWorker", "RayFanOut", "RayOptions", "run_benchmark_on_ray"]

Pair = tuple[Question, str]


@dataclass(frozen=True, kw_only=True)
class RayOptions:
    """How a benchmark run uses Ray.

    Attributes:
        address: ``"local"`` (start a Ray instance on this machine, or use the one this process
            already connected to) or a cluster address for ``ray.init(address=...)``:
            ``"auto"``, ``"HOST:6379"`` or ``"ray://HOST:10001"``.
        llm_specs: backend specs; one for every worker, or one per worker (worker ``i`` uses
            ``llm_specs[i]``).
        workers: number of workers (actors); ``None``: one per spec when several are given,
            else one per ``threads`` CPUs that Ray reports (one per CPU with ``threads=1``).
        threads: CPU threads of each worker's local model (and the CPUs its actor reserves).
    """

    address: str = "local"
    llm_specs: tuple[str, ...] = ("local",)
    workers: int | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        if not self.llm_specs:
            raise UsageError("RayOptions(llm_specs=()): give at least one backend spec")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"RayOptions(workers={self.workers}): must be >= 1 (or None)")
        if self.threads < 1:
            raise UsageError(f"RayOptions(threads={self.threads}): must be >= 1")
        many = len(self.llm_specs) > 1
        if many and self.workers is not None and self.workers != len(self.llm_specs):
            raise UsageError(
                f"{len(self.llm_specs)} --llm specs for {self.workers} workers: give one spec "
                f"per worker, or drop --ray-workers (one worker per spec)"
            )

    def spec_of(self, worker: int) -> str:
        """The backend spec of worker ``worker``."""
        return self.llm_specs[worker if len(self.llm_specs) > 1 else 0]


def _is_local(spec: str) -> bool:
    from interlace.llm._select import parse_spec

    return parse_spec(spec).kind == "local"


def load_worker_llm(spec: str, threads: int) -> LLM:
    """The backend ``spec`` names, as a worker loads it: a registry model is fetched first
    when this node does not have it, a local model gets ``threads`` threads.

    Raises:
        UsageError: the spec is malformed.
        InterlaceError: the model could not be fetched or loaded.
    """
    from interlace.llm import fetch_model
    from interlace.llm._models import MODELS
    from interlace.llm._select import load_llm, parse_spec

    parsed = parse_spec(spec)
    if parsed.kind != "local":
        return load_llm(spec)
    if parsed.model is not None and parsed.model in MODELS:
        fetch_model(parsed.model)  # nothing is downloaded when the file is present
    return load_llm(spec, n_threads=threads)


class BenchWorker:
    """The body of one worker actor: one LLM, one (question, method) at a time.

    Args:
        config: the run (benchmark, methods, options), the driver's.
        spec: this worker's backend spec.
        threads: threads of a local model.
        index: this worker's index (recorded in ``config["ray"]["worker"]``).
    """

    def __init__(self, config: RunConfig, spec: str, threads: int, index: int) -> None:
        self.config = config
        self.spec = spec
        self.threads = threads
        self.index = index
        self.llm: LLM | None = None

    async def load(self) -> str:
        """Load the LLM (once); its model name."""
        if self.llm is None:
            self.llm = load_worker_llm(self.spec, self.threads)
        return self.llm.model

    async def run(self, question: Question, method: str) -> dict[str, Any]:
        """Run one pair; its store record (``config["ray"]["worker"]`` set to this worker).

        Raises:
            LLMError: the backend failed.
        """
        llm = self.llm
        if llm is None:
            raise UsageError("BenchWorker.run before load(): the driver loads every worker first")
        record = await run_question(self.config, question, method, llm)
        ray_config = {**record["config"].get("ray", {}), "worker": self.index}
        record["config"] = {**record["config"], "ray": ray_config}
        return record


class _Queue:
    """The pairs still to run, shared by the workers' feeding tasks.

    A pair is taken by one worker at a time; a lost worker's pair goes back to the front.
    ``take`` waits while the queue is empty but pairs are in flight (one may come back).
    """

    def __init__(self, pairs: Sequence[Pair]) -> None:
        self.todo: deque[Pair] = deque(pairs)
        self.in_flight = 0
        self.changed = anyio.Event()

    async def take(self) -> Pair | None:
        while not self.todo:
            if self.in_flight == 0:
                return None
            await self.changed.wait()
        self.in_flight += 1
        return self.todo.popleft()

    def done(self, pair: Pair, *, lost: bool) -> None:
        self.in_flight -= 1
        if lost:
            self.todo.appendleft(pair)
        self.changed.set()
        self.changed = anyio.Event()


class RayFanOut:
    """One benchmark run on a pool of Ray workers (see the module docstring).

    Build it, then ``await run(questions, store)``. :attr:`actors` are the workers' actor
    handles once the run started (``ray.kill`` one to see a lost worker's pair retried).

    Args:
        config: the run; its ``llm_spec`` is recorded (and keys the store) as given.
        options: address, backend specs, workers, threads.

    Attributes:
        actors: the worker actors, by index.
        lost: indices of the workers lost during the run.
        retried: pairs that went back to the queue because their worker was lost, as
            ``(question id, method)``.
    """

    def __init__(self, config: RunConfig, options: RayOptions) -> None:
        self.config = config
        self.options = options
        self.actors: list[Any] = []
        self.lost: list[int] = []
        self.retried: list[tuple[str, str]] = []

    async def run(
        self,
        questions: Sequence[Question],
        store: Store,
        *,
        on_record: OnRecord | None = None,
        on_skip: OnRecord | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> int:
        """Run every pair not in ``store`` on the workers; the driver appends each record.

        Args:
            questions: the questions, in order.
            store: the results store (written here only).
            on_record: called with each new record (e.g. to update a progress bar).
            on_skip: called with ``{"question_id", "method"}`` for each pair skipped on resume.
            on_ready: called once every worker has loaded its LLM, before the first pair is
                sent (throughput measurements start their clock there).

        Returns:
            the number of records written.

        Raises:
            UsageError: Ray is missing, or the workers do not fit the cluster's CPUs.
            LLMError: a worker's backend failed.
            InterlaceError: every worker was lost with pairs left to run.
        """
        ray = import_ray()
        started_ray = _connect(ray, self.options.address)
        try:
            count = self._worker_count(ray)
            config = self._recorded_config(count)
            todo = self._pending(config, questions, store, on_skip)
            if not todo:
                return 0
            await self._start(ray, config, count)
            if on_ready:
                on_ready()
            queue = _Queue(todo)
            written = [0]
            feeds = [
                functools.partial(self._feed, ray, index, queue, store, on_record, written)
                for index in range(count)
            ]
            await _all(feeds)
            return written[0]
        finally:
            self._stop(ray)
            if started_ray:
                ray.shutdown()

    def _worker_count(self, ray: Any) -> int:
        options = self.options
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if options.workers is not None:
            count = options.workers
        elif len(options.llm_specs) > 1:
            count = len(options.llm_specs)
        else:
            count = max(1, cpus // self._cpus_of(0))
        needed = sum(self._cpus_of(i) for i in range(count))
        if needed > cpus:
            raise UsageError(
                f"{count} Ray workers need {needed} CPUs and the cluster has {cpus}: use fewer "
                "--ray-workers or --threads (an actor that does not fit would wait forever)"
            )
        return count

    def _cpus_of(self, index: int) -> int:
        return self.options.threads if _is_local(self.options.spec_of(index)) else 1

    def _recorded_config(self, count: int) -> RunConfig:
        ray_config = {"address": self.options.address, "workers": count}
        extra = {**self.config.extra, "threads": self.options.threads, "ray": ray_config}
        return dataclasses.replace(self.config, extra=extra)

    def _pending(
        self,
        config: RunConfig,
        questions: Sequence[Question],
        store: Store,
        on_skip: OnRecord | None,
    ) -> list[Pair]:
        """The pairs not in the store yet, in the runner's order (the others reported skipped).

        The model name is not part of a record's key, so the probe does not need a loaded LLM.
        """
        todo = []
        for question, method in planned_runs(config, questions):
            if record_key(probe_record(config, question, method, "")) in store:
                if on_skip:
                    on_skip({"question_id": question.id, "method": method})
            else:
                todo.append((question, method))
        return todo

    async def _start(self, ray: Any, config: RunConfig, count: int) -> None:
        """Create the actors and load their LLMs (a load error is raised here, as itself)."""
        actor_class = ray.remote(max_restarts=0, max_task_retries=0, max_concurrency=1)(BenchWorker)
        for index in range(count):
            spec = self.options.spec_of(index)
            handle = actor_class.options(num_cpus=self._cpus_of(index)).remote(
                config, spec, self.options.threads, index
            )
            self.actors.append(handle)
        loads = [functools.partial(_call, ray, handle.load.remote()) for handle in self.actors]
        try:
            await _all(loads)
        except ray.exceptions.RayError as exc:  # the actor itself could not start
            raise InterlaceError(f"a Ray worker could not start: {exc}") from exc

    async def _feed(
        self,
        ray: Any,
        index: int,
        queue: _Queue,
        store: Store,
        on_record: OnRecord | None,
        written: list[int],
    ) -> None:
        """Feed worker ``index`` one pair at a time until the queue is done or it is lost."""
        actor = self.actors[index]
        while (pair := await queue.take()) is not None:
            question, method = pair
            try:
                record = await _call(ray, actor.run.remote(question, method))
            except ray.exceptions.RayError as exc:  # not the pair's failure: the worker's
                queue.done(pair, lost=True)
                self.lost.append(index)
                self.retried.append((question.id, method))
                if len(self.lost) == len(self.actors):
                    raise InterlaceError(
                        f"every Ray worker was lost ({len(self.lost)}); the last one on "
                        f"question {question.id} ({method}): {exc}. Re-run the same command "
                        "to resume."
                    ) from exc
                return
            queue.done(pair, lost=False)
            if record_key(record) in store:  # cannot happen (one worker per pair); keep it once
                continue
            store.append(record)
            written[0] += 1
            if on_record:
                on_record(record)

    def _stop(self, ray: Any) -> None:
        """Kill the workers (a pair still in flight is lost: the next run re-runs it)."""
        for handle in self.actors:
            ray.kill(handle)


async def _all(calls: Sequence[Callable[[], Awaitable[Any]]]) -> None:
    """Run ``calls`` concurrently; the first exception is raised as itself (not inside an
    ``ExceptionGroup``) once the others are cancelled."""
    errors: list[Exception] = []

    async def guarded(call: Callable[[], Awaitable[Any]], scope: anyio.CancelScope) -> None:
        try:
            await call()
        except Exception as exc:
            errors.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as group:
        for call in calls:
            group.start_soon(guarded, call, group.cancel_scope)
    if errors:
        raise errors[0]


async def _call(ray: Any, ref: Any) -> Any:
    """Await an actor call; an exception the actor's code raised is re-raised as itself.

    Raises:
        Exception: the actor method's exception (e.g. ``LLMError``), unwrapped from Ray's
            ``RayTaskError``; any other ``RayError`` (the actor is gone) unchanged.
    """
    try:
        return await wait_for(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, Exception):
            raise cause from exc
        raise


def _connect(ray: Any, address: str) -> bool:
    """Connect to Ray unless this process already is; whether this call started the connection.

    Raises:
        UsageError: the cluster at ``address`` cannot be reached.
        InterlaceError: a local Ray instance did not start (e.g. its processes did not come up
            in Ray's 30 s on an overloaded machine).
    """
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:  # Ray raises bare Exception, ConnectionError, RuntimeError, ...
        if address == "local":
            raise InterlaceError(f"--ray local: Ray did not start: {exc}") from exc
        raise UsageError(
            f"--ray {address}: cannot connect ({exc}); start a cluster with `ray start --head` "
            "and pass its address (HOST:6379, or ray://HOST:10001), or use --ray local"
        ) from exc
    return True


async def run_benchmark_on_ray(
    config: RunConfig,
    questions: Sequence[Question],
    store: Store,
    options: RayOptions,
    *,
    on_record: OnRecord | None = None,
    on_skip: OnRecord | None = None,
) -> int:
    """:func:`~interlace.bench._runner.run_benchmark` on Ray workers: :meth:`RayFanOut.run`.

    Returns:
        the number of records written.

    Raises:
        UsageError: Ray is missing, the address cannot be reached, or the workers do not fit.
        LLMError: a worker's backend failed.
        InterlaceError: every worker was lost with pairs left to run.
    """
    fan_out = RayFanOut(config, options)
    return await fan_out.run(questions, store, on_record=on_record, on_skip=on_skip)
