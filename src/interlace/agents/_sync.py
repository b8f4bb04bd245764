"""The synchronous baselines of AsyncLM (arXiv 2412.07017, Section 4), in the same harness.

They are the one CML agent, :class:`~interlace.agents._asynclm.AsyncLM`, with another calling
policy (same model, tools and prompt; one sentence differs: calls block):

* ``SyncCalling(llm, tools)`` (``"sync"``): each call runs as soon as it is written and decoding
  waits for its result before the next token.
* ``SyncCalling(llm, tools, parallel=True)`` (``"sync-parallel"``): the calls of one turn are
  collected; at ``[TRAP][END]`` or end of sequence they all run in parallel and decoding waits
  for every one (OpenAI-style parallel function calling).

On a local model they decode on the token engine (same KV-cache reuse as ``"async"``, so the
comparison isolates the calling policy); on other backends they use the stream engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlace.agents._asynclm import AsyncLM
from interlace.cml._runtime import Invocable
from interlace.llm._base import LLM


def SyncCalling(  # the public name of the baseline, kept from when it was a class
    llm: LLM, tools: Sequence[Invocable], *, parallel: bool = False, **options: Any
) -> AsyncLM:
    """The CML agent with synchronous (``"sync"``) or turn-parallel (``"sync-parallel"``)
    calling.

    Args:
        llm: the model.
        tools: the tools.
        parallel: run the calls of a turn together and wait for all (``"sync-parallel"``).
        **options: as for :class:`~interlace.agents._asynclm.AsyncLM` (not ``policy``).

    Returns:
        An :class:`~interlace.agents._asynclm.AsyncLM` with the policy set.

    Raises:
        UsageError: ``policy`` is given too (``parallel`` chooses it).
    """
    if "policy" in options:
        from interlace._errors import UsageError

        raise UsageError("SyncCalling(policy=...): choose with parallel=True/False instead")
    return AsyncLM(llm, tools, policy="sync-parallel" if parallel else "sync", **options)
