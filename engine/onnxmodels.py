"""Feed-forward networks as ONNX: export, check against PyTorch, quantise to INT8, run, cache.

The engine knows no network by name (it never imports a plugin): a plugin describes each of its
networks as a :class:`NetSpec` (the torch module, example inputs, a real picture to check it on,
calibration inputs for INT8) and :func:`export_set` writes them, one ``.onnx`` file each, with a
``manifest.json`` saying how to chain them. Heights and widths are dynamic; inputs are NCHW
float32, pictures RGB in [0, 1].

Every export is checked: onnxruntime's output against the module's on the spec's real input
(``max_abs_diff``; for a picture-valued output, in [0, 1], at most :data:`TOLERANCE`).
``int8=True`` also writes statically quantised copies (``*.int8.onnx``: QDQ, per-channel INT8
weights, UINT8 activations calibrated on the spec's inputs) with their measured difference.

:func:`cached_export` keeps one exported set per key in the user cache (``$BRUSHWORK_ONNX_CACHE``,
else ``<user cache>/brushwork/onnx``), reused while the sha256 of every weight file it was made
from still matches, rebuilt otherwise. :class:`OnnxNet` runs one file through onnxruntime (the
CUDA execution provider when onnxruntime has it, else the CPU one) and is called like the torch
module it replaces.

onnx and onnxruntime are an optional extra (``pip install brushwork[onnx]``); without them every
entry point here raises an :class:`InputError` naming it.

TensorRT: the exported float32 files are plain opset-17 graphs (Conv, Relu, Pad reflect,
MaxPool, Resize nearest) that ``trtexec --onnx=decoder4.onnx --fp16
--minShapes=features:1x128x32x32 --optShapes=features:1x128x128x128
--maxShapes=features:1x128x256x256 --saveEngine=decoder4.plan`` builds as is (the README's
"Deployment" section); Brushwork itself runs them only through onnxruntime.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .errors import BrushworkError, InputError, OutputError

#: the help text of the instant strategies' ``backend`` parameter
BACKEND_HELP = ("torch: PyTorch; onnx: the same nets exported to ONNX and run by onnxruntime "
                "(pip install brushwork[onnx]; exported on first use into the user cache); onnx-int8: "
                "their INT8 quantisation, faster on CPUs with INT8 dot products, slightly different. "
                "Print-size (tiled) exports run in torch.")

#: an instant strategy's ``backend`` choices
BACKENDS = ("torch", "onnx", "onnx-int8")
#: the optional extra that brings onnx and onnxruntime
EXTRA = "pip install brushwork[onnx]"
#: the bundled samples every export is checked and calibrated on
SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
#: long edge of the real picture every export is checked on, and of the calibration pictures
CHECK_EDGE = 256
#: the distilled-16x nets' convolutions an INT8 copy keeps float: the ones reading or writing the
#: 3 RGB channels, a sliver of the cost (AdaIN at 384 px, beagle/Starry Night: mean abs diff
#: 0.0196 -> 0.0183)
KEEP_FLOAT = ("/conv0/Conv", "/conv11/Conv")
OPSET = 17
#: version of what an export holds; a cached set written with another one is rebuilt
#: (2: every file's sha256 is in the manifest)
FORMAT = 2
#: the largest difference from PyTorch a float32 export may show on a picture in [0, 1]
TOLERANCE = 1e-3
ENV_CACHE = "BRUSHWORK_ONNX_CACHE"
MANIFEST = "manifest.json"


def require(module: str = "onnxruntime") -> Any:
    """``import module`` (onnx, onnxruntime or one of theirs), or an InputError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise InputError(
            f"The ONNX backend needs the '{top}' package, which is not installed: run `{EXTRA}` "
            f"(or `pip install onnx onnxruntime`), or use backend=torch."
        ) from exc


@dataclass
class NetSpec:
    """One network to export.

    ``inputs`` are example tensors by input name (their order is the module's argument order);
    ``dynamic`` names each input's dynamic axes (default: 2 and 3, height and width, for 4-D
    inputs). ``check`` feeds a real picture (or its features) to compare against PyTorch,
    ``image_output`` says the output is a picture in [0, 1] (the :data:`TOLERANCE` applies),
    ``calibration`` gives the INT8 calibration feeds (None: no INT8 copy), ``keep_float`` the
    node names the INT8 copy leaves in float32. ``info`` goes into
    the manifest as is (role, level, padding multiple, input range...).
    """

    name: str
    module: nn.Module
    inputs: dict[str, torch.Tensor]
    output: str
    check: dict[str, torch.Tensor]
    image_output: bool = False
    calibration: Callable[[], list[dict[str, torch.Tensor]]] | None = None
    #: nodes (name endings) the INT8 copy keeps float: the cheap 3-channel convolutions next to the picture
    keep_float: Sequence[str] = ()
    #: operator types the INT8 copy quantises (None: all onnxruntime can)
    int8_ops: Sequence[str] | None = None
    dynamic: dict[str, dict[int, str]] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class _Silenced:
    """The TorchScript exporter's and the quantiser's chatter (constant folding, deprecation) off."""

    def __enter__(self) -> None:
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")
        self._out = contextlib.redirect_stdout(io.StringIO())  # the calibrators print their progress
        self._out.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._out.__exit__(*exc)
        self._w.__exit__(*exc)


def export_net(spec: NetSpec, path: Path) -> Path:
    """``spec.module`` as ONNX at ``path`` (dynamic height and width), checked by ``onnx.checker``."""
    onnx = require("onnx")
    names = list(spec.inputs)
    dynamic = spec.dynamic or {n: {2: f"{n}_height", 3: f"{n}_width"} for n, t in spec.inputs.items() if t.dim() == 4}
    out_axes = {2: "out_height", 3: "out_width"}
    module = spec.module.eval()
    with torch.no_grad(), _Silenced():
        torch.onnx.export(module, tuple(spec.inputs[n].float().contiguous() for n in names), str(path),
                          input_names=names, output_names=[spec.output],
                          dynamic_axes={**dynamic, spec.output: out_axes}, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    onnx.checker.check_model(str(path), full_check=True)
    return path


def _numpy(t: torch.Tensor):
    return t.detach().float().contiguous().cpu().numpy()


def providers() -> list[str]:
    """onnxruntime's execution providers to use: CUDA first when this onnxruntime has it, then CPU."""
    ort = require()
    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have] or ["CPUExecutionProvider"]


def session(path: Path, threads: int | None = None):
    """An onnxruntime session on ``path`` with as many intra-op threads as torch uses."""
    ort = require()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers())


def run_session(sess, feeds: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.from_numpy(sess.run(None, {k: _numpy(v) for k, v in feeds.items()})[0])


def difference(spec: NetSpec, path: Path) -> dict[str, float]:
    """onnxruntime against PyTorch on ``spec.check``: max and mean absolute difference, and the
    max relative to the reference's largest value (features are not in [0, 1])."""
    with torch.no_grad():
        ref = spec.module.eval()(*[spec.check[n] for n in spec.inputs]).float()
    got = run_session(session(path), spec.check)
    if spec.image_output:  # a picture is used clamped to [0, 1]
        ref, got = ref.clamp(0, 1), got.clamp(0, 1)
    d = (got - ref).abs()
    return {"max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
            "max_rel_diff": float(d.max() / ref.abs().max().clamp_min(1e-12))}


class _Feeds:
    """onnxruntime's CalibrationDataReader over a list of feeds (duck-typed: get_next/rewind)."""

    def __init__(self, feeds: list[dict[str, torch.Tensor]]) -> None:
        self.feeds = [{k: _numpy(v) for k, v in f.items()} for f in feeds]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.feeds):
            return None
        self.i += 1
        return self.feeds[self.i - 1]

    def rewind(self) -> None:
        self.i = 0


def quantise(src: Path, dst: Path, calibration: list[dict[str, torch.Tensor]], exclude: Sequence[str] = (),
             ops: Sequence[str] | None = None) -> Path:
    """Static INT8 quantisation of ``src`` (QDQ, per-channel INT8 weights, UINT8 activations)
    calibrated on ``calibration`` (all one shape); nodes whose names end with one of ``exclude``
    stay float, and with ``ops`` only those operator types are quantised.

    Static, not dynamic: onnxruntime's dynamic quantisation (Conv as ConvInteger) re-measures every
    activation at run time and has no fused kernel; on AdaIN's nets at 512 px it took 0.50 s
    against 0.27 s for the float32 export, and was further off (mean abs diff 0.029). Percentile
    calibration (99.999 %): a few bright cells no longer set every step of a layer's range.
    """
    q = require("onnxruntime.quantization")
    with tempfile.TemporaryDirectory() as tmp, _Silenced():
        pre = Path(tmp) / "pre.onnx"
        try:
            q.shape_inference.quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception:  # pre-processing only helps; quantise the plain graph without it
            shutil.copyfile(src, pre)
        nodes = [n.name for n in require("onnx").load(str(pre)).graph.node]
        keep = [n for n in nodes if any(n.endswith(e) for e in exclude)]
        q.quantize_static(str(pre), str(dst), _Feeds(calibration), quant_format=q.QuantFormat.QDQ,
                          per_channel=True, activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          calibrate_method=q.CalibrationMethod.Percentile, nodes_to_exclude=keep,
                          op_types_to_quantize=list(ops) if ops else None)
    require("onnx").checker.check_model(str(dst))
    return dst


def export_set(specs: Sequence[NetSpec], out_dir: Path, *, int8: bool = False, weights: dict[str, str] | None = None,
               about: dict[str, Any] | None = None, strict: bool = True) -> dict[str, Any]:
    """Export every spec into ``out_dir`` (float32, plus INT8 when asked) and write the manifest.

    ``weights`` (manifest entry -> sha256) records what the files were made from; ``about`` adds
    strategy-level facts (how to chain the files). With ``strict``, a float32 picture-valued net
    further than :data:`TOLERANCE` from PyTorch is an error, not a file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nets: list[dict[str, Any]] = []
    for spec in specs:
        start = time.perf_counter()
        path = export_net(spec, out_dir / f"{spec.name}.onnx")
        diff = difference(spec, path)
        if strict and spec.image_output and diff["max_abs_diff"] > TOLERANCE:
            raise BrushworkError(f"The ONNX export of {spec.name} differs from PyTorch by {diff['max_abs_diff']:.2g} "
                                 f"(> {TOLERANCE}); not written.")
        entry: dict[str, Any] = {"name": spec.name, "file": path.name, "sha256": _sha256(path),
                                 "inputs": list(spec.inputs), "output": spec.output, **spec.info, "float32": diff}
        if int8 and spec.calibration is not None:
            qpath = quantise(path, out_dir / f"{spec.name}.int8.onnx", spec.calibration(), spec.keep_float,
                             spec.int8_ops)
            entry["int8"] = {"file": qpath.name, "sha256": _sha256(qpath), **difference(spec, qpath)}
        entry["seconds"] = round(time.perf_counter() - start, 2)
        nets.append(entry)
    manifest = {"format": FORMAT, "opset": OPSET, "layout": "NCHW float32", "picture_range": [0.0, 1.0],
                "dynamic_axes": "height and width", "torch": torch.__version__, **(about or {}),
                "weights": dict(weights or {}), "int8": bool(int8), "nets": nets}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# --- the user cache -----------------------------------------------------------------------------


def cache_root() -> Path:
    """Where exports made on first use live: ``$BRUSHWORK_ONNX_CACHE`` or the user cache."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("brushwork", appauthor=False)) / "onnx"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _sha256(path: Path) -> str:
    from .weights import sha256_of

    return sha256_of(path)


#: (path, inode, mtime_ns, size) -> sha256: a cached file is hashed once per version per process
_hashed: dict[tuple[str, int, int, int], str] = {}


def _file_sha(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
    sha = _hashed.get(key)
    if sha is None:
        sha = _hashed[key] = _sha256(path)
    return sha


def _files(manifest: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(file, recorded sha256) for every file of an exported set."""
    nets = manifest.get("nets", [])
    return ([(n["file"], n.get("sha256")) for n in nets]
            + [(n["int8"]["file"], n["int8"].get("sha256")) for n in nets if "int8" in n])


def _stale(manifest: dict[str, Any] | None, weights: dict[str, str], int8: bool) -> bool:
    """Whether a cached set is not this format's export of these very weights (a rebuild is expected)."""
    return (not manifest or manifest.get("format") != FORMAT or manifest.get("weights") != weights
            or (int8 and not manifest.get("int8")) or not _files(manifest))


def _damage(manifest: dict[str, Any], folder: Path) -> str | None:
    """Why a current set's files cannot be used (one missing, or its sha256 not the one recorded at
    export: truncated, overwritten), or None when every file is as exported."""
    for name, sha in _files(manifest):
        path = folder / name
        try:
            if not path.is_file():
                return f"{name} is missing"
            got = _file_sha(path)
        except OSError as exc:
            return f"{name} is unreadable ({exc.strerror or exc})"
        if got != sha:
            return f"{name} is damaged (its sha256 is not the one recorded when it was exported)"
    return None


def _current(manifest: dict[str, Any] | None, folder: Path, weights: dict[str, str], int8: bool) -> bool:
    """Whether a cached set was made by this format from these very weights and holds every file,
    each with the sha256 recorded at export."""
    return not _stale(manifest, weights, int8) and _damage(manifest, folder) is None  # type: ignore[arg-type]


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


_build_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()
#: configured cache root -> the folder exports go to instead, once it proved unusable (a file,
#: read-only, full); per process, so the warning is given once
_fallback: dict[Path, Path] = {}


def fallback_root() -> Path:
    """The temporary folder exports go to when the user cache cannot take them."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"brushwork-onnx-{uid}"


def _usable(folder: Path, weights: dict[str, str], int8: bool) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest when the set at ``folder`` can be used as it is, else None; why a set that should
    have been usable is not: a damaged file or an unreadable manifest, for the warning)."""
    manifest = read_manifest(folder)
    if manifest is None:
        try:
            broken = (folder / MANIFEST).is_file()
        except OSError:
            broken = False
        return None, (f"its {MANIFEST} is unreadable" if broken else None)
    if _stale(manifest, weights, int8):
        return None, None
    damage = _damage(manifest, folder)
    return (None, damage) if damage else (manifest, None)


def _build_at(root: Path, key: str, build: Callable[[Path, bool], dict[str, Any]], weights: dict[str, str],
              int8: bool) -> dict[str, Any]:
    """Build into a temporary folder under ``root`` and move it to ``root/key`` (no half set ever).
    Another process that put a good set there first wins: its set is used."""
    folder = root / key
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        manifest = build(tmp, int8)
        try:
            if folder.exists() or folder.is_symlink():
                if folder.is_dir() and not folder.is_symlink():
                    shutil.rmtree(folder)
                else:
                    folder.unlink()
            os.replace(tmp, folder)
        except OSError:
            theirs, _ = _usable(folder, weights, int8)
            if theirs is None:
                raise
            return theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def cached_export(key: str, weights: dict[str, str], build: Callable[[Path, bool], dict[str, Any]],
                  int8: bool = False) -> tuple[Path, dict[str, Any]]:
    """The cached export folder for ``key`` and its manifest, built by ``build(folder, int8)`` when
    missing, incomplete, made by another format, or stale (a weight's sha256 differs from the one
    recorded). Built in a temporary folder and moved into place, so a crash leaves no half set.

    Every file's sha256 is recorded at export and checked before use: a damaged set (a truncated or
    overwritten file, an unreadable manifest) is rebuilt with a warning. A cache location that
    cannot take the set (a file, read-only, full) falls back to :func:`fallback_root` with a
    warning; when that fails too, an OutputError says what to do."""
    with _locks_lock:
        lock = _build_locks.setdefault(key, threading.Lock())
    with lock:
        configured = cache_root()
        root = _fallback.get(configured, configured)
        folder = root / key
        manifest, damage = _usable(folder, weights, int8)
        if manifest is not None:
            return folder, manifest
        if damage:
            _warn(f"The cached ONNX export {folder} cannot be used: {damage}. Rebuilding it.")
        previous = read_manifest(folder)
        int8 = int8 or bool(previous and previous.get("int8"))
        try:
            return folder, _build_at(root, key, build, weights, int8)
        except OSError as exc:
            if root != configured:
                raise _cache_error(root, exc) from exc
            reason = exc.strerror or str(exc)
        spare = fallback_root()
        _warn(f"The ONNX cache {root} cannot be written ({reason}); using {spare} instead. Set "
              f"{ENV_CACHE} to a writable folder to keep the exports.")
        _fallback[configured] = spare
        folder = spare / key
        manifest, _ = _usable(folder, weights, int8)
        if manifest is not None:
            return folder, manifest
        try:
            return folder, _build_at(spare, key, build, weights, int8)
        except OSError as exc:
            raise _cache_error(spare, exc) from exc


def _cache_error(root: Path, exc: OSError) -> OutputError:
    return OutputError(f"Cannot write the ONNX export into {root}: {exc.strerror or exc}. Set {ENV_CACHE} to a "
                       "writable folder with free space, or use backend=torch.")


# --- running ------------------------------------------------------------------------------------


class OnnxNet(nn.Module):
    """One exported net, called like the torch module it replaces: a tensor in (any device and
    memory format), a float32 tensor out on the same device. Single-input nets only."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.session = session(self.path)
        self.input = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_session(self.session, {self.input: x}).to(x.device)

    def extra_repr(self) -> str:
        return f"{self.path.name}, providers={self.session.get_providers()}"


_sessions: dict[tuple[str, float, int], OnnxNet] = {}
_sessions_lock = threading.Lock()


def load(path: Path) -> OnnxNet:
    """An :class:`OnnxNet` on ``path``, made once per file version (path, mtime, threads)."""
    key = (str(path), Path(path).stat().st_mtime, torch.get_num_threads())
    with _sessions_lock:
        net = _sessions.get(key)
    if net is None:
        net = OnnxNet(path)
        with _sessions_lock:
            _sessions[key] = net
    return net


# --- what every plugin's export needs ----------------------------------------------------------


def sample_pictures(edge: int = CHECK_EDGE) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The bundled sample photos and paintings, each resized to ``edge`` x ``edge``
    (onnxruntime's histogram calibrators stack their activations: one shape for all)."""
    from .images import load_image, resize

    contents = [resize(load_image(p), (edge, edge)) for p in sorted(SAMPLES.glob("content_*.jpg"))]
    styles = [resize(load_image(p), (edge, edge)) for p in sorted(SAMPLES.glob("style_*.jpg"))]
    if not contents or not styles:
        raise InputError(f"Exporting checks and calibrates on the bundled samples, and {SAMPLES} has none.")
    return contents, styles


def plain(module: nn.Module) -> nn.Module:
    """A contiguous float32 copy on the CPU to export (the strategies keep theirs channels-last);
    an in-place inference wrapper is unwrapped to the network it calls."""
    import copy

    inner = getattr(module, "enc", module)
    return copy.deepcopy(inner).cpu().float().to(memory_format=torch.contiguous_format).eval().requires_grad_(False)


def weight_shas(names: Sequence[str]) -> dict[str, str]:
    """Manifest names -> sha256 of the weight files an export is made from (the cache's key)."""
    from . import weights

    manifest = weights.load_manifest()
    return {n: manifest[n].sha256 for n in names}


def net_file(folder: Path, manifest: dict[str, Any], name: str, int8: bool) -> Path:
    """The file of net ``name`` (its INT8 copy when ``int8``) in an exported set."""
    entry = next(n for n in manifest["nets"] if n["name"] == name)
    return folder / (entry["int8"]["file"] if int8 else entry["file"])


def check_backend(backend: str) -> bool:
    """Whether ``backend`` (onnx or onnx-int8) is INT8; an InputError for another name or a missing extra."""
    if backend not in BACKENDS[1:]:
        raise InputError(f"Unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}.")
    require()
    require("onnx")
    return backend == "onnx-int8"
