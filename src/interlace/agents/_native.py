"""Native function calling: the baseline of a hosted API's own ``tools=`` (``"native"``,
``"native-parallel"``).

The model gets the tools as JSON schemas in the request (``tools=``, ``parallel_tool_calls``) and
answers each turn either with function calls or with text. The calls of a turn run, their results
go back as ``role: "tool"`` messages (one per ``tool_call_id``) and the model is asked again,
until it answers in text or ``max_turns`` turns have called functions; then one more turn
(``tool_choice="none"``) asks for the answer. This is the "OpenAI parallel function calling"
baseline of LLMCompiler (Kim et al. 2023, arXiv 2312.04511, §5: calls of one turn run in
parallel, the model waits for all of them before it decodes again) and, with one call per turn,
the synchronous calling AsyncLM measures against (Gim, Lee, Zhong 2024, arXiv 2412.07017, §4).

* ``"native"`` (``parallel=False``): ``parallel_tool_calls=False``; calls run one at a time.
* ``"native-parallel"``: the model may return several calls per turn; they run concurrently.

Every call goes through the one invocation path (:func:`~interlace._executor.invoke_tool`): a
tool exception, a timeout, arguments that are not JSON or do not fit the schema, or an unknown
function name fail that call (its result message says so) and never the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import anyio

from interlace import _events
from interlace._errors import InterlaceError, UnknownToolError, UsageError
from interlace._executor import invoke_tool
from interlace._scheduler import Failed, Succeeded
from interlace._tools import Invocable, find_tool, safe_str
from interlace.agents._common import RunMeter, clip, prompt_digest
from interlace.agents._observe import fit_observation
from interlace.agents._result import EventStreaming, RunResult
from interlace.llm._base import LLM, Completion, GenerationConfig, Message
from interlace.llm._toolcalls import (
    FunctionNames,
    NativeToolCalling,
    NativeTools,
    SupportsOpenAISchema,
    ToolCall,
)

__all__ = ["NativeFunctionCalling"]

_DEFAULT_CONFIG = GenerationConfig(max_tokens=256)
_RULES = (
    "Answer the user's question. Use the functions you are given to look up what you need{how}. "
    "When you know the answer, reply with the answer only: a few words, no sentence, "
    "no explanation."
)
_PARALLEL = "; call several at once when they do not depend on each other's results"
_SEQUENTIAL = "; call one function at a time"
_FINAL = "No more function calls. Reply with the answer only."


class OfferedTool(Invocable, SupportsOpenAISchema, Protocol):
    """What the native methods can offer and call: a :class:`~interlace.Tool`, or any tool
    with a ``name``, ``openai_schema()`` and ``async invoke(args, kwargs)`` (BFCL's
    functions)."""


class NativeFunctionCalling(EventStreaming):
    """The model calls the tools natively (``tools=`` in the request), turn by turn.

    Args:
        llm: a backend that offers functions natively (:class:`~interlace.llm.NativeToolCalling`,
            e.g. :class:`~interlace.llm.OpenAICompatLLM`).
        tools: the tools; each is offered as its :meth:`~interlace.Tool.openai_schema`, under
            its own name or, when OpenAI's API would refuse that name (``math.factorial``),
            under the name :class:`~interlace.llm._toolcalls.FunctionNames` gives it; calls
            are recorded under the tool's own name.
        parallel: ``"native-parallel"`` (several calls per turn, run concurrently) or, when
            ``False``, ``"native"`` (``parallel_tool_calls=False``, calls run one at a time).
        max_turns: turns that may call functions (>= 1) before one more turn asks for the
            answer without functions.
        config: generation settings of every turn.
        system: the system message (default: answer briefly using the functions).
        tool_timeout: seconds a call may take when its tool sets no timeout of its own.
        max_concurrency: most calls of one turn running at once (>= 1).
        observation_tokens: each result's token budget in the conversation (0: whole; see
            :func:`~interlace.agents._observe.fit_observation`), as for the other methods.

    Raises:
        UsageError: ``llm`` cannot call functions natively (e.g. the embedded
            :class:`~interlace.llm.LocalLLM`), no tools, two tools share a name, or
            ``max_turns``/``max_concurrency`` below 1.
    """

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[OfferedTool],
        *,
        parallel: bool = True,
        max_turns: int = 8,
        config: GenerationConfig = _DEFAULT_CONFIG,
        system: str | None = None,
        tool_timeout: float | None = 60.0,
        max_concurrency: int = 32,
        observation_tokens: int = 0,
    ) -> None:
        self.name = "native-parallel" if parallel else "native"
        if not isinstance(llm, NativeToolCalling):
            raise UsageError(
                f"{self.name}: the backend of {llm.model!r} cannot call functions natively; "
                "the native methods need an OpenAI-compatible backend, e.g. "
                "--llm openai:gpt-4o-mini or vllm:MODEL@http://HOST:8000/v1. On the embedded "
                "model compare sync / sync-parallel (CML) or compiler / react instead."
            )
        if max_turns < 1 or max_concurrency < 1:
            raise UsageError(
                f"NativeFunctionCalling(max_turns={max_turns}, max_concurrency="
                f"{max_concurrency}): both must be at least 1"
            )
        self.tools: Mapping[str, OfferedTool] = {t.name: t for t in tools}
        if len(self.tools) != len(tools) or not tools:
            raise UsageError(
                f"{self.name}: give one or more tools with unique names, got "
                f"{[t.name for t in tools]}"
            )
        self.llm = llm
        self.parallel = parallel
        self.max_turns = max_turns
        self.config = config
        how = _PARALLEL if parallel else _SEQUENTIAL
        self.system = system if system is not None else _RULES.format(how=how)
        self.names = FunctionNames.of([t.name for t in tools])
        self.offered: Mapping[str, OfferedTool] = {
            self.names.offer(name): tool for name, tool in self.tools.items()
        }
        self.offer = NativeTools.from_tools(
            list(tools), parallel_tool_calls=parallel, names=self.names
        )
        self.tool_timeout = tool_timeout
        self.max_concurrency = max_concurrency if parallel else 1
        self.observation_tokens = observation_tokens

    async def run(self, question: str) -> RunResult:
        """Answer ``question``.

        Returns:
            The result; ``rounds`` is the number of LLM turns; ``details["calls"]`` has one
            ``{"turn", "id", "name", "args": [], "arguments", "outcome", "error"}`` per call
            the model made (``arguments``: the parsed object, or the raw text when it was not
            JSON; ``outcome``: ``"succeeded"``/``"failed"``; ``error``: why, or ``None``), and
            ``details["turns"]`` the text and call ids of each turn.

        Raises:
            LLMError: the backend failed. Tool failures become ``role: "tool"`` results.
        """
        meter = RunMeter()
        messages = [
            Message(role="system", content=self.system),
            Message(role="user", content=question),
        ]
        calls: list[dict[str, Any]] = []
        turns: list[dict[str, Any]] = []
        for turn in range(1, self.max_turns + 1):
            completion = await self._ask(meter, messages, self.offer, "native")
            text = completion.text.strip()
            turns.append({"text": text, "calls": [c.id for c in completion.tool_calls]})
            if not completion.tool_calls:
                if text:
                    return self._result(meter, question, text, turn, calls, turns)
                meter.errors.append(f"turn {turn}: neither a function call nor an answer")
                break
            if not self.parallel and len(completion.tool_calls) > 1:
                meter.errors.append(
                    f"turn {turn}: {len(completion.tool_calls)} calls despite "
                    "parallel_tool_calls=False; they ran one at a time"
                )
            messages.append(
                Message(role="assistant", content=completion.text, tool_calls=completion.tool_calls)
            )
            results = await self._run_calls(completion.tool_calls, turn, question, meter, calls)
            messages += [
                Message(role="tool", content=result, tool_call_id=call.id)
                for call, result in zip(completion.tool_calls, results, strict=True)
            ]
        else:
            meter.errors.append(f"reached max_turns={self.max_turns}: asked for the answer")
        answer = await self._final(meter, messages)
        return self._result(meter, question, answer, len(turns) + 1, calls, turns)

    async def _ask(
        self, meter: RunMeter, messages: Sequence[Message], offer: NativeTools, role: str
    ) -> Completion:
        """One turn: stream it, record it (an LLM span of ``role`` with the calls)."""
        final: Completion | None = None
        config = dataclasses.replace(self.config, role=role)
        async for item in _events.stream(self.llm, messages, config, tools=offer):
            if isinstance(item, Completion):
                final = item
        if final is None:  # pragma: no cover - protocol violation by a backend
            raise RuntimeError(f"{type(self.llm).__name__}.stream_tools ended without a Completion")
        meter.record(
            final,
            role,
            prompt_sha=prompt_digest(messages),
            tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments}
                        for c in final.tool_calls],
        )  # fmt: skip
        return final

    async def _final(self, meter: RunMeter, messages: list[Message]) -> str:
        """The extra turn without functions (``tool_choice="none"``); its text is the answer."""
        messages.append(Message(role="user", content=_FINAL))
        offer = dataclasses.replace(self.offer, choice="none")
        completion = await self._ask(meter, messages, offer, "native-final")
        answer = completion.text.strip()
        if not answer:
            meter.errors.append("no answer in the final turn")
        return answer

    async def _run_calls(
        self,
        turn_calls: Sequence[ToolCall],
        turn: int,
        question: str,
        meter: RunMeter,
        calls: list[dict[str, Any]],
    ) -> list[str]:
        """Run one turn's calls (concurrently up to the limiter; in order for ``"native"``).

        Returns:
            The result text of each call, in the calls' order.
        """
        limiter = anyio.CapacityLimiter(self.max_concurrency)
        results = [""] * len(turn_calls)
        records: list[dict[str, Any]] = [{} for _ in turn_calls]
        first = len(calls) + 1  # task ids number the run's calls 1, 2, ...

        async def one(index: int) -> None:
            async with limiter:
                results[index], records[index] = await self._call(
                    turn_calls[index], turn, first + index, meter
                )

        async with anyio.create_task_group() as group:
            for index in range(len(turn_calls)):
                group.start_soon(one, index)
        calls += records
        return [fit_observation(r, question, self.observation_tokens) for r in results]

    async def _call(
        self, call: ToolCall, turn: int, task_id: int, meter: RunMeter
    ) -> tuple[str, dict[str, Any]]:
        """Run one call; returns its result text and its record for ``details["calls"]``."""
        record: dict[str, Any] = {"turn": turn, "id": call.id, "name": call.name, "args": []}
        found = find_tool(self.offered, call.name)
        try:
            record["arguments"] = arguments = call.parsed_arguments()
            if found is None:
                raise UnknownToolError(
                    f"there is no function {call.name!r}; offered: {', '.join(self.offered)}"
                )
        except InterlaceError as exc:
            record.setdefault("arguments", call.arguments)
            return self._failed(exc, record, meter), record
        _, tool = found
        record["name"] = name = tool.name  # the tool's own name (BFCL scores by it)
        meter.tool_calls += 1
        with meter.trace.span("tool", name, task_id=task_id, call_id=call.id, turn=turn) as attrs:
            outcome = await invoke_tool(tool, (), arguments, timeout=self.tool_timeout)
            attrs["outcome"] = "succeeded" if isinstance(outcome, Succeeded) else "failed"
        if isinstance(outcome, Failed):
            return self._failed(outcome.error, record, meter), record
        record |= {"outcome": "succeeded", "error": None}
        return clip(safe_str(outcome.value)), record

    @staticmethod
    def _failed(error: InterlaceError, record: dict[str, Any], meter: RunMeter) -> str:
        message = f"{type(error).__name__}: {safe_str(error)}"
        record |= {"outcome": "failed", "error": message}
        meter.errors.append(f"turn {record['turn']}: call {record['id']} failed: {message}")
        return f"Error: {message}"

    def _result(
        self,
        meter: RunMeter,
        question: str,
        answer: str,
        rounds: int,
        calls: list[dict[str, Any]],
        turns: list[dict[str, Any]],
    ) -> RunResult:
        details = {"calls": calls, "turns": turns}
        return meter.result(
            question=question, answer=answer, method=self.name, rounds=rounds, details=details
        )
