"""An OpenAI-compatible chat backend: OpenAI, Azure OpenAI, vLLM, SGLang, Ollama, llama.cpp
server, Friendli — anything that speaks ``/v1/chat/completions`` with streaming.

Built on the official ``openai`` SDK. Requests stream with ``stream_options.include_usage`` so the
server's own token counts (and prompt-cache hits, where reported) end up in
:class:`~interlace.llm.Usage`. Retries with exponential backoff on 408/409/429/5xx and connection
errors are the SDK's (``max_retries``, bounded); every SDK failure is re-raised as a typed
:class:`~interlace.LLMError`.

Note for llama.cpp's ``llama_cpp.server``: by default it aborts a streaming request when a new one
arrives (``interrupt_requests``), so send requests to it one at a time (or start it with
``--interrupt_requests false``).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from interlace._errors import (
    LLMAuthenticationError,
    LLMConnectionError,
    LLMContextOverflowError,
    LLMError,
    LLMModelNotFoundError,
    LLMRateLimitError,
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
    now,
)
from interlace.llm._pricing import PriceTable


@dataclass(frozen=True, kw_only=True, slots=True)
class Preset:
    """Connection defaults for one kind of OpenAI-compatible server.

    Attributes:
        base_url: default ``/v1`` URL (``None``: the SDK's, i.e. api.openai.com).
        api_key_env: environment variable holding the key (``None``: no key needed).
        placeholder_key: key sent when the server needs none (the SDK insists on one).
    """

    base_url: str | None
    api_key_env: str | None
    placeholder_key: str = "not-needed"


PRESETS: Mapping[str, Preset] = {
    "openai": Preset(base_url=None, api_key_env="OPENAI_API_KEY"),
    "vllm": Preset(base_url="http://localhost:8000/v1", api_key_env=None),
    "sglang": Preset(base_url="http://localhost:30000/v1", api_key_env=None),
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
        timeout: seconds allowed per HTTP request (connect + whole response).
        max_retries: retries, with exponential backoff (0.5 s doubling, capped at 8 s), on
            connection errors, 408/409/429 and 5xx responses.
        prices: the price table for ``cost_usd`` (default :meth:`PriceTable.default`).
        client: a ready ``openai.AsyncOpenAI``/``AsyncAzureOpenAI`` (overrides the above; tests
            pass one built on an ``httpx`` mock transport).
        extra_body: extra JSON fields sent with every request (server-specific options).
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
    ) -> None:
        self.model = model
        self.prices = prices if prices is not None else PriceTable.default()
        self.extra_body = dict(extra_body or {})
        if client is None:
            key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
            client = openai.AsyncOpenAI(
                api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries
            )
        self.client = client

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
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=env["AZURE_ENDPOINT"],
            api_version=env["AZURE_OPENAI_API_VERSION"],
            api_key=env["AZURE_OPENAI_API_KEY"],
            timeout=kwargs.pop("timeout", 120.0),
            max_retries=kwargs.pop("max_retries", 3),
        )
        return cls(deployment, client=client, **kwargs)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.close()

    async def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        """Stream a chat completion; see :meth:`interlace.llm.LLM.stream`.

        Raises:
            LLMConnectionError: unreachable or timed out after the retries.
            LLMAuthenticationError: 401/403.
            LLMModelNotFoundError: 404 (unknown model or deployment).
            LLMContextOverflowError: the server says the prompt does not fit.
            LLMRateLimitError: still 429 after the retries.
            LLMError: any other API failure, or an empty stream.
        """
        start = now()
        try:
            response = await self.client.chat.completions.create(**self._request(messages, config))
        except openai.OpenAIError as exc:
            raise _typed(exc, self.model) from exc
        parts: list[str] = []
        first: float | None = None
        usage: Usage | None = None
        finish: FinishReason = "stop"
        model = self.model
        chunks = 0
        try:
            async for chunk in response:
                chunks += 1
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.finish_reason == "length":
                        finish = "length"
                    text = choice.delta.content if choice.delta is not None else None
                    if text:
                        first = first if first is not None else now()
                        parts.append(text)
                        yield TextDelta(text=text)
        except openai.OpenAIError as exc:
            raise _typed(exc, self.model) from exc
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
        )

    def _request(self, messages: Sequence[Message], config: GenerationConfig) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
        }
        if config.stop:
            request["stop"] = list(config.stop)
        if config.seed is not None:
            request["seed"] = config.seed
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request


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
