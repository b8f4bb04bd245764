"""Wrappers around a backend that declare exactly the capabilities it has.

A backend's optional capabilities are protocols (DESIGN.md, "One runtime"):
:class:`~interlace.llm.PrefixPrefill` (prefill a prompt ahead of a request),
:class:`~interlace.llm.TokenLevel` (hold the token engine) and
:class:`~interlace.llm.NativeToolCalling` (offer functions natively). Agents ask
``isinstance(llm, PrefixPrefill)``. A wrapper (metering, say) must therefore implement a
protocol exactly when the backend it wraps does: forwarding every attribute with
``__getattr__`` would claim them all (a runtime-checkable protocol only looks for the method)
and forwarding none would hide them.

:class:`ForwardingLLM` does this explicitly: ``SomeWrapper(inner)`` builds an instance of a
subclass of ``SomeWrapper`` that adds one forwarding method per protocol ``inner`` implements
(the classes are made once per combination). Every stream the wrapper forwards, plain or with
native tools, passes through :meth:`ForwardingLLM.observe`, the one method a wrapper overrides.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Self, cast

from interlace.llm._base import (
    LLM,
    GenerationConfig,
    Message,
    PrefixPrefill,
    StreamItem,
    TokenLevel,
)
from interlace.llm._toolcalls import NativeToolCalling, NativeTools

_DEFAULT_CONFIG = GenerationConfig()


class ForwardingLLM(LLM):
    """Base of wrappers: forwards requests to ``inner`` and the capabilities it declares.

    Subclasses override :meth:`observe` to see each stream's items; ``model`` and
    ``constrains`` are the inner backend's. :meth:`aclose` releases nothing: the wrapped
    backend belongs to whoever made it.

    Args:
        inner: the backend.

    Attributes:
        inner: the wrapped backend.
    """

    inner: LLM

    def __new__(cls, inner: LLM, *args: Any, **kwargs: Any) -> Self:
        made: Self = super().__new__(_with_capabilities(cls, _capabilities(inner)))
        return made

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.model = inner.model
        self.constrains = inner.constrains

    def observe(
        self,
        items: AsyncIterator[StreamItem],
        messages: Sequence[Message],
        config: GenerationConfig,
    ) -> AsyncIterator[StreamItem]:
        """The items of one forwarded request, as the caller gets them (default: unchanged).

        Args:
            items: the inner backend's stream for ``messages`` and ``config``.
        """
        return items

    def stream(
        self, messages: Sequence[Message], config: GenerationConfig = _DEFAULT_CONFIG
    ) -> AsyncIterator[StreamItem]:
        """``inner.stream``, through :meth:`observe`."""
        return self.observe(self.inner.stream(messages, config), messages, config)


class _ForwardPrefill:
    inner: LLM

    async def prefill(
        self, messages: Sequence[Message], *, open_end: bool = False, background: bool = False
    ) -> int:
        """``inner.prefill`` (:class:`~interlace.llm.PrefixPrefill`)."""
        inner = cast(PrefixPrefill, self.inner)
        return await inner.prefill(messages, open_end=open_end, background=background)


class _ForwardTokenLevel:
    inner: LLM

    def exclusive(self, *, background: bool = False) -> AbstractAsyncContextManager[Any]:
        """``inner.exclusive`` (:class:`~interlace.llm.TokenLevel`)."""
        return cast(TokenLevel, self.inner).exclusive(background=background)


class _ForwardNativeTools:
    inner: LLM

    def stream_tools(
        self,
        messages: Sequence[Message],
        tools: NativeTools,
        config: GenerationConfig = _DEFAULT_CONFIG,
    ) -> AsyncIterator[StreamItem]:
        """``inner.stream_tools`` (:class:`~interlace.llm.NativeToolCalling`), through
        :meth:`ForwardingLLM.observe`."""
        items = cast(NativeToolCalling, self.inner).stream_tools(messages, tools, config)
        return cast(ForwardingLLM, self).observe(items, messages, config)


#: Each capability protocol with the mixin that forwards it, in a fixed order.
_FORWARDERS: tuple[tuple[type, type], ...] = (
    (PrefixPrefill, _ForwardPrefill),
    (TokenLevel, _ForwardTokenLevel),
    (NativeToolCalling, _ForwardNativeTools),
)


def _capabilities(inner: LLM) -> tuple[type, ...]:
    """The forwarding mixins for the protocols ``inner`` implements."""
    return tuple(mixin for protocol, mixin in _FORWARDERS if isinstance(inner, protocol))


@functools.cache
def _with_capabilities(cls: type[ForwardingLLM], mixins: tuple[type, ...]) -> type[Any]:
    """``cls`` itself, or a subclass of it with ``mixins`` (made once per combination)."""
    if not mixins or cls.__dict__.get("_forwards") == mixins:
        return cls
    names = "+".join(m.__name__.removeprefix("_Forward") for m in mixins)
    namespace = {"_forwards": mixins, "__module__": cls.__module__, "__doc__": cls.__doc__}
    return type(f"{cls.__name__}[{names}]", (cls, *mixins), namespace)
