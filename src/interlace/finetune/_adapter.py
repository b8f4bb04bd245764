"""Writing a LoRA adapter as a llama.cpp GGUF adapter file (needs the ``gguf`` package).

llama.cpp loads an adapter (``llama_adapter_lora_init``; ``Llama(lora_path=...)`` in
llama-cpp-python) from a GGUF file with:

* metadata ``general.type = "adapter"``, ``general.architecture`` equal to the base model's,
  ``adapter.type = "lora"`` and ``adapter.lora.alpha`` (float32);
* per adapted weight ``W`` of the base GGUF (e.g. ``blk.3.attn_v.weight``, shape ``ne =
  [n_in, n_out]``) two tensors ``<name>.lora_a`` with ``ne = [n_in, r]`` and ``<name>.lora_b``
  with ``ne = [r, n_out]``; as numpy arrays (row-major, ``ne`` reversed) that is ``A`` of shape
  ``(r, n_in)`` and ``B`` of shape ``(n_out, r)``, the shapes of peft's ``lora_A.weight`` and
  ``lora_B.weight``;
* the update ``W x + (alpha / r) B A x`` (peft's scaling, ``lora_alpha / r``).

Only projections whose GGUF layout equals the Hugging Face layout are mapped
(:data:`TARGETS`): the query and key projections of llama-family GGUFs are stored with their
rows permuted for llama.cpp's rotary layout, so a LoRA on them would need the same permutation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from interlace._errors import DataError, UsageError

#: Hugging Face module name (last part) -> GGUF tensor name in block ``i``.
TARGETS: Mapping[str, str] = {
    "v_proj": "blk.{i}.attn_v.weight",
    "o_proj": "blk.{i}.attn_output.weight",
    "gate_proj": "blk.{i}.ffn_gate.weight",
    "up_proj": "blk.{i}.ffn_up.weight",
    "down_proj": "blk.{i}.ffn_down.weight",
}

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$")

Factors = Mapping[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]
"""GGUF base tensor name -> ``(A, B)`` with shapes ``(r, n_in)`` and ``(n_out, r)``."""


def gguf_name(module: str) -> str:
    """The base GGUF tensor adapted through Hugging Face module ``module``, e.g.
    ``model.layers.3.self_attn.v_proj`` -> ``blk.3.attn_v.weight``.

    Raises:
        UsageError: not a layer projection listed in :data:`TARGETS`.
    """
    match = _LAYER.search(module)
    if match is None or match.group(2) not in TARGETS:
        raise UsageError(
            f"no GGUF tensor for module {module!r}: LoRA targets are {', '.join(TARGETS)}"
        )
    return TARGETS[match.group(2)].format(i=int(match.group(1)))


def base_tensors(base: Path) -> tuple[str, dict[str, tuple[int, ...]]]:
    """The architecture of base GGUF ``base`` and its tensors' ``ne`` shapes by name.

    Raises:
        DataError: the file cannot be read as GGUF.
    """
    import gguf

    try:
        reader = gguf.GGUFReader(str(base))
        arch = str(reader.fields["general.architecture"].contents())
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{base} is not a readable GGUF model: {exc}") from exc
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    return arch, shapes


def write_adapter(out: Path, base: Path, factors: Factors, *, alpha: float) -> Path:
    """Write ``factors`` as a llama.cpp LoRA adapter for base model ``base`` (module docstring).

    Args:
        out: the adapter file to write (replaced).
        base: the base model's GGUF file (its architecture and tensor shapes are checked).
        factors: per base tensor name, ``(A, B)`` of shapes ``(r, n_in)`` and ``(n_out, r)``
            (float arrays; stored as float32).
        alpha: LoRA alpha; the update is scaled by ``alpha / r``.

    Returns:
        ``out``.

    Raises:
        UsageError: no factors, a name the base model lacks, shapes that do not fit it, ranks
            that differ, or ``alpha`` not positive.
        DataError: ``base`` is not a readable GGUF.
    """
    import gguf

    if not factors:
        raise UsageError("an adapter needs at least one (A, B) pair")
    if not alpha > 0:
        raise UsageError(f"alpha must be > 0, got {alpha!r}")
    arch, shapes = base_tensors(base)
    ranks = {_check_pair(name, a, b, shapes) for name, (a, b) in factors.items()}
    if len(ranks) != 1:
        raise UsageError(f"every pair must have the same rank, got {sorted(ranks)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for name, (a, b) in sorted(factors.items()):
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _check_pair(name: str, a: Any, b: Any, shapes: Mapping[str, tuple[int, ...]]) -> int:
    """The rank of pair ``(a, b)`` for base tensor ``name``, after checking it fits."""
    if name not in shapes:
        raise UsageError(f"the base model has no tensor {name!r}")
    n_in, n_out = shapes[name][0], shapes[name][1]
    a_shape, b_shape = np.shape(a), np.shape(b)
    if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[0] != b_shape[1]:
        raise UsageError(f"{name}: A {a_shape} and B {b_shape} are not (r, n_in) and (n_out, r)")
    if a_shape[1] != n_in or b_shape[0] != n_out:
        raise UsageError(
            f"{name}: A {a_shape} / B {b_shape} do not fit the base weight (n_in={n_in}, "
            f"n_out={n_out})"
        )
    return int(a_shape[0])
