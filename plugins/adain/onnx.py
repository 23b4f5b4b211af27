"""AdaIN's networks as ONNX: its encoder (relu4_1, inputs padded to a multiple of 8), its decoder,
and AdaIN end to end (content, style, alpha -> picture); and the onnx / onnx-int8 backends.

:mod:`engine.onnxmodels` does the exporting, checking, quantising and caching; this module knows
the nets, their weights and their calibration data. Why torch (bfloat16 where the CPU has it)
stays the default: :func:`engine.precision.instant_bf16` and the README's Deployment table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine import onnxmodels
from engine.images import pad_to_multiple

from .model import TRAINED_DECODERS, adain, mean_std, trained_available

MULTIPLE = 8
#: what adain.int8.onnx quantises: the network's own operators, not the AdaIN arithmetic (with
#: the statistics and the blend quantised too it was 0.046 mean abs diff from PyTorch, now 0.014)
END_TO_END_INT8_OPS = ("Conv", "MaxPool", "Pad", "Resize", "Relu")


class AdaINEndToEnd(nn.Module):
    """AdaIN in one graph: (content, style, alpha) -> picture, both inputs padded to a multiple of 8."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        fc = self.encoder(content)
        target = adain(fc, *mean_std(self.encoder(style)))
        a = alpha.reshape(1, 1, 1, 1)
        return self.decoder(a * target + (1 - a) * fc).clamp(0, 1)


def weights(encoder: str, decoder: str) -> dict[str, str]:
    """Manifest entries (and sha256s) of the nets ``plugins.adain.nets(encoder, decoder)`` loads."""
    enc = "distilled16x/encoder4" if encoder == "fast" else "vgg16"
    if decoder == "trained" and trained_available(encoder):
        dec = TRAINED_DECODERS[encoder]
    elif encoder == "fast":
        dec = "distilled16x/decoder4"
    else:
        dec = TRAINED_DECODERS[encoder]  # nets() raises the WeightsError that names it
    return onnxmodels.weight_shas([enc, dec])


def specs(encoder: str = "fast", decoder: str = "trained", end_to_end: bool = True) -> list[onnxmodels.NetSpec]:
    from . import nets

    enc_t, dec_t = nets(encoder, decoder, torch.device("cpu"))
    enc, dec = onnxmodels.plain(enc_t), onnxmodels.plain(dec_t)
    contents, styles = onnxmodels.sample_pictures()
    pics = [pad_to_multiple(x, MULTIPLE)[0] for x in contents + styles]
    photo, painting = pics[0], pics[len(contents)]
    with torch.no_grad():
        feats = [enc(x) for x in pics]
        stats = [mean_std(f) for f in feats[len(contents):]]
        targets = [adain(feats[i], *s) for i in range(len(contents)) for s in stats]
        check_feat = adain(feats[0], *stats[0])
    common = {"pad_multiple": MULTIPLE, "pad_mode": "reflect, bottom and right; crop the output back"}
    keep = onnxmodels.KEEP_FLOAT
    out = [
        onnxmodels.NetSpec(
            "encoder", enc, {"image": photo}, "features", {"image": photo},
            calibration=lambda: [{"image": x} for x in pics], keep_float=keep,
            info={"role": "encoder", "level": 4, "layer": "relu4_1", "input_range": [0.0, 1.0],
                  "channels": int(feats[0].shape[1]), "downsample": MULTIPLE, **common}),
        onnxmodels.NetSpec(
            "decoder", dec, {"features": check_feat}, "image", {"features": check_feat}, image_output=True,
            calibration=lambda: [{"features": f} for f in targets + feats[: len(contents)]], keep_float=keep,
            info={"role": "decoder", "level": 4, "output_range": "clamp to [0, 1]", **common}),
    ]
    if end_to_end:
        alpha = torch.tensor([0.8])
        out.append(onnxmodels.NetSpec(
            "adain", AdaINEndToEnd(enc, dec).eval(), {"content": photo, "style": painting, "alpha": alpha}, "image",
            {"content": photo, "style": painting, "alpha": alpha}, image_output=True,
            dynamic={"content": {2: "content_height", 3: "content_width"},
                     "style": {2: "style_height", 3: "style_width"}},
            calibration=lambda: [{"content": pics[0], "style": s, "alpha": torch.tensor([1.0])}
                                 for s in pics[len(contents):]], keep_float=keep,
            int8_ops=END_TO_END_INT8_OPS,
            info={"role": "end-to-end", "alpha": "shape [1], 0 keeps the photo, 1 takes the style",
                  "output_range": [0.0, 1.0], **common}))
    return out


CHAIN = {"strategy": "adain", "chain": [
    "pad the RGB picture (1x3xHxW, [0, 1]) to a multiple of 8 (reflect, bottom and right)",
    "encoder: image -> features; the style the same way",
    "target = (fc - mean(fc)) / std(fc) * std(fs) + mean(fs), per channel (std with +1e-5 on the variance)",
    "features = alpha * target + (1 - alpha) * fc",
    "decoder: features -> image; crop to H x W, clamp to [0, 1]",
    "or adain.onnx: (content, style, alpha) -> image in one call (both padded)"]}


def export(out: Path, int8: bool, encoder: str = "fast", decoder: str = "trained",
           end_to_end: bool = True) -> dict[str, Any]:
    return onnxmodels.export_set(specs(encoder, decoder, end_to_end), out, int8=int8,
                                 weights=weights(encoder, decoder),
                                 about={**CHAIN, "encoder": encoder, "decoder": decoder})


def onnx_nets(encoder: str, decoder: str, backend: str) -> tuple[nn.Module, nn.Module]:
    """AdaIN's encoder and decoder run by onnxruntime, exported into the user cache on first use."""
    int8 = onnxmodels.check_backend(backend)
    w = weights(encoder, decoder)
    key = "adain-" + "-".join(n.replace("/", "_") for n in w)
    folder, manifest = onnxmodels.cached_export(
        key, w, lambda out, q: export(out, q, encoder, decoder, end_to_end=False), int8=int8)
    return (onnxmodels.load(onnxmodels.net_file(folder, manifest, "encoder", int8)),
            onnxmodels.load(onnxmodels.net_file(folder, manifest, "decoder", int8)))
