"""Finding, verifying and fetching the pretrained weights named in ``weights/manifest.toml``.

Only safetensors are ever loaded (no pickle). Every failure names the file and the exact
command that gets it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from safetensors.torch import load_file, save_file

from .errors import OutputError, WeightsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_WEIGHTS = PROJECT_ROOT / "weights"
MANIFEST_PATH = PROJECT_WEIGHTS / "manifest.toml"
ENV_DIR = "BRUSHWORK_WEIGHTS_DIR"
ENV_MIRROR = "BRUSHWORK_WEIGHTS_MIRROR"


@dataclass(frozen=True)
class WeightEntry:
    name: str
    path: str
    sha256: str
    bytes: int
    license: str
    origin: str
    url: str = ""
    convert: str = ""
    optional: bool = False
    training: str = ""


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, WeightEntry]:
    """The manifest's entries; parsed once per version of the file (a live session asks for a
    model on every render, and parsing the TOML was ~35 ms of a 0.1 s face detection)."""
    st = Path(path).stat()
    return dict(_parsed_manifest(str(path), st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=4)
def _parsed_manifest(path: str, _mtime_ns: int, _size: int) -> dict[str, WeightEntry]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    fields = set(WeightEntry.__dataclass_fields__)
    return {w["name"]: WeightEntry(**{k: v for k, v in w.items() if k in fields}) for w in data["weight"]}


def user_cache_dir() -> Path:
    from platformdirs import user_cache_dir as _ucd

    return Path(_ucd("brushwork", appauthor=False)) / "weights"


def search_dirs(explicit: str | os.PathLike | None = None) -> list[Path]:
    """Where weights are looked for, in order."""
    dirs: list[Path] = []
    if explicit:
        dirs.append(Path(explicit))
    if os.environ.get(ENV_DIR):
        dirs.append(Path(os.environ[ENV_DIR]))
    dirs += [PROJECT_WEIGHTS, user_cache_dir()]
    if os.environ.get(ENV_MIRROR):
        dirs.append(Path(os.environ[ENV_MIRROR]))
    return dirs


def fetch_command(entry: WeightEntry) -> str:
    return f"brushwork weights fetch {entry.name} --mirror ../shared/weights   (or without --mirror when online)"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_verified: dict[tuple[str, float, int], bool] = {}


def _is_valid(path: Path, entry: WeightEntry) -> bool:
    """sha256 check, remembered per (path, mtime, size) so a session hashes each file once."""
    st = path.stat()
    key = (str(path), st.st_mtime, st.st_size)
    if key not in _verified:
        _verified[key] = not entry.sha256 or sha256_of(path) == entry.sha256
    return _verified[key]


def status(name: str, weights_dir: str | os.PathLike | None = None) -> tuple[str, Path | None]:
    """('present' | 'missing' | 'corrupt', path) for one manifest entry."""
    entry = load_manifest()[name]
    corrupt: Path | None = None
    for d in search_dirs(weights_dir):
        p = d / entry.path
        if p.is_file():
            if _is_valid(p, entry):
                return "present", p
            corrupt = corrupt or p
    return ("corrupt", corrupt) if corrupt else ("missing", None)


def corrupt_copies(name: str, weights_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every copy of ``name`` in the search folders whose sha256 does not match the manifest,
    including those :func:`status` passes over because a good copy comes first or later (a damaged
    file in the mirror, say): ``brushwork weights status`` names them."""
    entry = load_manifest()[name]
    bad = []
    for d in search_dirs(weights_dir):
        p = d / entry.path
        try:
            if p.is_file() and not _is_valid(p, entry):
                bad.append(p)
        except OSError:
            bad.append(p)
    return list(dict.fromkeys(bad))


def locate(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Path of a verified weight file, or a WeightsError that says how to get it."""
    manifest = load_manifest()
    if name not in manifest:
        raise WeightsError(f"Unknown weight '{name}'. Known: {', '.join(sorted(manifest))}.")
    entry = manifest[name]
    state, path = status(name, weights_dir)
    if state == "present":
        assert path is not None
        return path
    if state == "corrupt":
        raise WeightsError(
            f"Weight file {path} is corrupt (its sha256 does not match the manifest). "
            f"Delete it and run: {fetch_command(entry)}"
        )
    where = ", ".join(str(d) for d in search_dirs(weights_dir))
    raise WeightsError(f"Weight file '{entry.path}' ({name}) is missing; looked in {where}. Get it with: {fetch_command(entry)}")


def load_state(name: str, weights_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    path = locate(name, weights_dir)
    try:
        return load_file(str(path))
    except Exception as exc:  # a truncated file that somehow passed the hash check
        raise WeightsError(f"Cannot read weight file {path}: {exc}. Re-fetch it: {fetch_command(load_manifest()[name])}") from exc


def is_available(name: str, weights_dir: str | os.PathLike | None = None) -> bool:
    return status(name, weights_dir)[0] == "present"


def default_target_dir() -> Path:
    """Where fetched files go: the project's weights/ folder when writable, else the user cache."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    return PROJECT_WEIGHTS if os.access(PROJECT_WEIGHTS, os.W_OK) else user_cache_dir()


def fetch(
    names: Iterable[str] | None = None,
    mirror: str | os.PathLike | None = None,
    target: str | os.PathLike | None = None,
    include_optional: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[tuple[str, str]]:
    """Fetch entries into ``target``; returns (name, outcome) pairs.

    Each file is written to a temporary name, its sha256 checked, and only then moved into place
    with a new file's usual mode (0644 under umask 022). A target that cannot take the file (not a
    folder, read-only, too little free space) is an OutputError naming it; nothing is left half-written.
    """
    manifest = load_manifest()
    target_dir = Path(target) if target else default_target_dir()
    chosen = list(names) if names else [n for n, e in manifest.items() if include_optional or not e.optional]
    results = []
    for name in chosen:
        if name not in manifest:
            raise WeightsError(f"Unknown weight '{name}'. Known: {', '.join(sorted(manifest))}.")
        entry = manifest[name]
        dest = target_dir / entry.path
        if dest.is_file() and _is_valid(dest, entry):
            results.append((name, "present"))
            continue
        if mirror:
            src = Path(mirror) / entry.path
            if not src.is_file():
                if entry.optional:
                    results.append((name, "not in mirror (optional)"))
                    continue
                raise WeightsError(f"'{entry.path}' is not in the mirror folder {mirror}.")
            _install(dest, entry, lambda tmp: _copy(src, tmp, entry, progress), target_dir)
            results.append((name, f"copied from {mirror}"))
        elif entry.url:
            _install(dest, entry, lambda tmp: _download(entry, tmp, progress), target_dir)
            results.append((name, f"downloaded from {entry.url}"))
        else:
            results.append((name, "no upstream download: use --mirror DIR"))
    return results


def _target_error(target_dir: Path, entry: WeightEntry, exc: OSError) -> OutputError:
    return OutputError(
        f"Cannot write weights into {target_dir}: {exc.strerror or exc}. Give a writable folder with free space "
        f"(--target DIR, or set {ENV_DIR}), or free some space there. '{entry.name}' was not installed and "
        "nothing half-written is left.")


def _install(dest: Path, entry: WeightEntry, write: Callable[[Path], None], target_dir: Path | None = None) -> None:
    """``write(tmp)`` beside ``dest``, check its sha256, give it a new file's mode, move it into place."""
    from .images import _umask

    target_dir = target_dir if target_dir is not None else dest.parent
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(dest.parent).free
        if entry.bytes and free < entry.bytes:
            raise OSError(28, f"{entry.path} needs {entry.bytes / 1e6:,.1f} MB and only {free / 1e6:,.1f} MB are free")
        fd, tmp_name = tempfile.mkstemp(prefix=".fetch.", dir=dest.parent)
        os.close(fd)
    except OSError as exc:
        raise _target_error(target_dir, entry, exc) from exc
    tmp = Path(tmp_name)
    try:
        try:
            write(tmp)
        except OSError as exc:  # reading the source is reported where it happens; this is the target
            raise _target_error(target_dir, entry, exc) from exc
        if entry.sha256:
            got = sha256_of(tmp)
            if got != entry.sha256:
                raise WeightsError(f"Fetched '{entry.path}' has sha256 {got}, expected {entry.sha256}; not installed.")
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from other users
            os.replace(tmp, dest)
        except OSError as exc:
            raise _target_error(target_dir, entry, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _copy(src: Path, tmp: Path, entry: WeightEntry, progress) -> None:
    try:
        total = src.stat().st_size
        fi = open(src, "rb")
    except OSError as exc:
        raise WeightsError(f"Cannot read {src} in the mirror: {exc.strerror or exc}.") from exc
    done = 0
    with fi, open(tmp, "wb") as fo:
        while True:
            try:
                chunk = fi.read(1 << 22)
            except OSError as exc:
                raise WeightsError(f"Cannot read {src} in the mirror: {exc.strerror or exc}.") from exc
            if not chunk:
                break
            fo.write(chunk)
            done += len(chunk)
            if progress:
                progress(entry.name, done, total)


def _download(entry: WeightEntry, tmp: Path, progress) -> None:
    raw = tmp.with_suffix(".download")
    try:
        try:
            with urllib.request.urlopen(entry.url, timeout=30) as resp, open(raw, "wb") as fo:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    fo.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(entry.name, done, total)
        except OSError as exc:
            raise WeightsError(
                f"Cannot download {entry.url} ({exc}). When offline, copy from a mirror: "
                f"brushwork weights fetch {entry.name} --mirror DIR"
            ) from exc
        if entry.convert == "torchvision-vgg-features":
            _convert_torchvision_vgg(raw, tmp, entry)
        else:
            shutil.move(raw, tmp)
    finally:
        raw.unlink(missing_ok=True)


def _convert_torchvision_vgg(raw: Path, out: Path, entry: WeightEntry) -> None:
    """torchvision's .pth -> features-only safetensors. torch.load with weights_only refuses code."""
    expected_prefix = Path(entry.url).stem.rsplit("-", 1)[-1]  # torchvision names files by sha256 prefix
    if not sha256_of(raw).startswith(expected_prefix):
        raise WeightsError(f"Downloaded {entry.url} does not match its published hash prefix {expected_prefix}.")
    state = torch.load(raw, map_location="cpu", weights_only=True)
    feats = {k: v.contiguous() for k, v in state.items() if k.startswith("features.")}
    save_file(feats, str(out))
