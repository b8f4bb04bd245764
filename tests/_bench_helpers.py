"""Shared helpers of the bench tests (not a conftest: other engineers own that)."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("INTERLACE_DATA_DIR", Path(__file__).parents[2] / "shared/data"))
