"""Choosing a backend from one string: :func:`load_llm`.

The grammar is :data:`BACKEND_SPEC_HELP`; :func:`parse_spec` turns a spec into a
:class:`BackendSpec` without connecting to anything, :func:`load_llm` builds the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from interlace._errors import UsageError
from interlace.llm._base import LLM
from interlace.llm._models import DEFAULT_MODEL
from interlace.llm._openai import PRESETS, OpenAICompatLLM

BACKEND_SPEC_HELP = """\
Backend spec, KIND[:MODEL][@URL]:
  local                     in-process llama.cpp with the default model (qwen2.5-coder-0.5b)
  local:NAME                a model from `interlace models list`, e.g. local:qwen2.5-coder-1.5b
  local:/path/model.gguf    any GGUF file
  local:NAME+ADAPTER.gguf   the model with a llama.cpp LoRA adapter (interlace finetune train)
  openai:MODEL              api.openai.com ($OPENAI_API_KEY), e.g. openai:gpt-4o-mini
  azure[:DEPLOYMENT]        Azure OpenAI ($AZURE_ENDPOINT, $AZURE_OPENAI_API_VERSION,
                            $AZURE_OPENAI_API_KEY; deployment default $AZURE_DEPLOYMENT_NAME)
  vllm:MODEL[@URL]          vLLM server, default URL http://localhost:8000/v1
  sglang:MODEL[@URL]        SGLang server, default URL http://localhost:30000/v1
  ollama:MODEL[@URL]        Ollama, default URL http://localhost:11434/v1
  llamacpp:MODEL[@URL]      llama.cpp server, default URL http://localhost:8080/v1
  friendli:MODEL            Friendli serverless endpoints ($FRIENDLI_TOKEN)
  openai:MODEL@URL          any other OpenAI-compatible server
"""
"""The spec grammar, for ``--help`` texts and error messages."""

Kind = Literal["local", "openai", "azure", "vllm", "sglang", "ollama", "llamacpp", "friendli"]
_KINDS: tuple[Kind, ...] = (
    "local",
    "openai",
    "azure",
    "vllm",
    "sglang",
    "ollama",
    "llamacpp",
    "friendli",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class BackendSpec:
    """A parsed backend spec.

    Attributes:
        kind: the backend family.
        model: registry name or GGUF path (``local``), model/deployment name otherwise
            (``None`` only for ``azure`` without a deployment).
        base_url: server URL given after ``@``, else ``None`` (the kind's default).
        adapter: ``local`` only: the LoRA adapter GGUF given after ``+``, else ``None``.
    """

    kind: Kind
    model: str | None
    base_url: str | None = None
    adapter: str | None = None


def _bad(spec: str, why: str) -> UsageError:
    return UsageError(f"bad backend spec {spec!r}: {why}\n\n{BACKEND_SPEC_HELP}")


def parse_spec(spec: str) -> BackendSpec:
    """Parse ``KIND[:MODEL][@URL]`` (see :data:`BACKEND_SPEC_HELP`).

    Raises:
        UsageError: unknown kind, missing model, or a URL where none is allowed; the message
            shows the grammar.
    """
    text = spec.strip()
    kind_text, _, rest = text.partition(":")
    kind_text = kind_text.lower()
    if kind_text not in _KINDS:
        raise _bad(spec, f"unknown backend {kind_text!r}")
    kind: Kind = kind_text  # checked just above
    model, url = rest, None
    at = rest.rfind("@")
    if at >= 0 and rest[at + 1 :].startswith(("http://", "https://")):
        model, url = rest[:at], rest[at + 1 :]
    model = model.strip()
    if kind == "local":
        if url is not None:
            raise _bad(spec, "local models take no URL; use llamacpp:MODEL@URL for a server")
        model, plus, adapter = model.partition("+")
        if plus and not adapter.strip():
            raise _bad(spec, "write local:NAME+ADAPTER.gguf (the adapter path is missing)")
        adapter_path = adapter.strip() or None
        return BackendSpec(kind=kind, model=model.strip() or DEFAULT_MODEL, adapter=adapter_path)
    if kind in ("azure", "friendli") and url is not None:
        raise _bad(spec, f"{kind} takes no @URL")
    if not model and kind != "azure":
        raise _bad(spec, f"{kind} needs a model name, e.g. {kind}:MODEL")
    return BackendSpec(kind=kind, model=model or None, base_url=url)


def load_llm(spec: str = "local", **overrides: Any) -> LLM:
    """Build the backend a spec names.

    Args:
        spec: ``KIND[:MODEL][@URL]``; see :data:`BACKEND_SPEC_HELP`.
        **overrides: keyword arguments for the backend's constructor, e.g. ``n_ctx=8192`` for
            ``local`` or ``api_key=...``, ``timeout=30.0`` for servers.

    Raises:
        UsageError: the spec is malformed or required environment variables are unset.
        LLMModelNotFoundError: a local model is unknown, missing from the cache, or the path
            does not exist.
    """
    parsed = parse_spec(spec)
    if parsed.kind == "local":
        from interlace.llm._local import LocalLLM  # heavy import: only when asked for

        assert parsed.model is not None
        if parsed.adapter is not None:
            overrides.setdefault("adapter", parsed.adapter)
        return LocalLLM(parsed.model, **overrides)
    if parsed.kind == "azure":
        return OpenAICompatLLM.azure_from_env(parsed.model, **overrides)
    assert parsed.model is not None
    if parsed.kind == "openai" and parsed.base_url is None:
        return OpenAICompatLLM.from_preset("openai", parsed.model, **overrides)
    if parsed.kind == "openai":
        overrides.setdefault("api_key", None)
    assert parsed.kind in PRESETS
    return OpenAICompatLLM.from_preset(
        parsed.kind, parsed.model, base_url=parsed.base_url, **overrides
    )
