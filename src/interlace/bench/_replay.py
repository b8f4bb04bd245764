"""Replay a result store at any LLM speed: what the runtime gains where tokens are cheap.

A stored run's trace holds every LLM request (``kind="llm"`` spans): its role, prompt and
cached-prompt tokens, output tokens and — since the spans carry it — its output text and a
digest of its prompt. :func:`replay_store` re-runs every stored (question, method) *for real*
— the same benchmark, agents, parser, scheduler, executor, tools and tool latency — with a
:class:`ReplayLLM` that serves each recorded request's output text again at the speed of an
:class:`~interlace.trace.analysis.LLMSpeed` (``ttft + uncached_prompt / prefill`` to the first
token, then ``tpot`` per token), counting the recorded uncached prompt tokens (prefix reuse as
recorded). The new records go to a new store, marked as a replay (``config["replay"]``: source,
speed, recorded backend), which ``interlace eval`` and ``interlace trace`` read like any other.

Matching requests
-----------------
The agent's own requests (planner, joiner, ReAct turns, ...) are sequential within a run, so
the replay serves them in recorded order. Requests made by tools (:class:`~interlace.agents.
_common.ToolLLM`, e.g. ``math``) may run concurrently; they are matched within their role, by
prompt digest first, else in recorded order. Whatever does not match is reported as a
:class:`Divergence`, never raised: ``prompt`` (the prompt differs from the recorded one — the
agents' prompts changed since the recording), ``unchecked`` (the store has no prompt digest for
it), ``role`` (the agent recorded the reply under another role), ``extra`` (more requests than
recorded: an empty reply is served), ``missing`` (recorded requests never asked for),
``reconstructed`` (a store from before texts were recorded: the text is rebuilt from the
record's details — plans, ReAct steps, joiner thoughts and the answer).

CML runs (BFCL: ``sync``, ``sync-parallel``, ``async``, ``async-naive``) drive the local token
engine directly, not :meth:`~interlace.llm.LLM.stream`; they are replayed on a token engine that
serves the recorded model output (:mod:`interlace.bench._replay_cml`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio

from interlace._clock import now
from interlace._errors import UsageError
from interlace.agents._common import current_request_role, prompt_digest
from interlace.bench._latency import Latency
from interlace.bench._recorded import RecordedRequest, llm_spans, recorded_requests
from interlace.bench._registry import Benchmark, Question, RunOptions, get_benchmark
from interlace.bench._replay_cml import (
    ReplayEngineLLM,
    TokenVocabulary,
    fit_cml_speed,
    is_cml,
    registry_vocabulary,
)
from interlace.bench._runner import RunConfig, run_benchmark
from interlace.bench._store import Store, read_records, record_key
from interlace.llm._base import (
    LLM,
    Completion,
    GenerationConfig,
    Message,
    StreamItem,
    TextDelta,
    Timing,
    Usage,
)
from interlace.trace._serial import trace_from_dict
from interlace.trace._spans import Trace
from interlace.trace._speed import LLMSpeed, parse_speed
from interlace.trace.analysis import fit_trace_speed

_DEFAULT_CONFIG = GenerationConfig()


DivergenceKind = Literal["prompt", "unchecked", "role", "extra", "missing", "reconstructed"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Divergence:
    """A replayed request that did not match its recording (module docstring, "Matching").

    Attributes:
        question_id, method: the run.
        kind: ``prompt``, ``unchecked``, ``role``, ``extra``, ``missing`` or ``reconstructed``.
        role: the recorded role (the requested one for ``extra``).
        request: the request's number in the replayed run (recorded index for ``missing``).
        detail: a short human explanation.
    """

    question_id: str
    method: str
    kind: DivergenceKind
    role: str
    request: int
    detail: str = ""


class ReplayLLM(LLM):
    """Serves one stored run's recorded replies at a given speed (module docstring).

    Args:
        recorded: the run's recorded requests (:func:`recorded_requests`).
        speed: the backend speed to replay at.
        model: the model name reported (the recorded one).
        question_id, method: the run, for divergence reports.

    Attributes:
        divergences: what did not match so far.
        served: ``(request number, recorded index or None)`` per agent request, in order.
    """

    def __init__(
        self,
        recorded: Sequence[RecordedRequest],
        speed: LLMSpeed,
        *,
        model: str,
        question_id: str = "",
        method: str = "",
    ) -> None:
        self.model = model
        self.speed = speed
        self.question_id, self.method = question_id, method
        self._agent = [r for r in recorded if not r.by_tool and not r.background]
        self._tool = [r for r in recorded if r.by_tool and not r.background]
        self._prefills = [r for r in recorded if r.background and not r.by_tool]
        self._next_prefill = 0
        self._prefilled = ""  # the text of the last replayed prefill
        self._used: set[int] = set()
        self._next_agent = 0
        self._lock = anyio.Lock() if speed.serial else None
        self._count = 0
        self.divergences: list[Divergence] = []
        self.served: list[tuple[int, int | None]] = []

    def _note(self, kind: DivergenceKind, role: str, request: int, detail: str = "") -> None:
        self.divergences.append(
            Divergence(
                question_id=self.question_id,
                method=self.method,
                kind=kind,
                role=role,
                request=request,
                detail=detail,
            )
        )

    def _match(self, role: str | None, digest: str, number: int) -> RecordedRequest | None:
        if role is None:
            found = self._agent[self._next_agent] if self._next_agent < len(self._agent) else None
            self._next_agent += found is not None
            self.served.append((number, None if found is None else found.index))
        else:
            pool = [r for r in self._tool if r.role == role and r.index not in self._used]
            found = next((r for r in pool if r.prompt_sha == digest), pool[0] if pool else None)
        if found is None:
            self._note("extra", role or "agent", number, "no recorded request left")
            return None
        self._used.add(found.index)
        if found.prompt_sha is None:
            self._note("unchecked", found.role, number, "the store has no prompt digest")
        elif found.prompt_sha != digest:
            self._note("prompt", found.role, number, "the prompt differs from the recorded one")
        if not found.exact:
            self._note("reconstructed", found.role, number, "text rebuilt from the details")
        return found

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        """Serve the matching recorded reply at :attr:`speed` (see the class docstring)."""
        start = now()
        self._count += 1
        found = self._match(current_request_role(), prompt_digest(messages), self._count)
        text, tokens = _cut(found, config)
        if self._lock is None:
            async for item in self._serve(found, text, tokens, start):
                yield item
            return
        async with self._lock:
            async for item in self._serve(found, text, tokens, now(), issued=start):
                yield item

    async def _serve(
        self,
        found: RecordedRequest | None,
        text: str,
        tokens: int,
        begin: float,
        *,
        issued: float | None = None,
    ) -> AsyncIterator[StreamItem]:
        uncached = found.uncached_prompt_tokens if found else 0
        first_at = begin + self.speed.first_token_seconds(uncached)
        first: float | None = None
        for i, piece in enumerate(_pieces(text, tokens)):
            await _sleep_until(first_at + i * self.speed.tpot)
            first = now() if first is None else first
            if piece:
                yield TextDelta(text=piece)
        if tokens == 0:
            await _sleep_until(first_at)
        yield Completion(
            text=text,
            model=self.model,
            usage=Usage(
                prompt_tokens=found.prompt_tokens if found else 0,
                completion_tokens=tokens,
                cached_prompt_tokens=found.cached_prompt_tokens if found else 0,
            ),
            timing=Timing(start=begin if issued is None else issued, first_token=first, end=now()),
            finish_reason=found.finish_reason if found else "stop",
        )

    async def _replay_prefill(self, messages: Sequence[Message], background: bool) -> int:
        """A :meth:`PrefixPrefill.prefill` call: the next recorded background prefill, its
        tokens evaluated at :attr:`speed` (holding the model when requests are serial).
        Prefills outside the clock (``background=False``: an agent's ``warm``) cost nothing,
        as in the recording, where they ran before the run started; so does a prefill of
        nothing new (the messages' text is a prefix of the last prefill's), which the
        recording did not trace (it evaluated 0 tokens)."""
        text = "\n".join(m.content for m in messages)
        if not background or self._prefilled.startswith(text):
            return 0
        self._prefilled = text
        if self._next_prefill >= len(self._prefills):
            self._note("extra", "prefill", self._count, "no recorded background prefill left")
            return 0
        found = self._prefills[self._next_prefill]
        self._next_prefill += 1
        self._used.add(found.index)
        seconds = found.prompt_tokens / self.speed.prefill
        if self._lock is None:
            await anyio.sleep(seconds)
        else:
            async with self._lock:
                await anyio.sleep(seconds)
        return found.prompt_tokens

    def role_divergences(self, replayed: Trace) -> list[Divergence]:
        """Agent requests whose reply the agent recorded under another role than the original
        (``replayed``: the replayed run's trace)."""
        roles = [
            s.attrs["role"]
            for s in llm_spans(replayed)
            if s.attrs.get("tool") is not True and s.attrs.get("background") is not True
        ]
        recorded = {r.index: r.role for r in self._agent}
        out = []
        for (number, index), role in zip(self.served, roles, strict=False):
            if index is not None and recorded[index] != role:
                detail = f"recorded as {recorded[index]}, replayed as {role}"
                out.append(
                    Divergence(
                        question_id=self.question_id,
                        method=self.method,
                        kind="role",
                        role=recorded[index],
                        request=number,
                        detail=detail,
                    )
                )
        return out

    def missing(self) -> list[Divergence]:
        """Recorded requests never asked for (call when the run is over)."""
        left = [
            r for r in (*self._agent, *self._tool, *self._prefills) if r.index not in self._used
        ]
        return [
            Divergence(
                question_id=self.question_id,
                method=self.method,
                kind="missing",
                role=r.role,
                request=r.index,
                detail="recorded but not requested in the replay",
            )
            for r in left
        ]


class PrefillReplayLLM(ReplayLLM):
    """A :class:`ReplayLLM` that is also a :class:`~interlace.llm.PrefixPrefill`: used for runs
    whose recording has background prefills (LLMCompiler's joiner context on the local model),
    so the replayed agent prefills as the recorded one did and each prefill costs its recorded
    tokens at the replay speed."""

    async def prefill(
        self, messages: Sequence[Message], *, open_end: bool = False, background: bool = False
    ) -> int:
        """Replay the next recorded background prefill (see :meth:`ReplayLLM._replay_prefill`);
        returns the tokens it evaluated."""
        return await self._replay_prefill(messages, background)


def replay_llm(recorded: Sequence[RecordedRequest], speed: LLMSpeed, **kwargs: Any) -> ReplayLLM:
    """The replay backend for one recorded run: a :class:`PrefillReplayLLM` when the run has
    background prefills, else a plain :class:`ReplayLLM` (which agents see as a server)."""
    if any(r.background for r in recorded):
        return PrefillReplayLLM(recorded, speed, **kwargs)
    return ReplayLLM(recorded, speed, **kwargs)


def _cut(found: RecordedRequest | None, config: GenerationConfig) -> tuple[str, int]:
    """The text to serve and its token count: the recorded ones, cut at a stop sequence."""
    if found is None or found.text is None:
        return "", 0
    text, tokens = found.text, found.output_tokens
    if not tokens and text:
        tokens = max(1, math.ceil(len(text) / 4))  # no count recorded: ~4 characters a token
    cut = min((i for i in (text.find(s) for s in config.stop if s) if i >= 0), default=-1)
    if cut >= 0 and text:
        tokens = max(1, round(tokens * cut / len(text))) if cut else 0
        text = text[:cut]
    return text, tokens


def _pieces(text: str, tokens: int) -> list[str]:
    """``text`` in ``tokens`` consecutive pieces of near-equal length (some may be empty)."""
    n = len(text)
    return [text[i * n // tokens : (i + 1) * n // tokens] for i in range(tokens)]


async def _sleep_until(deadline: float) -> None:
    delay = deadline - now()
    if delay > 0:
        await anyio.sleep(delay)


@dataclass(kw_only=True)
class ReplayReport:
    """What :func:`replay_store` did.

    Attributes:
        speed: the speed replayed at.
        written: records written to the target store.
        skipped: ``(question_id, method, reason)`` of records not replayed.
        divergences: every divergence, in run order.
        recorded_latency, replayed_latency: per method, the latencies (seconds) of the
            replayed runs in the source store and in the replay, question by question.
    """

    speed: LLMSpeed
    written: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)
    recorded_latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    replayed_latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def fidelity(self) -> dict[str, float]:
        """Per method: replayed mean latency / recorded mean latency."""
        return {
            m: sum(self.replayed_latency[m]) / sum(rec)
            for m, rec in self.recorded_latency.items()
            if sum(rec) > 0 and self.replayed_latency.get(m)
        }

    def divergence_counts(self) -> dict[tuple[str, str], int]:
        """``(kind, role) -> count`` over every divergence."""
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for d in self.divergences:
            counts[(d.kind, d.role)] += 1
        return dict(sorted(counts.items()))


Vocabularies = Callable[[str], TokenVocabulary]
"""Model name -> its tokenizer (for CML replays; default :func:`registry_vocabulary`)."""


def resolve_speed(
    spec: str | LLMSpeed,
    records: Iterable[Mapping[str, Any]],
    vocabulary: Vocabularies = registry_vocabulary,
) -> LLMSpeed:
    """``spec`` as a speed; ``"recorded"`` fits the records' own requests (serial, like the
    local backend that recorded them; ``"recorded,serial=0"`` lets requests overlap), or for a
    store of CML runs :func:`~interlace.bench._replay_cml.fit_cml_speed`.

    Raises:
        UsageError: a bad spec, or ``recorded`` for a store without measured TTFTs.
    """
    if isinstance(spec, LLMSpeed):
        return spec
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or parts[0] != "recorded":
        return parse_speed(spec)
    rows = [r for r in records if isinstance(r.get("trace"), dict)]
    if rows and all(is_cml(r) for r in rows):
        return fit_cml_speed(rows, vocabulary(_model(rows[0])))
    traces = [trace_from_dict(r["trace"]) for r in rows]
    serial = "serial=0" not in parts[1:]
    fitted = fit_trace_speed(traces, serial=serial)
    if fitted is None:
        raise UsageError("cannot replay at the recorded speed: no request has a measured TTFT")
    return fitted


def speed_label(speed: LLMSpeed) -> str:
    """The ``llm`` spec a replay store records: ``replay:NAME(ttft=..,prefill=..,tpot=..)``."""
    serial = ",serial" if speed.serial else ""
    return (
        f"replay:{speed.name}(ttft={speed.ttft:.4g},prefill={speed.prefill:.4g},"
        f"tpot={speed.tpot:.4g}{serial})"
    )


Resolver = Callable[[str], Benchmark]


@dataclass(kw_only=True)
class _Context:
    source: Path
    speed: LLMSpeed
    data_dir: Path
    resolve: Resolver
    questions: dict[str, dict[str, Question]] = field(default_factory=dict)
    vocabulary: Vocabularies = registry_vocabulary
    engines: dict[str, ReplayEngineLLM] = field(default_factory=dict)


def _model(record: Mapping[str, Any]) -> str:
    return str((record.get("config") or {}).get("model"))


def _engine_llm(ctx: _Context, record: Mapping[str, Any]) -> ReplayEngineLLM:
    model = _model(record)
    if model not in ctx.engines:
        ctx.engines[model] = ReplayEngineLLM(ctx.vocabulary(model), ctx.speed, model=model)
    return ctx.engines[model]


def _question(ctx: _Context, bench: Benchmark, question_id: str) -> Question | None:
    if bench.name not in ctx.questions:
        ctx.questions[bench.name] = {str(q.id): q for q in bench.load(ctx.data_dir)}
    return ctx.questions[bench.name].get(question_id)


def _run_config(ctx: _Context, bench: Benchmark, record: Mapping[str, Any]) -> RunConfig:
    config = record.get("config") or {}
    stream = config.get("stream")
    options = RunOptions(
        data_dir=ctx.data_dir,
        tool_latency=Latency.parse(str(config.get("tool_latency") or "real")),
        stream=True if stream is None else bool(stream),
        search=str(config.get("search") or "offline"),
        # the recorded budget; stores older than the option read whole observations
        observation_tokens=int(config.get("observation_tokens") or 0),
    )
    replay = {
        "source": str(ctx.source),
        "speed": ctx.speed.to_dict(),
        "recorded_llm": config.get("llm"),
        "recorded_commit": config.get("git_commit"),
    }
    return RunConfig(
        benchmark=bench,
        methods=(str(record["method"]),),
        llm_spec=speed_label(ctx.speed),
        options=options,
        extra={"replay": replay},
    )


async def replay_store(
    source: Path,
    target: Store,
    speed: str | LLMSpeed,
    *,
    data_dir: Path,
    methods: Sequence[str] | None = None,
    limit: int | None = None,
    resolve: Resolver | None = None,
    vocabulary: Vocabularies = registry_vocabulary,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayReport:
    """Re-run every stored (question, method) of ``source`` with a :class:`ReplayLLM`.

    Args:
        source: the store to replay (read only).
        target: the store the replayed records are appended to (resumable like ``bench``).
        speed: an :class:`LLMSpeed`, a preset name, ``key=value`` figures or ``"recorded"``.
        data_dir: the benchmark data directory (questions, offline search).
        methods: only these methods (``None``: all).
        limit: only the first ``limit`` questions of the source, in file order.
        resolve: benchmark name -> benchmark (default: the registry's ``get_benchmark``).
        vocabulary: model name -> tokenizer, for CML runs (default: the registry model's GGUF
            vocabulary, read without its weights).
        on_record: called with each new record.

    Returns:
        the report: records written, records skipped (CML runs, unknown questions), every
        divergence, and recorded against replayed latencies per method.

    Raises:
        UsageError: a bad speed or an unreadable store.
        LLMError: never from the replay LLM itself; a tool's LLM error propagates as in a run.
    """
    records = _select(list(read_records(source)), methods, limit)
    report = ReplayReport(speed=resolve_speed(speed, records, vocabulary))
    ctx = _Context(
        source=source,
        speed=report.speed,
        data_dir=data_dir,
        resolve=resolve or get_benchmark,
        vocabulary=vocabulary,
    )
    for record in records:
        await _replay_one(ctx, record, target, report, on_record)
    return report


def _select(
    records: list[dict[str, Any]], methods: Sequence[str] | None, limit: int | None
) -> list[dict[str, Any]]:
    seen: set[tuple[str, str, str, str]] = set()
    questions: list[str] = []
    out = []
    for record in records:
        key = record_key(record)
        if key in seen or (methods and record.get("method") not in methods):
            continue
        seen.add(key)
        qid = str(record.get("question_id"))
        if qid not in questions:
            questions.append(qid)
        if limit is not None and questions.index(qid) >= limit:
            continue
        out.append(record)
    return out


async def _replay_one(
    ctx: _Context,
    record: Mapping[str, Any],
    target: Store,
    report: ReplayReport,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> None:
    qid, method = str(record.get("question_id")), str(record.get("method"))
    try:
        recorded = recorded_requests(record)
    except UsageError as exc:
        report.skipped.append((qid, method, str(exc)))
        return
    bench = ctx.resolve(str(record.get("benchmark")))
    question = _question(ctx, bench, qid)
    if question is None:
        report.skipped.append((qid, method, "question not in the benchmark's data"))
        return
    config = _run_config(ctx, bench, record)
    if is_cml(record):
        new = await _replay_cml(ctx, record, config, question, target, report)
    else:
        new = await _replay_requests(ctx, record, recorded, config, question, target, report)
    for item in new:
        report.recorded_latency[method].append(float(record.get("latency") or 0.0))
        report.replayed_latency[method].append(float(item.get("latency") or 0.0))
        if on_record:
            on_record(item)


async def _replay_requests(
    ctx: _Context,
    record: Mapping[str, Any],
    recorded: Sequence[RecordedRequest],
    config: RunConfig,
    question: Question,
    target: Store,
    report: ReplayReport,
) -> list[dict[str, Any]]:
    """One agent run over :meth:`LLM.stream` with a :class:`ReplayLLM`; its new records."""
    llm = replay_llm(
        recorded,
        ctx.speed,
        model=str((record.get("config") or {}).get("model") or "replay"),
        question_id=str(record.get("question_id")),
        method=str(record.get("method")),
    )
    new: list[dict[str, Any]] = []
    report.written += await run_benchmark(config, [question], llm, target, on_record=new.append)
    report.divergences.extend(llm.divergences)
    report.divergences.extend(llm.missing())
    for item in new:
        if isinstance(item.get("trace"), dict):
            report.divergences.extend(llm.role_divergences(trace_from_dict(item["trace"])))
    return new


async def _replay_cml(
    ctx: _Context,
    record: Mapping[str, Any],
    config: RunConfig,
    question: Question,
    target: Store,
    report: ReplayReport,
) -> list[dict[str, Any]]:
    """One CML run on the shared :class:`ReplayEngineLLM`; its new records."""
    engine = _engine_llm(ctx, record)
    tokens = engine.load(str((record.get("details") or {}).get("text") or ""))
    report.divergences.append(
        Divergence(
            question_id=str(record.get("question_id")),
            method=str(record.get("method")),
            kind="unchecked",
            role="cml",
            request=1,
            detail=f"CML run: {tokens} tokens of recorded output; its prompt is not recorded",
        )
    )
    new: list[dict[str, Any]] = []
    report.written += await run_benchmark(config, [question], engine, target, on_record=new.append)
    return new
