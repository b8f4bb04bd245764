"""The synchronous baselines of AsyncLM (arXiv 2412.07017, Section 4), in the same harness.

Both write calls in CML with the same model, tools and prompt (one sentence differs: calls block)
as :class:`~interlace.agents._asynclm.AsyncLM`; only the calling policy changes:

* :class:`SyncCalling` (``"sync"``): each call runs as soon as it is written and decoding waits for
  its result before the next token.
* :class:`SyncCalling` with ``parallel=True`` (``"sync-parallel"``): the calls of one turn are
  collected; at ``[TRAP][END]`` or end of sequence they all run in parallel and decoding waits
  for every one (OpenAI-style parallel function calling).

On a local model they decode on the token engine (same KV-cache reuse as ``"async"``, so the
comparison isolates the calling policy); on other backends they use the stream engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlace.agents._asynclm import AsyncLM
from interlace.cml._runtime import Invocable, Policy
from interlace.llm._base import LLM


class SyncCalling(AsyncLM):
    """Synchronous function calling (``"sync"``) or turn-parallel calling (``"sync-parallel"``).

    Args:
        llm: the model.
        tools: the tools.
        parallel: run the calls of a turn together and wait for all (``"sync-parallel"``).
        **options: as for :class:`~interlace.agents._asynclm.AsyncLM`.
    """

    def __init__(
        self, llm: LLM, tools: Sequence[Invocable], *, parallel: bool = False, **options: Any
    ) -> None:
        self.policy: Policy = "sync-parallel" if parallel else "sync"
        super().__init__(llm, tools, **options)

    def _method_name(self) -> str:
        return self.policy
