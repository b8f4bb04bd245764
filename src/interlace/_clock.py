"""The one clock of interlace: every timing, span and event is in its seconds.

:func:`now` is ``time.monotonic()``: seconds on a clock that never goes backwards and is not
related to the wall-clock date (differences are meaningful, absolute values are not). Traces
store absolute values and analyses subtract :attr:`interlace.Trace.origin`.
"""

from __future__ import annotations

import time

__all__ = ["now"]


def now() -> float:
    """Monotonic seconds (``time.monotonic()``): the clock of every timing and span."""
    return time.monotonic()
