"""Agents: strategies that answer a question with tools, all returning :class:`RunResult`.

- :class:`LLMCompiler` — planner + task fetching unit + joiner, with replanning
  (Kim et al. 2023, arXiv 2312.04511);
- :class:`ReAct` — the sequential Thought/Action/Observation baseline (Yao et al. 2022).
"""

from interlace.agents._compiler import LLMCompiler
from interlace.agents._react import ReAct
from interlace.agents._result import Agent, RunResult

__all__ = ["Agent", "LLMCompiler", "ReAct", "RunResult"]
