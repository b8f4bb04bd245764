"""Tools on a Ray cluster: a tool's sync function run as a Ray task, with a local tool's guarantees.

:func:`remote_tool` gives back the same :class:`~interlace.Tool` (name, description, schema,
timeout) whose function is submitted to Ray instead of a local worker thread. Everything else is
the runtime's one invocation path (:func:`interlace._executor.invoke_tool`, DESIGN.md "One
runtime"), so a remote call behaves like a local one:

* arguments are validated locally, before anything is sent;
* the timeout (``Tool.timeout``, else the executor's default) is enforced where the call is
  awaited; on timeout or cancellation the Ray task is cancelled with
  ``ray.cancel(ref, force=True)`` (its worker process is killed, so a stuck function stops
  too) and the call fails with :class:`~interlace.ToolTimeoutError` at once;
* any exception the function raises on the worker comes back as itself and becomes a
  :class:`~interlace.ToolExecutionError` (the original as ``__cause__``, with a note naming the
  Ray worker); a lost worker or an unpicklable value is a ``ToolExecutionError`` whose cause is
  the Ray error;
* the worker a call ran on is recorded: in the span of a plan task (attrs ``ray_task``,
  ``ray_node``, ``ray_worker``, ``ray_pid``; ``ray_cancelled`` when it was cancelled), through
  :data:`interlace._executor.call_span_attrs`, and in the note of a failure's cause.

Ray is imported only when :func:`remote_tool` is used (``pip install 'interlace[ray]'``), never by
``import interlace``. Connect first with ``ray.init(...)``: a call without a Ray connection fails
(a ``ToolExecutionError`` whose cause is a :class:`~interlace.UsageError`) rather than silently
starting a local cluster.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar, overload

import anyio
import anyio.to_thread

from interlace._errors import UsageError
from interlace._executor import call_span_attrs
from interlace._tools import Tool

__all__ = ["WorkerInfo", "import_ray", "remote_tool", "wait_for"]

_T = TypeVar("_T")

RAY_MISSING = "Ray is not installed: pip install 'interlace[ray]' (or pip install 'ray>=2.9')"


def import_ray() -> ModuleType:
    """The ``ray`` module, imported on first use (never by ``import interlace``).

    Raises:
        UsageError: Ray is not installed.
    """
    try:
        import ray
    except ImportError as exc:
        raise UsageError(RAY_MISSING) from exc
    return ray


async def wait_for(ref: Any) -> Any:
    """The value of the Ray ``ObjectRef`` ``ref``, awaited without blocking the event loop.

    On asyncio the ref is awaited directly; on other anyio backends (trio) a worker thread
    waits in ``ray.get`` and is abandoned if the caller is cancelled. Cancelling the caller does
    not cancel the Ray task: callers do that (``ray.cancel``).

    Raises:
        Exception: what ``ray.get`` raises (``RayTaskError``, ``TaskCancelledError``, ...).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: wait in a thread
        ray = import_ray()
        return await anyio.to_thread.run_sync(ray.get, ref, abandon_on_cancel=True)
    return await ref


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerInfo:
    """Where a Ray task ran.

    Attributes:
        node_id: the Ray node's id (hex).
        worker_id: the Ray worker's id (hex).
        pid: the worker process id on that node.
    """

    node_id: str
    worker_id: str
    pid: int

    @classmethod
    def here(cls) -> WorkerInfo:
        """The worker this code runs in (call it inside a Ray task or actor)."""
        import ray

        context = ray.get_runtime_context()
        return cls(
            node_id=context.get_node_id(), worker_id=context.get_worker_id(), pid=os.getpid()
        )

    def span_attrs(self) -> dict[str, Any]:
        """``{"ray_node", "ray_worker", "ray_pid"}`` for a span's attrs."""
        return {"ray_node": self.node_id, "ray_worker": self.worker_id, "ray_pid": self.pid}

    def describe(self) -> str:
        """``"Ray worker W (pid P) on node N"``, ids shortened to 12 hex digits."""
        return f"Ray worker {self.worker_id[:12]} (pid {self.pid}) on node {self.node_id[:12]}"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Returned:
    """What the Ray task sends back: the value or the exception, and where it ran."""

    value: Any = None
    error: Exception | None = None
    worker: WorkerInfo


def _run_on_worker(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The Ray task: call ``fn`` and return a :class:`_Returned` (exceptions included)."""
    worker = WorkerInfo.here()
    try:
        return _Returned(value=fn(*args, **kwargs), worker=worker)
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception as why:  # the driver could not read it back: send its text instead
            text = f"{type(exc).__name__}: {exc} (not picklable: {why})"
            return _Returned(error=RuntimeError(text), worker=worker)
        return _Returned(error=exc, worker=worker)


@overload
def remote_tool(
    tool: Tool | Callable[..., Any], /, *, options: Mapping[str, Any] | None = None
) -> Tool: ...


@overload
def remote_tool(
    *, options: Mapping[str, Any] | None = None
) -> Callable[[Tool | Callable[..., Any]], Tool]: ...


def remote_tool(
    tool: Tool | Callable[..., Any] | None = None,
    /,
    *,
    options: Mapping[str, Any] | None = None,
) -> Tool | Callable[[Tool | Callable[..., Any]], Tool]:
    """The same tool, its sync function run as a Ray task (see the module docstring).

    Use it on a :class:`~interlace.Tool`, on a plain function (made a tool with
    :meth:`~interlace.Tool.from_function`), or as a decorator: ``@remote_tool`` /
    ``@remote_tool(options={"num_cpus": 2})``.

    Args:
        tool: the tool or sync function.
        options: Ray task options (``ray.remote`` keywords: ``num_cpus``, ``num_gpus``,
            ``resources``, ``memory``, ``runtime_env``, ...). ``max_retries`` defaults to 0: a
            call whose worker died fails like a call that raised (the executor does not retry
            local tools either).

    Returns:
        a :class:`~interlace.Tool` whose calls run on the cluster.

    Raises:
        UsageError: Ray is not installed, the function is async (a coroutine cannot run as a
            Ray task: use a sync function) or not callable, or Ray rejects ``options``.
    """
    settings = {"max_retries": 0, **(options or {})}

    def make(target: Tool | Callable[..., Any]) -> Tool:
        base = target if isinstance(target, Tool) else Tool.from_function(target)
        if inspect.iscoroutinefunction(inspect.unwrap(base.fn)):
            raise UsageError(
                f"remote_tool({base.name}): {base.name} is async; a Ray task runs a sync "
                "function (write `def`, not `async def`)"
            )
        ray = import_ray()
        try:
            task = ray.remote(**settings)(_run_on_worker)
        except (TypeError, ValueError) as exc:  # Ray's own check of the option names and values
            raise UsageError(f"remote_tool({base.name}, options={settings!r}): {exc}") from exc
        return base.wrapped(_remote_call(base.name, base.fn, task))

    return make(tool) if tool is not None else make


def _remote_call(name: str, fn: Callable[..., Any], task: Any) -> Callable[..., Any]:
    """An async function that runs ``fn`` as the Ray task ``task`` and returns its value."""
    cancelled = anyio.get_cancelled_exc_class

    async def call_on_ray(*args: Any, **kwargs: Any) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            raise UsageError(
                f"remote tool {name!r} needs a Ray connection: call ray.init() (or "
                "ray.init(address=...)) before running it"
            )
        ref = task.remote(fn, args, kwargs)
        attrs = call_span_attrs.get()
        if attrs is not None:
            attrs["ray_task"] = ref.task_id().hex()
        try:
            returned: _Returned = await wait_for(ref)
        except cancelled():  # the timeout or the run's cancellation: stop the task (kill it)
            if attrs is not None:
                attrs["ray_cancelled"] = True
            ray.cancel(ref, force=True)
            raise
        if attrs is not None:
            attrs.update(returned.worker.span_attrs())
        if returned.error is not None:
            returned.error.add_note(f"tool {name!r} ran on {returned.worker.describe()}")
            raise returned.error
        return returned.value

    call_on_ray.__name__ = call_on_ray.__qualname__ = name
    return call_on_ray
