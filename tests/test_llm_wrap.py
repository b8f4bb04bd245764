"""Wrappers declare exactly the capability protocols of the backend they wrap."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from interlace.bench._runner import MeteredLLM
from interlace.llm import (
    ForwardingLLM,
    GenerationConfig,
    Message,
    NativeToolCalling,
    NativeTools,
    PrefixPrefill,
    StreamItem,
    TokenLevel,
)
from interlace.testing import ScriptedLLM

pytestmark = pytest.mark.anyio

HELLO = [Message(role="user", content="hello")]


class _Prefilling(ScriptedLLM):
    """A scripted backend that also declares PrefixPrefill and TokenLevel."""

    constrains = True

    def __init__(self) -> None:
        super().__init__(lambda messages: "ok")
        self.prefilled: list[tuple[int, bool, bool]] = []
        self.held: list[bool] = []

    async def prefill(
        self, messages: Sequence[Message], *, open_end: bool = False, background: bool = False
    ) -> int:
        self.prefilled.append((len(messages), open_end, background))
        return 7

    @contextlib.asynccontextmanager
    async def exclusive(self, *, background: bool = False) -> AsyncIterator[str]:
        self.held.append(background)
        yield "engine"


class _Native(ScriptedLLM):
    def stream_tools(
        self,
        messages: Sequence[Message],
        tools: NativeTools,
        config: GenerationConfig = GenerationConfig(),  # noqa: B008
    ) -> AsyncIterator[StreamItem]:
        return self.stream(messages, config)


async def test_a_plain_backend_gets_a_wrapper_without_capabilities() -> None:
    inner = ScriptedLLM(["a", "b"])
    meter = MeteredLLM(inner)
    assert isinstance(meter, MeteredLLM) and meter.inner is inner
    for protocol in (PrefixPrefill, TokenLevel, NativeToolCalling):
        assert not isinstance(meter, protocol), protocol
    with pytest.raises(AttributeError):
        meter.requests  # noqa: B018 - nothing is forwarded implicitly
    assert (await meter.complete(HELLO)).text == "a"
    assert meter.stats.calls == 1 and meter.constrains is False


async def test_declared_capabilities_are_forwarded() -> None:
    inner = _Prefilling()
    meter = MeteredLLM(inner)
    assert isinstance(meter, PrefixPrefill) and isinstance(meter, TokenLevel)
    assert not isinstance(meter, NativeToolCalling)
    assert meter.constrains is True
    assert await meter.prefill(HELLO, open_end=True) == 7
    assert inner.prefilled == [(1, True, False)]
    async with meter.exclusive(background=True) as engine:
        assert engine == "engine"
    assert inner.held == [True]
    assert type(MeteredLLM(_Prefilling())) is type(meter)  # one class per combination


async def test_native_tool_streams_pass_through_observe() -> None:
    meter = MeteredLLM(_Native(["x", "y"]))
    assert isinstance(meter, NativeToolCalling) and not isinstance(meter, PrefixPrefill)
    tools = NativeTools(
        schemas=({"type": "function", "function": {"name": "f", "parameters": {}}},)
    )
    items = [item async for item in meter.stream_tools(HELLO, tools)]
    assert items[-1].text == "x"  # type: ignore[union-attr]
    await meter.complete(HELLO)
    assert meter.stats.calls == 2


async def test_a_subclass_of_the_forwarding_base_observes_every_request() -> None:
    seen: list[str | None] = []

    class Roles(ForwardingLLM):
        async def observe(
            self,
            items: AsyncIterator[StreamItem],
            messages: Sequence[Message],
            config: GenerationConfig,
        ) -> AsyncIterator[StreamItem]:
            seen.append(config.role)
            async for item in items:
                yield item

    wrapped: Any = Roles(_Prefilling())
    await wrapped.complete(HELLO, GenerationConfig(role="joiner"))
    assert seen == ["joiner"] and isinstance(wrapped, PrefixPrefill)
