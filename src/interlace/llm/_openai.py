"""An OpenAI-compatible chat backend: OpenAI, Azure OpenAI, vLLM, SGLang, Ollama, llama.cpp
server, Friendli — anything that speaks ``/v1/chat/completions`` with streaming.

Built on the official ``openai`` SDK. Requests stream with ``stream_options.include_usage`` so the
server's own token counts (and prompt-cache hits, where reported) end up in
:class:`~interlace.llm.Usage`. Retries with exponential backoff on 408/409/429/5xx and connection
errors are the SDK's (``max_retries``, bounded); every SDK failure is re-raised as a typed
:class:`~interlace.LLMError`. A request that needed retries is logged (warning, logger
``interlace.llm``) with how many it took; the grammar fallback (below) is logged at debug level
when it resends the request.

Native function calling (:class:`~interlace.llm.NativeToolCalling`): :meth:`OpenAICompatLLM.
stream_tools` sends the offered functions as ``tools``/``tool_choice``/``parallel_tool_calls``
and assembles the streamed ``tool_calls`` deltas (an id and a name in a call's first delta, its
JSON arguments in fragments over later chunks, several calls told apart by ``index``) into
:class:`~interlace.llm.ToolCall` items on the :class:`~interlace.llm.Completion`.

Note for llama.cpp's ``llama_cpp.server``: by default it aborts a streaming request when a new one
arrives (``interrupt_requests``), so send requests to it one at a time (or start it with
``--interrupt_requests false``).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import anyio
import openai

from interlace._clock import now
from interlace._errors import (
    LLMAuthenticationError,
    LLMConnectionError,
    LLMContextOverflowError,
    LLMError,
    LLMModelNotFoundError,
    LLMRateLimitError,
    LLMResponseError,
    UsageError,
)
from interlace.llm._base import (
    LLM,
    Completion,
    FinishReason,
    GenerationConfig,
    Message,
    StreamItem,
    TextDelta,
    Timing,
    Usage,
)
from interlace.llm._pricing import PriceTable
from interlace.llm._toolcalls import NativeTools, ToolCall

_log = logging.getLogger("interlace.llm")


@dataclass(frozen=True, kw_only=True, slots=True)
class Preset:
    """Connection defaults for one kind of OpenAI-compatible server.

    Attributes:
        base_url: default ``/v1`` URL (``None``: the SDK's, i.e. api.openai.com).
        api_key_env: environment variable holding the key (``None``: no key needed).
        placeholder_key: key sent when the server needs none (the SDK insists on one).
        grammar_field: how the server takes a grammar (see :data:`GrammarField`), ``None``:
            it takes none that interlace can send.
    """

    base_url: str | None
    api_key_env: str | None
    placeholder_key: str = "not-needed"
    grammar_field: GrammarField | None = None


GrammarField = Literal["vllm", "sglang", "llguidance"]
"""How an OpenAI-compatible server takes :attr:`GenerationConfig.grammar` (Lark, llguidance's
dialect):

* ``"vllm"``: ``structured_outputs: {"grammar": LARK}`` (vLLM 0.12 and later; start the server
  with the guidance backend, ``--structured-outputs-config.backend guidance``, for llguidance's
  Lark extensions such as ``rule[max_tokens=N]``);
* ``"sglang"``: ``ebnf: "%llguidance {}" + LARK`` (an SGLang server started with
  ``--grammar-backend llguidance``, which reads a Lark grammar behind that prefix; with its
  default backend the server refuses it and the fallback below applies);
* ``"llguidance"``: ``grammar: "%llguidance {}" + LARK`` (a llama.cpp server built with
  ``-DLLAMA_LLGUIDANCE=ON``).

A server that rejects the grammar (HTTP 400) gets the request again without it, and no grammar
from then on; the completion carries a warning.
"""

PRESETS: Mapping[str, Preset] = {
    "openai": Preset(base_url=None, api_key_env="OPENAI_API_KEY"),
    "vllm": Preset(base_url="http://localhost:8000/v1", api_key_env=None, grammar_field="vllm"),
    "sglang": Preset(
        base_url="http://localhost:30000/v1", api_key_env=None, grammar_field="sglang"
    ),
    "ollama": Preset(
        base_url="http://localhost:11434/v1", api_key_env=None, placeholder_key="ollama"
    ),
    "llamacpp": Preset(base_url="http://localhost:8080/v1", api_key_env=None),
    "friendli": Preset(
        base_url="https://api.friendli.ai/serverless/v1", api_key_env="FRIENDLI_TOKEN"
    ),
}
"""Server kinds :func:`~interlace.llm.load_llm` knows, with their default URL and key variable."""

_DEFAULT_CONFIG = GenerationConfig()
_EXTRA_CHUNKS = 16  # chunks beyond max_tokens a compliant server may send (role, finish, usage)

_CONTEXT_HINTS = re.compile(
    r"context[ _]length|context window|maximum context|too many tokens|prompt is too long|"
    r"exceed.*context|context.*exceed",
    re.IGNORECASE,
)


class OpenAICompatLLM(LLM):
    """A chat model behind an OpenAI-compatible HTTP API.

    Args:
        model: the model (or Azure deployment) name sent with each request.
        base_url: the server's ``/v1`` URL (``None``: api.openai.com).
        api_key: the key (``None``: ``$OPENAI_API_KEY``, else a placeholder for local servers).
        timeout: seconds allowed for connecting, for each read, and between two chunks of
            the streamed reply (keep-alive bytes do not count: a server that sends only those
            for longer fails with :class:`~interlace.LLMConnectionError`).
        max_retries: retries, with exponential backoff (0.5 s doubling, capped at 8 s), on
            connection errors, 408/409/429 and 5xx responses.
        prices: the price table for ``cost_usd`` (default :meth:`PriceTable.default`).
        client: a ready ``openai.AsyncOpenAI``/``AsyncAzureOpenAI`` (overrides the above; tests
            pass one built on an ``httpx`` mock transport).
        extra_body: extra JSON fields sent with every request (server-specific options).
        grammar_field: send :attr:`GenerationConfig.grammar` to the server this way
            (:data:`GrammarField`); ``None``: grammars are not sent and callers parse the
            reply as usual. :attr:`constrains` tells whether grammars are being sent.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        prices: PriceTable | None = None,
        client: openai.AsyncOpenAI | None = None,
        extra_body: Mapping[str, Any] | None = None,
        grammar_field: GrammarField | None = None,
    ) -> None:
        if grammar_field is not None and grammar_field not in get_args(GrammarField):
            fields = ", ".join(repr(f) for f in get_args(GrammarField))
            raise UsageError(f"grammar_field={grammar_field!r}: use {fields} or None")
        self.grammar_field: GrammarField | None = grammar_field
        self.model = model
        self.prices = prices if prices is not None else PriceTable.default()
        self.extra_body = dict(extra_body or {})
        if client is None:
            key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
            client = openai.AsyncOpenAI(
                api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries
            )
        self.client = client
        self.timeout = timeout

    @classmethod
    def from_preset(
        cls, kind: str, model: str, *, base_url: str | None = None, **kwargs: Any
    ) -> OpenAICompatLLM:
        """Connect to a server of a known kind (a key of :data:`PRESETS`).

        Raises:
            UsageError: unknown ``kind``, or its key variable (e.g. ``FRIENDLI_TOKEN``) is unset.
        """
        try:
            preset = PRESETS[kind]
        except KeyError:
            raise UsageError(f"unknown server kind {kind!r}; known: {', '.join(PRESETS)}") from None
        if "api_key" not in kwargs:
            key = os.environ.get(preset.api_key_env) if preset.api_key_env else None
            if preset.api_key_env and not key:
                raise UsageError(f"{kind}: set ${preset.api_key_env} to your API key")
            kwargs["api_key"] = key or preset.placeholder_key
        kwargs.setdefault("grammar_field", preset.grammar_field)
        return cls(model, base_url=base_url or preset.base_url, **kwargs)

    @classmethod
    def azure_from_env(cls, deployment: str | None = None, **kwargs: Any) -> OpenAICompatLLM:
        """Azure OpenAI configured from ``AZURE_ENDPOINT``, ``AZURE_OPENAI_API_VERSION``,
        ``AZURE_OPENAI_API_KEY`` and (unless ``deployment`` is given) ``AZURE_DEPLOYMENT_NAME``.

        Raises:
            UsageError: a required variable is unset (the message names it).
        """
        env = os.environ
        names = ["AZURE_ENDPOINT", "AZURE_OPENAI_API_VERSION", "AZURE_OPENAI_API_KEY"]
        if not deployment:
            names.append("AZURE_DEPLOYMENT_NAME")
        missing = [n for n in names if not env.get(n)]
        if missing:
            raise UsageError(
                f"Azure OpenAI needs these environment variables: {', '.join(missing)}"
            )
        deployment = deployment or env["AZURE_DEPLOYMENT_NAME"]
        timeout = kwargs.pop("timeout", 120.0)
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=env["AZURE_ENDPOINT"],
            api_version=env["AZURE_OPENAI_API_VERSION"],
            api_key=env["AZURE_OPENAI_API_KEY"],
            timeout=timeout,
            max_retries=kwargs.pop("max_retries", 3),
        )
        return cls(deployment, client=client, timeout=timeout, **kwargs)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.close()

    def stream_tools(
        self,
        messages: Sequence[Message],
        tools: NativeTools,
        config: GenerationConfig = _DEFAULT_CONFIG,
    ) -> AsyncIterator[StreamItem]:
        """Stream a chat completion offering ``tools`` natively; see
        :meth:`interlace.llm.NativeToolCalling.stream_tools` and :meth:`stream`.

        The final :class:`~interlace.llm.Completion` lists the calls in ``tool_calls``, ordered
        by the server's ``index``; a call's arguments are its fragments joined, verbatim (not
        parsed: malformed JSON is the model's, read with
        :meth:`~interlace.llm.ToolCall.parsed_arguments`). A call whose id never arrived gets
        ``call_<index>``.

        Raises:
            LLMResponseError: a ``tool_calls`` delta with fields of the wrong types, or a call
                that never got a function name; and everything :meth:`stream` raises.
        """
        return self.stream(messages, config, tools=tools)

    async def stream(
        self,
        messages: Sequence[Message],
        config: GenerationConfig = _DEFAULT_CONFIG,
        *,
        tools: NativeTools | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Stream a chat completion; see :meth:`interlace.llm.LLM.stream` (``tools``: as
        :meth:`stream_tools`).

        Raises:
            LLMConnectionError: unreachable or timed out after the retries, or the stream was
                cut or stalled (no bytes for ``timeout`` seconds) after it started.
            LLMAuthenticationError: 401/403.
            LLMModelNotFoundError: 404 (unknown model or deployment).
            LLMContextOverflowError: the server says the prompt does not fit.
            LLMRateLimitError: still 429 after the retries.
            LLMResponseError: a stream chunk is not a chat completion chunk (not JSON, not an
                object, ``choices`` missing or not a list ...), or the server streams more
                chunks than ``config.max_tokens`` allows (it ignores the limit).
            LLMError: any other API failure, or an empty stream.
        """
        start = now()
        warnings: tuple[str, ...] = ()
        try:
            request = self._request(messages, config, tools)
            try:
                response = await self._create(request)
            except openai.BadRequestError as exc:
                if config.grammar is None or self.grammar_field is None:
                    raise
                # the server takes no grammar this way: say so once, and stop sending it
                warnings = (
                    f"the server rejected the {self.grammar_field} grammar field "
                    f"({_clip(str(exc))}); decoding without grammars from now on",
                )
                _log.debug(
                    "%r rejected the %s grammar field (HTTP 400): resending the request without it",
                    self.model,
                    self.grammar_field,
                )
                self.grammar_field = None
                request = self._request(messages, config, tools)
                response = await self._create(request)
        except openai.OpenAIError as exc:
            raise _typed(exc, self.model) from exc
        parts: list[str] = []
        first: float | None = None
        usage: Usage | None = None
        finish: FinishReason = "stop"
        model = self.model
        chunks = 0
        calls = _CallAssembler(self.model)
        try:
            async for chunk in _chunks(response, self.model, self.timeout):
                chunks += 1
                if chunks > config.max_tokens + _EXTRA_CHUNKS:
                    raise LLMResponseError(
                        f"the server streamed more than {config.max_tokens} tokens' worth of "
                        f"chunks ({chunks}) for {self.model!r}: it ignores max_tokens"
                    )
                read = _read_chunk(chunk, self.model)
                model = read.model or model
                usage = read.usage if read.usage is not None else usage
                if read.length:
                    finish = "length"
                for delta in read.calls:
                    first = first if first is not None else now()
                    calls.add(delta)
                for text in read.texts:
                    first = first if first is not None else now()
                    parts.append(text)
                    yield TextDelta(text=text)
        finally:
            await response.close()
        if chunks == 0:
            raise LLMError(
                f"the server closed the stream for {self.model!r} without sending anything "
                "(llama-cpp-python's server does this when the prompt exceeds its context)"
            )
        yield Completion(
            text="".join(parts),
            model=model,
            usage=usage or Usage(),
            timing=Timing(start=start, first_token=first, end=now()),
            finish_reason=finish,
            cost_usd=self.prices.cost(model, usage) if usage else 0.0,
            usage_exact=usage is not None,
            tool_calls=calls.finish(),
            warnings=warnings,
        )

    async def _create(self, request: dict[str, Any]) -> Any:
        """Send ``request`` (the SDK retries it); the reply's chunk stream. Logs a request
        that needed retries. SDK errors propagate."""
        raw = await self.client.chat.completions.with_raw_response.create(**request)
        log_retries(self.model, getattr(raw, "retries_taken", 0))  # openai >= 1.44 has it
        return raw.parse()

    @property
    def constrains(self) -> bool:  # type: ignore[override]
        """Whether :attr:`GenerationConfig.grammar` is sent to the server (and enforced there)."""
        return self.grammar_field is not None

    def _request(
        self, messages: Sequence[Message], config: GenerationConfig, tools: NativeTools | None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
        }
        if config.stop:
            request["stop"] = list(config.stop)
        if config.seed is not None:
            request["seed"] = config.seed
        extra = dict(self.extra_body)
        if config.grammar is not None and self.grammar_field == "vllm":
            extra["structured_outputs"] = {"grammar": config.grammar.lark}
        elif config.grammar is not None and self.grammar_field == "sglang":
            extra["ebnf"] = _LLGUIDANCE_PREFIX + config.grammar.lark
        elif config.grammar is not None and self.grammar_field == "llguidance":
            extra["grammar"] = _LLGUIDANCE_PREFIX + config.grammar.lark
        if extra:
            request["extra_body"] = extra
        if tools is not None:
            request["tools"] = [dict(schema) for schema in tools.schemas]
            request["tool_choice"] = tools.choice
            request["parallel_tool_calls"] = tools.parallel_tool_calls
        return request


def log_retries(model: str, retries: int) -> None:
    """Log (warning, ``interlace.llm``) that a request to ``model`` was answered only after
    ``retries`` retries (rate limits, 5xx, connection errors: the SDK's backoff, seconds of
    latency); nothing when it took none."""
    if retries > 0:
        _log.warning(
            "request to %r answered after %d %s (rate limit, server or connection errors)",
            model,
            retries,
            "retry" if retries == 1 else "retries",
        )


_LLGUIDANCE_PREFIX = "%llguidance {}\n"  # llama.cpp, SGLang: the grammar is llguidance Lark


def _message(message: Message) -> dict[str, Any]:
    """``message`` as the chat API takes it (tool calls and tool results included)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None  # the API's "no text beside the calls"
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _http_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(timeout, transport) exception classes of the HTTP libraries the SDK may stream with:
    ``httpx`` (openai 1.x) and ``httpx2`` (openai 3.x); the SDK does not wrap errors raised
    while a stream is read."""
    timeouts: list[type[Exception]] = []
    transport: list[type[Exception]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.HTTPError)
    return tuple(timeouts), tuple(transport)


_TIMEOUTS, _TRANSPORT = _http_errors()


async def _chunks(response: Any, model: str, gap: float) -> AsyncIterator[Any]:
    """The SDK's stream chunks; every failure while reading them is a typed LLMError.

    Each chunk must arrive within ``gap`` seconds of the previous one (the per-read timeout
    alone lets a server that sends only keep-alive bytes hold the request forever). A failure
    after the first byte is not retried (the SDK retries requests, not streams).
    """
    iterator = aiter(response)
    while True:
        with anyio.move_on_after(gap) as scope:
            chunk = await _next_chunk(iterator, model)
        if scope.cancelled_caught:
            raise LLMConnectionError(
                f"the stream from the server stalled: no chunk for {gap} s ({model!r})"
            )
        if chunk is _END:
            return
        yield chunk


_END = object()  # the stream ended


async def _next_chunk(iterator: AsyncIterator[Any], model: str) -> Any:
    """The next chunk (``_END`` at the end); a failure is a typed LLMError."""
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _END
    except openai.APITimeoutError as exc:  # the SDK's wrapping of a read timeout
        message = f"the stream from the server stalled ({model!r}): {exc!r}"
        raise LLMConnectionError(message) from exc
    except openai.APIConnectionError as exc:
        message = f"the stream from the server broke off ({model!r}): {exc!r}"
        raise LLMConnectionError(message) from exc
    except openai.OpenAIError as exc:
        raise _typed(exc, model) from exc
    except _TIMEOUTS as exc:
        message = f"the stream from the server stalled ({model!r}): {exc!r}"
        raise LLMConnectionError(message) from exc
    except _TRANSPORT as exc:  # cut connection, incomplete chunked body ...
        message = f"the stream from the server broke off ({model!r}): {exc!r}"
        raise LLMConnectionError(message) from exc
    except Exception as exc:  # the SDK's own decoding of a malformed event
        raise LLMResponseError(
            f"malformed stream event from the server ({model!r}): {type(exc).__name__}: {exc}"
        ) from exc


@dataclass(frozen=True, kw_only=True, slots=True)
class _Chunk:
    """What one stream chunk says: its model, usage, text pieces, tool-call fragments, and
    whether it hit the limit."""

    model: str | None
    usage: Usage | None
    texts: tuple[str, ...]
    length: bool
    calls: tuple[_CallDelta, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class _CallDelta:
    """One ``tool_calls`` entry of a chunk: a fragment of one call."""

    index: int | None
    id: str | None
    name: str | None
    arguments: str


def _call_deltas(raw: Any) -> list[_CallDelta]:
    """The ``tool_calls`` of one choice's delta (``None``: none).

    Raises:
        TypeError: not a list, or an entry whose fields have the wrong types.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TypeError(f"tool_calls is {type(raw).__name__}, not a list")
    deltas = []
    for entry in raw:
        index, call_id, function = entry.index, entry.id, entry.function
        name = function.name if function is not None else None
        arguments = function.arguments if function is not None else None
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise TypeError(f"tool call index is {type(index).__name__}, not an integer")
        for field_name, value in (("id", call_id), ("name", name), ("arguments", arguments)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"tool call {field_name} is {type(value).__name__}, not a string")
        deltas.append(_CallDelta(index=index, id=call_id, name=name, arguments=arguments or ""))
    return deltas


class _CallAssembler:
    """Tool calls assembled from their streamed fragments.

    A fragment belongs to the call of its ``index``; one without an index (some servers) to the
    call with its id, else starts a call when it brings a new id, else continues the last one.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.calls: dict[int, _PartialCall] = {}  # by index

    def add(self, delta: _CallDelta) -> None:
        key = delta.index if delta.index is not None else self._key(delta.id)
        call = self.calls.setdefault(key, _PartialCall())
        if delta.id and not call.id:
            call.id = delta.id
        if delta.name and call.name != delta.name:  # a repeated name is not a second fragment
            call.name += delta.name
        call.fragments.append(delta.arguments)

    def _key(self, call_id: str | None) -> int:
        for key, call in self.calls.items():
            if call_id and call.id == call_id:
                return key
        if self.calls and not call_id:
            return max(self.calls)
        return max(self.calls, default=-1) + 1

    def finish(self) -> tuple[ToolCall, ...]:
        """The calls in index order.

        Raises:
            LLMResponseError: a call never got a function name.
        """
        out = []
        for key in sorted(self.calls):
            call = self.calls[key]
            arguments = "".join(call.fragments)
            if not call.name:
                raise LLMResponseError(
                    f"the server streamed tool call {key} without a function name "
                    f"({self.model!r}); its arguments: {_clip(arguments)!r}"
                )
            out.append(ToolCall(id=call.id or f"call_{key}", name=call.name, arguments=arguments))
        return tuple(out)


@dataclass(kw_only=True, slots=True)
class _PartialCall:
    """A tool call being assembled."""

    id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)


def _read_chunk(chunk: Any, model: str) -> _Chunk:
    """Read one chat completion chunk defensively (servers differ, some break the protocol).

    Raises:
        LLMResponseError: the chunk is not an object with a list of ``choices`` (``data: 42``,
            ``"choices": null`` ...) or its fields have the wrong types.
    """
    try:
        choices = chunk.choices
        if choices is None and getattr(chunk, "usage", None) is not None:
            choices = []  # a usage-only chunk from a lenient server
        if not isinstance(choices, list):
            raise TypeError(f"choices is {type(choices).__name__}, not a list")
        texts: list[str] = []
        calls: list[_CallDelta] = []
        length = False
        for choice in choices:
            if choice.finish_reason == "length":
                length = True
            text = choice.delta.content if choice.delta is not None else None
            if text is not None and not isinstance(text, str):
                raise TypeError(f"delta content is {type(text).__name__}, not a string")
            if text:
                texts.append(text)
            if choice.delta is not None:
                calls += _call_deltas(choice.delta.tool_calls)
        name = chunk.model
        usage = _usage(chunk.usage) if chunk.usage is not None else None
    except Exception as exc:
        raise LLMResponseError(
            f"malformed stream chunk from the server ({model!r}): {type(exc).__name__}: {exc}; "
            f"chunk: {_clip(repr(chunk))}"
        ) from exc
    return _Chunk(
        model=name if isinstance(name, str) and name else None,
        usage=usage,
        texts=tuple(texts),
        length=length,
        calls=tuple(calls),
    )


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _usage(raw: Any) -> Usage:
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return Usage(
        prompt_tokens=int(raw.prompt_tokens or 0),
        completion_tokens=int(raw.completion_tokens or 0),
        cached_prompt_tokens=int(cached or 0),
    )


def _typed(exc: openai.OpenAIError, model: str) -> LLMError:
    """Translate an SDK exception into interlace's error tree."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return LLMConnectionError(f"cannot reach the LLM server for {model!r}: {exc}")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return LLMAuthenticationError(f"the server refused the API key for {model!r}: {exc}")
    if isinstance(exc, openai.NotFoundError):
        return LLMModelNotFoundError(f"the server does not know model {model!r}: {exc}")
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimitError(f"still rate-limited after the retries ({model!r}): {exc}")
    if isinstance(exc, openai.APIStatusError):
        code = getattr(exc, "code", None)
        if code == "context_length_exceeded" or _CONTEXT_HINTS.search(str(exc)):
            return LLMContextOverflowError(f"the prompt does not fit {model!r}'s context: {exc}")
    return LLMError(f"{type(exc).__name__} from the LLM server ({model!r}): {exc}")
