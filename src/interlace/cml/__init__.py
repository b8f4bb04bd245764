"""CML: the call/interrupt/trap language of AsyncLM, its token monitor and interrupt manager."""

from interlace.cml._grammar import (
    CALL,
    END,
    HEAD,
    INTR,
    TRAP,
    TRAP_BLOCK,
    Call,
    CallId,
    format_call,
    format_interrupt,
    parse_call,
    parse_call_body,
    truncate,
)
from interlace.cml._interrupts import CallResult, InterruptManager
from interlace.cml._latency import LatencyModel, latency_model
from interlace.cml._monitor import (
    BlockError,
    CallEvent,
    MonitorEvent,
    TextEvent,
    TokenMonitor,
    TrapEvent,
)
from interlace.cml._runtime import (
    CMLLoop,
    EngineDecoder,
    LoopResult,
    ReprefillDecoder,
    StreamDecoder,
)

__all__ = [
    "CALL",
    "END",
    "HEAD",
    "INTR",
    "TRAP",
    "TRAP_BLOCK",
    "BlockError",
    "CMLLoop",
    "Call",
    "CallEvent",
    "CallId",
    "CallResult",
    "EngineDecoder",
    "InterruptManager",
    "LatencyModel",
    "LoopResult",
    "MonitorEvent",
    "ReprefillDecoder",
    "StreamDecoder",
    "TextEvent",
    "TokenMonitor",
    "TrapEvent",
    "format_call",
    "format_interrupt",
    "latency_model",
    "parse_call",
    "parse_call_body",
    "truncate",
]
