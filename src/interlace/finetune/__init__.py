"""Fine-tuning for AsyncLM (Gim, Lee, Zhong 2024, §5): simulated CML traces and a LoRA recipe.

Importing this package never imports torch or transformers; :func:`train` imports them when
called (``pip install 'interlace[finetune]'``).
"""

from interlace.finetune._adapter import TARGETS, write_adapter
from interlace.finetune._simulate import (
    LATENCY_RANGE,
    POLICIES,
    TOKEN_TIME_RANGE,
    CallTiming,
    Segment,
    SimCall,
    SimTrace,
    pieces,
    simulate,
)
from interlace.finetune._train import StepLog, TrainConfig, TrainReport, encode, train

__all__ = [
    "LATENCY_RANGE",
    "POLICIES",
    "TARGETS",
    "TOKEN_TIME_RANGE",
    "CallTiming",
    "Segment",
    "SimCall",
    "SimTrace",
    "StepLog",
    "TrainConfig",
    "TrainReport",
    "encode",
    "pieces",
    "simulate",
    "train",
    "write_adapter",
]
