"""Universal's networks as ONNX: the five distilled-16x encoder/decoder pairs (inputs padded to a
multiple of 16, the deepest level's pooling), and the onnx backend.

The whitening and colouring between them (an ``eigh`` per level, which ONNX cannot express)
stays in PyTorch, as the manifest's ``chain`` says. INT8 copies are written for other runtimes
but never rendered with: the whitening amplifies their rounding (0.038-0.05 mean abs difference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine import onnxmodels
from engine.images import pad_to_multiple

from .wct import apply, colouring, moments, transform

LEVELS = (1, 2, 3, 4, 5)
MULTIPLE = 16


def weights() -> dict[str, str]:
    return onnxmodels.weight_shas([f"distilled16x/{kind}{level}" for level in LEVELS for kind in ("encoder", "decoder")])


def specs() -> list[onnxmodels.NetSpec]:
    from . import nets

    contents, styles = onnxmodels.sample_pictures()
    pics = [pad_to_multiple(x, MULTIPLE)[0] for x in contents + styles]
    photo = pics[0]
    keep = onnxmodels.KEEP_FLOAT
    out = []
    for level in LEVELS:
        enc_t, dec_t = nets(level, torch.device("cpu"))
        enc, dec = onnxmodels.plain(enc_t), onnxmodels.plain(dec_t)
        with torch.no_grad():
            feats = [enc(x) for x in pics]
            cols = [colouring(moments(f)) for f in feats[len(contents):]]
            # what a decoder sees: WCT features of each photo toward each painting, at alpha 1 and the default 0.6
            targets = [apply(feats[i], *transform(moments(feats[i]), c, a))
                       for i in range(len(contents)) for c in cols for a in (1.0, 0.6)]
        common = {"level": level, "pad_multiple": MULTIPLE,
                  "pad_mode": "reflect, bottom and right; crop the output back"}
        out.append(onnxmodels.NetSpec(
            f"encoder{level}", enc, {"image": photo}, "features", {"image": photo},
            calibration=lambda pics=pics: [{"image": x} for x in pics], keep_float=keep,
            info={"role": "encoder", "layer": f"relu{level}_1", "input_range": [0.0, 1.0],
                  "channels": int(feats[0].shape[1]), "downsample": 2 ** (level - 1), **common}))
        out.append(onnxmodels.NetSpec(
            f"decoder{level}", dec, {"features": targets[0]}, "image", {"features": targets[0]}, image_output=True,
            calibration=lambda t=targets, f=feats[: len(contents)]: [{"features": x} for x in t + f],
            keep_float=keep,
            info={"role": "decoder", "output_range": "clamp to [0, 1]", **common}))
    return out


CHAIN = {"strategy": "universal", "chain": [
    "levels run deepest first: depth, depth-1, ..., 1 (depth 5 by default)",
    "at each level: pad the current picture to a multiple of 16 (reflect, bottom and right)",
    "encoder<level>: image -> features (C x H/2^(level-1) x W/2^(level-1))",
    "whiten the features with their covariance, colour them with the style's (eigh, in the host: "
    "see plugins/universal/wct.py), blend with alpha",
    "decoder<level>: features -> image; crop to H x W, clamp to [0, 1]: the next level's input"]}


def export(out: Path, int8: bool) -> dict[str, Any]:
    return onnxmodels.export_set(specs(), out, int8=int8, weights=weights(), about=CHAIN)


def onnx_nets(level: int, backend: str) -> tuple[nn.Module, nn.Module]:
    """Level ``level``'s encoder and decoder run by onnxruntime (all five levels are exported into
    the user cache together on first use)."""
    int8 = onnxmodels.check_backend(backend)
    folder, manifest = onnxmodels.cached_export("universal", weights(), export, int8=int8)
    return (onnxmodels.load(onnxmodels.net_file(folder, manifest, f"encoder{level}", int8)),
            onnxmodels.load(onnxmodels.net_file(folder, manifest, f"decoder{level}", int8)))
