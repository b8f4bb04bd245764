"""Agents: strategies that answer a question with tools, all returning :class:`RunResult`.

- :class:`LLMCompiler` — planner + task fetching unit + joiner, with replanning
  (Kim et al. 2023, arXiv 2312.04511);
- :class:`ReAct` — the sequential Thought/Action/Observation baseline (Yao et al. 2022);
- :class:`AsyncLM` — asynchronous function calling with CML interrupts and traps
  (Gim, Lee, Zhong 2024, arXiv 2412.07017), and :class:`SyncCalling`, its synchronous baselines;
- :class:`NativeFunctionCalling` — the backend's own function calling (``tools=``, one or
  several calls per turn), the OpenAI parallel function calling baseline of LLMCompiler.
"""

from interlace.agents._asynclm import AsyncLM
from interlace.agents._compiler import LLMCompiler
from interlace.agents._native import NativeFunctionCalling
from interlace.agents._react import ReAct
from interlace.agents._result import Agent, RunResult
from interlace.agents._sync import SyncCalling

__all__ = [
    "Agent",
    "AsyncLM",
    "LLMCompiler",
    "NativeFunctionCalling",
    "ReAct",
    "RunResult",
    "SyncCalling",
]
