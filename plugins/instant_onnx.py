"""The instant strategies' networks as ONNX: what to export, the onnx backends, ``brushwork export-model``.

``adain`` exports its encoder (relu4_1, inputs padded to a multiple of 8), its decoder, and AdaIN
end to end (content, style, alpha -> picture). ``universal`` exports the five distilled-16x
encoder/decoder pairs (inputs padded to a multiple of 16, the deepest level's pooling); the
whitening and colouring between them (an ``eigh`` per level, which ONNX cannot express) stays in
PyTorch, as the manifest's ``chain`` says. :mod:`engine.onnxmodels` does the exporting, checking,
quantising and caching; this module knows the nets, their weights and their calibration data.

The backends (``backend=onnx`` / ``onnx-int8`` on adain and universal) export on first use into
the user cache and swap the torch modules for :class:`engine.onnxmodels.OnnxNet`; everything
around the nets (caches, regions, WCT, palette) is the strategies' own code.

Which path is the default. An earlier measurement (AdaIN encoder + decoder alone, warm, best of 3,
the CPU shared) had torch float32 at 0.69 s at 512 px, bfloat16 autocast 0.78-0.91 s, bfloat16
weights 0.60 s, ``torch.compile`` 0.45 s warm but 28 s to compile each new size (no use to live
mode), onnxruntime float32 0.27 s and INT8 0.75 s at 1024 px (0.59x). The whole strategies,
measured side by side by bench/instant.py (2 threads, median of 3, other work on the CPU), rank
differently: torch bfloat16 0.48x float32 at 512 px and 0.65x at 1024 for AdaIN (0.56x / 0.81x
for universal), onnxruntime 0.94-2.4x, slower whenever another process holds a core, as on an
artist's laptop, and much slower on live mode's worker thread. So ``precision=auto`` (bfloat16
where the CPU has it natively, engine.precision.instant_bf16) is the default and live mode stays
on torch; onnxruntime is a choice (``backend``) for machines without native bfloat16, and the
files are for other runtimes.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine import onnxmodels, weights
from engine.errors import InputError
from engine.images import load_image, pad_to_multiple, resize

BACKENDS = ("torch", "onnx", "onnx-int8")
SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
#: long edge of the real picture every export is checked on, and of the calibration pictures
CHECK_EDGE = 256
#: convolutions the INT8 copies keep float: the ones reading or writing the 3 RGB channels, a
#: sliver of the cost (AdaIN at 384 px, beagle/Starry Night: mean abs diff 0.0196 -> 0.0183)
KEEP_FLOAT = ("/conv0/Conv", "/conv11/Conv")
ADAIN_MULTIPLE = 8
#: what adain.int8.onnx quantises: the network's own operators, not the AdaIN arithmetic
END_TO_END_INT8_OPS = ("Conv", "MaxPool", "Pad", "Resize", "Relu")
UNIVERSAL_MULTIPLE = 16


def sample_pictures(edge: int = CHECK_EDGE) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The bundled sample photos and paintings (resources/samples), each resized to ``edge`` x
    ``edge`` (onnxruntime's histogram calibrators stack their activations: one shape for all)."""
    contents = [resize(load_image(p), (edge, edge)) for p in sorted(SAMPLES.glob("content_*.jpg"))]
    styles = [resize(load_image(p), (edge, edge)) for p in sorted(SAMPLES.glob("style_*.jpg"))]
    if not contents or not styles:
        raise InputError(f"Exporting checks and calibrates on the bundled samples, and {SAMPLES} has none.")
    return contents, styles


def _plain(module: nn.Module) -> nn.Module:
    """A contiguous float32 copy on the CPU to export (the strategies keep theirs channels-last);
    the AdaIN fast encoder's in-place wrapper is unwrapped to the encoder it calls."""
    inner = getattr(module, "enc", module)
    return copy.deepcopy(inner).cpu().float().to(memory_format=torch.contiguous_format).eval().requires_grad_(False)


def _padded(x: torch.Tensor, multiple: int) -> torch.Tensor:

    return pad_to_multiple(x, multiple)[0]


def _sha(names: list[str]) -> dict[str, str]:
    manifest = weights.load_manifest()
    return {n: manifest[n].sha256 for n in names}


# --- adain ------------------------------------------------------------------------------------


class AdaINEndToEnd(nn.Module):
    """AdaIN in one graph: (content, style, alpha) -> picture, both inputs padded to a multiple of 8."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        from plugins.adain.model import adain, mean_std

        fc = self.encoder(content)
        target = adain(fc, *mean_std(self.encoder(style)))
        a = alpha.reshape(1, 1, 1, 1)
        return self.decoder(a * target + (1 - a) * fc).clamp(0, 1)


def adain_weights(encoder: str, decoder: str) -> dict[str, str]:
    """Manifest entries (and sha256s) of the nets ``plugins.adain.nets(encoder, decoder)`` loads."""
    from plugins.adain.model import TRAINED_DECODERS, trained_available

    enc = "distilled16x/encoder4" if encoder == "fast" else "vgg16"
    if decoder == "trained" and trained_available(encoder):
        dec = TRAINED_DECODERS[encoder]
    elif encoder == "fast":
        dec = "distilled16x/decoder4"
    else:
        dec = TRAINED_DECODERS[encoder]  # nets() raises the WeightsError that names it
    return _sha([enc, dec])


def adain_specs(encoder: str = "fast", decoder: str = "trained", end_to_end: bool = True) -> list[onnxmodels.NetSpec]:
    from plugins.adain import nets
    from plugins.adain.model import adain, mean_std

    enc_t, dec_t = nets(encoder, decoder, torch.device("cpu"))
    enc, dec = _plain(enc_t), _plain(dec_t)
    contents, styles = sample_pictures()
    pics = [_padded(x, ADAIN_MULTIPLE) for x in contents + styles]
    photo, painting = pics[0], pics[len(contents)]
    with torch.no_grad():
        feats = [enc(x) for x in pics]
        stats = [mean_std(f) for f in feats[len(contents):]]
        targets = [adain(feats[i], *s) for i in range(len(contents)) for s in stats]
        check_feat = adain(feats[0], *stats[0])
    common = {"pad_multiple": ADAIN_MULTIPLE, "pad_mode": "reflect, bottom and right; crop the output back"}
    specs = [
        onnxmodels.NetSpec(
            "encoder", enc, {"image": photo}, "features", {"image": photo},
            calibration=lambda: [{"image": x} for x in pics], keep_float=KEEP_FLOAT,
            info={"role": "encoder", "level": 4, "layer": "relu4_1", "input_range": [0.0, 1.0],
                  "channels": int(feats[0].shape[1]), "downsample": ADAIN_MULTIPLE, **common}),
        onnxmodels.NetSpec(
            "decoder", dec, {"features": check_feat}, "image", {"features": check_feat}, image_output=True,
            calibration=lambda: [{"features": f} for f in targets + feats[: len(contents)]], keep_float=KEEP_FLOAT,
            info={"role": "decoder", "level": 4, "output_range": "clamp to [0, 1]", **common}),
    ]
    if end_to_end:
        alpha = torch.tensor([0.8])
        specs.append(onnxmodels.NetSpec(
            "adain", AdaINEndToEnd(enc, dec).eval(), {"content": photo, "style": painting, "alpha": alpha}, "image",
            {"content": photo, "style": painting, "alpha": alpha}, image_output=True,
            dynamic={"content": {2: "content_height", 3: "content_width"},
                     "style": {2: "style_height", 3: "style_width"}},
            calibration=lambda: [{"content": pics[0], "style": s, "alpha": torch.tensor([1.0])}
                                 for s in pics[len(contents):]], keep_float=KEEP_FLOAT,
            # the statistics and the blend stay float: quantised, they cost 0.046 mean abs diff
            int8_ops=END_TO_END_INT8_OPS,
            info={"role": "end-to-end", "alpha": "shape [1], 0 keeps the photo, 1 takes the style",
                  "output_range": [0.0, 1.0], **common}))
    return specs


def adain_chain() -> dict[str, Any]:
    return {"strategy": "adain", "chain": [
        "pad the RGB picture (1x3xHxW, [0, 1]) to a multiple of 8 (reflect, bottom and right)",
        "encoder: image -> features; the style the same way",
        "target = (fc - mean(fc)) / std(fc) * std(fs) + mean(fs), per channel (std with +1e-5 on the variance)",
        "features = alpha * target + (1 - alpha) * fc",
        "decoder: features -> image; crop to H x W, clamp to [0, 1]",
        "or adain.onnx: (content, style, alpha) -> image in one call (both padded)"]}


def export_adain(out: Path, int8: bool, encoder: str = "fast", decoder: str = "trained",
                 end_to_end: bool = True) -> dict[str, Any]:
    specs = adain_specs(encoder, decoder, end_to_end)
    return onnxmodels.export_set(specs, out, int8=int8, weights=adain_weights(encoder, decoder),
                                 about={**adain_chain(), "encoder": encoder, "decoder": decoder})


# --- universal --------------------------------------------------------------------------------

LEVELS = (1, 2, 3, 4, 5)


def universal_weights() -> dict[str, str]:
    return _sha([f"distilled16x/{kind}{level}" for level in LEVELS for kind in ("encoder", "decoder")])


def universal_specs() -> list[onnxmodels.NetSpec]:
    from plugins.universal import nets
    from plugins.universal.wct import apply, colouring, moments, transform

    contents, styles = sample_pictures()
    pics = [_padded(x, UNIVERSAL_MULTIPLE) for x in contents + styles]
    photo = pics[0]
    specs = []
    for level in LEVELS:
        enc_t, dec_t = nets(level, torch.device("cpu"))
        enc, dec = _plain(enc_t), _plain(dec_t)
        with torch.no_grad():
            feats = [enc(x) for x in pics]
            cols = [colouring(moments(f)) for f in feats[len(contents):]]
            # what a decoder sees: WCT features of each photo toward each painting, at alpha 1 and the default 0.6
            targets = [apply(feats[i], *transform(moments(feats[i]), c, a))
                       for i in range(len(contents)) for c in cols for a in (1.0, 0.6)]
        common = {"level": level, "pad_multiple": UNIVERSAL_MULTIPLE,
                  "pad_mode": "reflect, bottom and right; crop the output back"}
        specs.append(onnxmodels.NetSpec(
            f"encoder{level}", enc, {"image": photo}, "features", {"image": photo},
            calibration=lambda pics=pics: [{"image": x} for x in pics], keep_float=KEEP_FLOAT,
            info={"role": "encoder", "layer": f"relu{level}_1", "input_range": [0.0, 1.0],
                  "channels": int(feats[0].shape[1]), "downsample": 2 ** (level - 1), **common}))
        specs.append(onnxmodels.NetSpec(
            f"decoder{level}", dec, {"features": targets[0]}, "image", {"features": targets[0]}, image_output=True,
            calibration=lambda t=targets, f=feats[: len(contents)]: [{"features": x} for x in t + f],
            keep_float=KEEP_FLOAT,
            info={"role": "decoder", "output_range": "clamp to [0, 1]", **common}))
    return specs


def universal_chain() -> dict[str, Any]:
    return {"strategy": "universal", "chain": [
        "levels run deepest first: depth, depth-1, ..., 1 (depth 5 by default)",
        "at each level: pad the current picture to a multiple of 16 (reflect, bottom and right)",
        f"encoder<level>: image -> features (C x H/2^(level-1) x W/2^(level-1))",
        "whiten the features with their covariance, colour them with the style's (eigh, in the host: "
        "see plugins/universal/wct.py), blend with alpha",
        "decoder<level>: features -> image; crop to H x W, clamp to [0, 1]: the next level's input"]}


def export_universal(out: Path, int8: bool) -> dict[str, Any]:
    return onnxmodels.export_set(universal_specs(), out, int8=int8, weights=universal_weights(),
                                 about=universal_chain())


# --- the backends -----------------------------------------------------------------------------


def _file(folder: Path, manifest: dict[str, Any], name: str, int8: bool) -> Path:
    entry = next(n for n in manifest["nets"] if n["name"] == name)
    return folder / (entry["int8"]["file"] if int8 else entry["file"])


def _check_backend(backend: str) -> bool:
    if backend not in BACKENDS[1:]:
        raise InputError(f"Unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}.")
    onnxmodels.require()
    onnxmodels.require("onnx")
    return backend == "onnx-int8"


def adain_nets(encoder: str, decoder: str, backend: str, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """AdaIN's encoder and decoder run by onnxruntime, exported into the user cache on first use."""
    int8 = _check_backend(backend)
    w = adain_weights(encoder, decoder)
    key = "adain-" + "-".join(n.replace("/", "_") for n in w)
    folder, manifest = onnxmodels.cached_export(
        key, w, lambda out, q: export_adain(out, q, encoder, decoder, end_to_end=False), int8=int8)
    return (onnxmodels.load(_file(folder, manifest, "encoder", int8)),
            onnxmodels.load(_file(folder, manifest, "decoder", int8)))


def universal_nets(level: int, backend: str, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """Universal's level ``level`` encoder and decoder run by onnxruntime (all five levels are
    exported into the user cache together on first use)."""
    int8 = _check_backend(backend)
    folder, manifest = onnxmodels.cached_export("universal", universal_weights(), export_universal, int8=int8)
    return (onnxmodels.load(_file(folder, manifest, f"encoder{level}", int8)),
            onnxmodels.load(_file(folder, manifest, f"decoder{level}", int8)))


# --- brushwork export-model -------------------------------------------------------------------


def cmd_export_model(args: argparse.Namespace) -> int:
    if args.format != "onnx":
        raise InputError(f"Unknown model format '{args.format}'; only onnx is supported.")
    onnxmodels.require()
    onnxmodels.require("onnx")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.output)
    if args.strategy == "adain":
        manifest = export_adain(out, args.int8, args.encoder, args.decoder)
    else:
        manifest = export_universal(out, args.int8)
    print(f"{'net':10s} {'file':22s} {'max diff':>9s} {'mean diff':>10s}   (against PyTorch, {CHECK_EDGE} px sample)")
    for n in manifest["nets"]:
        rows = [(n["file"], n["float32"])] + ([(n["int8"]["file"], n["int8"])] if "int8" in n else [])
        for file, d in rows:
            rel = "" if n["role"] != "encoder" else f"  (relative {d['max_rel_diff']:.1e})"
            print(f"{n['name']:10s} {file:22s} {d['max_abs_diff']:9.2e} {d['mean_abs_diff']:10.2e}{rel}")
    print(f"wrote {len(manifest['nets'])} nets and {onnxmodels.MANIFEST} to {out}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``brushwork export-model adain|universal --format onnx -o DIR [--int8]``."""
    p = subparsers.add_parser("export-model", help="write an instant strategy's networks as ONNX",
                              description="Export the networks of adain or universal as ONNX (dynamic height and "
                                          "width) with a manifest.json saying how to chain them; each file is checked "
                                          "against PyTorch on a bundled sample.")
    p.add_argument("strategy", choices=("adain", "universal"))
    p.add_argument("--format", default="onnx", help="onnx (the only one)")
    p.add_argument("--int8", action="store_true", help="also write statically quantised INT8 copies (*.int8.onnx)")
    p.add_argument("--encoder", choices=("fast", "vgg16"), default="fast", help="adain: which encoder")
    p.add_argument("--decoder", choices=("trained", "reconstruction"), default="trained", help="adain: which decoder")
    p.add_argument("--threads", type=int, default=0, help="torch and onnxruntime CPU threads (0: torch's default)")
    p.add_argument("-o", "--output", required=True, help="folder to write the .onnx files and manifest.json into")
    p.set_defaults(func=cmd_export_model)
