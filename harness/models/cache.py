"""The on-disk cache of built-in models that are expensive to build (converted, not downloaded).

A cached model is a folder `<root>/<name>/` holding what save_pretrained wrote, plus a
manifest (harness-manifest.json) naming every file with its size and sha256, the source it
was built from and the library versions. The root is $HARNESS_CACHE/models, else
$XDG_CACHE_HOME/harness/models, else ~/.cache/harness/models.

`ensure(name, build, source)` returns the folder, building it first when it is missing,
damaged or built from another source. A build writes into a temporary folder beside the
final one, the manifest last, then renames it into place, so a reader sees a whole cache
or none; a file lock keeps parallel variant processes from building the same model twice.

To cache another built-in model: write a `build(folder) -> source dict` that fills the
folder (see harness/models/smollm2.py), then call `ensure` from its loader.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

MANIFEST = "harness-manifest.json"
SCHEMA = 1
_CHUNK = 1 << 20


def cache_root() -> Path:
    if os.environ.get("HARNESS_CACHE"):
        return Path(os.environ["HARNESS_CACHE"]).expanduser() / "models"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "harness" / "models"
    return Path.home() / ".cache" / "harness" / "models"


def model_dir(name: str) -> Path:
    return cache_root() / name


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def problem(folder: Path, source: dict | None = None, verify: bool = False) -> str | None:
    """Why the cache in `folder` cannot be used, or None when it is sound.

    Always checked: the manifest, every file's size, and that each safetensors header
    parses and accounts for exactly the file's length (a truncated or overwritten weights
    file fails this without reading 500 MB). `verify` adds every file's sha256. `source`
    (the identity of what would be built now) must equal the recorded one; None skips that.
    """
    if not folder.is_dir():
        return "not built yet"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no manifest (an interrupted build, or written by something else)"
    except (OSError, ValueError) as err:
        return f"unreadable manifest ({err})"
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA or not manifest.get("files"):
        return "manifest of another format"
    if source is not None and manifest.get("source_id") != source:
        return f"built from {manifest.get('source_id')}, the source is now {source}"
    for name, info in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != info["size"]:
            return f"{name} is {size} bytes, the manifest says {info['size']} (truncated or overwritten)"
        if name.endswith(".safetensors") and (why := _safetensors_problem(path, size)):
            return f"{name}: {why}"
        if verify and sha256(path) != info["sha256"]:
            return f"{name} does not match its sha256 (corrupted)"
    return None


def _safetensors_problem(path: Path, size: int) -> str | None:
    # Format: 8-byte little-endian header length, a JSON header giving each tensor's byte
    # range in the data that follows; the ranges must end exactly at the end of the file.
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8:
                return "header length runs past the end of the file"
            header = json.loads(f.read(length))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as err:
        return f"unreadable header ({err})"
    if 8 + length + end != size:
        return f"header describes {8 + length + end} bytes, the file has {size}"
    return None


def ensure(name: str, build: Callable[[Path], dict], source: dict | None = None, verify: bool = False) -> Path:
    """The cache folder of `name`, first built by `build` unless it is already sound.

    `build(folder)` fills the folder and returns a description of its source whose "id"
    entry is what `source` is when that source is at hand (None: not at hand, not compared).
    """
    folder = model_dir(name)
    why = problem(folder, source, verify)
    if why is None:
        return folder
    from filelock import FileLock  # a dependency of huggingface_hub, so always installed

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{name}.lock")):
        # Another process may have built it while this one waited for the lock.
        why = problem(folder, source, verify)
        if why is None:
            return folder
        if folder.exists():
            log.warning("model cache %s is unusable: %s; rebuilding it", folder, why)
        else:
            log.info("building the model cache of %s in %s (first use)", name, folder)
        _build_atomically(name, folder, build)
    return folder


def invalidate(name: str) -> None:
    """Make the next `ensure` rebuild `name` (for damage the cheap checks cannot see)."""
    (model_dir(name) / MANIFEST).unlink(missing_ok=True)


def _build_atomically(name: str, folder: Path, build: Callable[[Path], dict]) -> None:
    for pattern in (f".{name}.building-*", f".{name}.old-*"):  # left by a killed build; we hold the lock
        for stale in folder.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it owner-only; a cache may be shared by several users
    old = None
    try:
        source = build(tmp)
        for path in tmp.iterdir():  # save_pretrained leaves the weights owner-only
            if path.is_file():
                path.chmod(0o644)
        _write_manifest(tmp, name, source)
        if folder.exists():
            # A directory cannot be renamed over a non-empty one: move the old aside first.
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=folder.parent))
            folder.rename(old / "cache")
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    log.info("built %s in %.1fs: %s (%.0f MB)", name, time.perf_counter() - start, folder, folder_size(folder) / 1e6)


def _write_manifest(folder: Path, name: str, source: dict) -> None:
    import torch
    import transformers

    files = {p.name: {"size": p.stat().st_size, "sha256": sha256(p)} for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {
        "schema": SCHEMA,
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_id": source.get("id"),
        "source": source,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "files": files,
    }
    # Written last, so a folder with a manifest is a finished build.
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
