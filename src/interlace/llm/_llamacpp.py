"""Loading a GGUF model with llama-cpp-python on every CPU, AMX ones included.

llama.cpp built with ``-march=native`` on a CPU with Intel AMX (Sapphire Rapids and later Xeons)
compiles its AMX matrix kernels and, by default, places a model's weights in the AMX "extra"
buffer type, so every matrix multiplication goes through ``ggml_backend_amx_mul_mat``. On some
such machines that kernel crashes the process with a segmentation fault at the first decode
(llama.cpp issue #20824, open without a fix; seen here on 2026-12-03 with llama-cpp-python 0.3.36,
Q4_K_M Qwen2.5-Coder-0.5B and Q8_0 SmolLM2-135M, a fresh ``pip install`` on a 2-core Xeon with
``amx_int8``). A segfault loses the whole run, so when the installed build has AMX kernels the
model is loaded with ``use_extra_bufts = False`` (llama.cpp's ``--no-extra-bufts``): the weights
stay in plain CPU buffers and the AVX-512/AVX2 kernels do the work. A build without AMX kernels
(any CPU without AMX, or a build with ``-mno-amx-tile -mno-amx-int8 -mno-amx-bf16``) is loaded
unchanged, keeping llama.cpp's repacked-weight kernels.

llama-cpp-python's :class:`~llama_cpp.Llama` builds its model parameters inside its constructor
and loads the model there, with no parameter for ``use_extra_bufts``; :func:`without_amx`
therefore wraps ``llama_model_default_params`` for the duration of the load (under a lock, then
restored).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["amx_kernels_built", "load_llama", "without_amx"]

_PATCH_LOCK = threading.RLock()


@functools.cache
def amx_kernels_built() -> bool:
    """Whether the installed llama.cpp was compiled with its AMX kernels (``AMX_INT8 = 1`` in
    llama.cpp's system info; only a CPU with AMX can produce such a native build)."""
    import llama_cpp

    return "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode(errors="replace")


@contextmanager
def without_amx() -> Iterator[bool]:
    """While active, llama-cpp-python loads models without llama.cpp's extra buffer types if the
    build has AMX kernels (module docstring). Yields whether it changed anything.

    Thread-safe: concurrent loads serialise on one lock; the original function is restored on
    exit, also when the load raises.
    """
    if not amx_kernels_built():
        yield False
        return
    import llama_cpp.llama_cpp as lib

    with _PATCH_LOCK:
        original = lib.llama_model_default_params

        def params() -> Any:
            value = original()
            value.use_extra_bufts = False
            return value

        lib.llama_model_default_params = params
        try:
            yield True
        finally:
            lib.llama_model_default_params = original


def load_llama(path: str | os.PathLike[str], **params: Any) -> Any:
    """``llama_cpp.Llama(path, **params)``, loaded :func:`without_amx`.

    Raises:
        ValueError: llama-cpp-python could not load the file (its own error).
    """
    from llama_cpp import Llama

    with without_amx():
        return Llama(os.fspath(path), **params)
