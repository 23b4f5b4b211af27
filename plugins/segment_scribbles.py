"""Scribble-to-regions: a few strokes per region, masks for the whole picture.

ilastik-style propagation: a segmentation-models-pytorch Unet whose ImageNet
EfficientNet-Lite0 encoder comes from the weights mirror is frozen, its features are
computed once, and only a small decoder is trained for a few dozen steps on the scribbled
pixels. Training runs at a reduced size (seconds on a CPU); the predicted masks are then
upsampled and snapped to the photo's edges with a guided filter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from engine import weights
from engine.errors import InputError
from engine.images import load_pil, resize_long_edge
from engine.params import param
from engine.segmenter import Segmenter, refine_to_edges, remove_islands

ENCODER = "timm-tf_efficientnet_lite0"
#: a scribble colour must cover at least this many pixels to count as a region (not anti-aliasing)
MIN_STROKE_PIXELS = 12


@dataclass(frozen=True)
class ScribblesParams:
    size: int = param(256, min=96, max=1024, step=32, help="Long edge (px) at which the decoder is trained; larger is slower but finer.")
    steps: int = param(40, min=1, max=1000, step=5, help="Decoder training steps on the scribbled pixels.")
    lr: float = param(0.01, min=0.0001, max=0.1, step=0.001, log=True, help="Decoder learning rate.", advanced=True)
    min_region: float = param(0.005, min=0.0, max=0.2, step=0.005, help="Predicted pieces smaller than this fraction of the image join their surroundings.")
    connected: bool = param(True, help="Keep only the parts of a region that touch one of its strokes; give each separate part its own stroke.")
    edge_radius: int = param(6, min=0, max=64, step=1, help="Edge refinement radius (px at 1024 px); 0 keeps the network's edges.")
    seed: int = param(0, min=0, max=2**31 - 1, step=1, help="Decoder initialisation seed.", advanced=True)


def labels_from_colours(rgba: np.ndarray) -> tuple[torch.Tensor, list[tuple[int, int, int]]]:
    """HxWx4 uint8 scribbles -> HxW labels (0 = unmarked, 1..K) and the K colours.

    Transparent or black pixels are unmarked. Regions are numbered in the order their colour
    first appears scanning row by row from the top, so the sky stroke usually comes first.
    Pixels of rarer colours (anti-aliased stroke edges) join the nearest region colour.
    """
    rgb = rgba[..., :3].astype(np.int32)
    marked = (rgba[..., 3] >= 128) & (rgb.sum(-1) > 30)
    if not marked.any():
        raise InputError("The scribble image marks nothing: paint strokes in colour on a transparent or black background.")
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    flat = codes[marked]
    values, first, counts = np.unique(flat, return_index=True, return_counts=True)
    keep = counts >= MIN_STROKE_PIXELS
    if keep.sum() < 2:
        raise InputError(f"The scribbles use {int(keep.sum())} colour(s); paint strokes in at least two colours, one per region.")
    region_codes = values[keep][np.argsort(first[keep])]
    colours = [((int(c) >> 16) & 255, (int(c) >> 8) & 255, int(c) & 255) for c in region_codes]
    palette = np.array(colours, dtype=np.int32)
    labels = np.zeros(codes.shape, dtype=np.int64)
    ys, xs = np.nonzero(marked)
    d = np.abs(rgb[ys, xs][:, None, :] - palette[None]).sum(-1)
    nearest = d.argmin(1)
    close = d.min(1) <= 60  # anti-aliased edge pixels between stroke and black are left unmarked
    labels[ys[close], xs[close]] = nearest[close] + 1
    return torch.from_numpy(labels), colours


def load_scribbles(source: Any, hw: tuple[int, int]) -> tuple[torch.Tensor, list[tuple[int, int, int]] | None]:
    """Scribbles from a PNG path or an HxW integer label tensor (0 = unmarked), at size ``hw``."""
    if isinstance(source, (str, os.PathLike)):
        labels, colours = labels_from_colours(np.asarray(load_pil(Path(source), mode="RGBA")))
    elif isinstance(source, torch.Tensor) and source.dim() == 2 and not torch.is_floating_point(source):
        labels, colours = source.long(), None
        if len(labels.unique()[labels.unique() > 0]) < 2:
            raise InputError("The scribble labels mark fewer than two regions.")
    else:
        raise InputError("Scribbles must be a PNG file path or an HxW integer label array (0 = unmarked).")
    lh, lw = labels.shape
    if abs(lh / lw - hw[0] / hw[1]) > 0.02 * hw[0] / hw[1]:
        raise InputError(f"The scribbles are {lw}x{lh} but the image is {hw[1]}x{hw[0]}; paint them on this image.")
    return labels, colours


def nearest_labels(labels: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Labels at another size, a stroke staying at least one pixel wide (max-pooling each class)."""
    k = int(labels.max())
    onehot = torch.stack([(labels == c).float() for c in range(1, k + 1)])[None]
    pooled = F.adaptive_max_pool2d(onehot, hw)[0]
    # Where strokes of two classes meet in one cell, the cell is ambiguous: leave it unmarked.
    out = pooled.argmax(0) + 1
    out[pooled.sum(0) != 1] = 0
    return out


def build_unet(classes: int):
    """The Unet with a frozen ImageNet encoder from the mirror and a small trainable decoder."""
    import segmentation_models_pytorch as smp

    model = smp.Unet(ENCODER, encoder_weights=None, classes=classes, decoder_channels=(64, 32, 24, 16, 16))
    model.encoder.load_state_dict(weights.load_state("efficientnet-lite0"))
    model.encoder.eval().requires_grad_(False)
    return model


class ScribblesSegmenter(Segmenter):
    name = "scribbles"
    title = "Regions from scribbles"
    description = "Paint a few strokes per region (one colour each); a small network learns them and fills in the rest."
    Params = ScribblesParams
    inputs = ("scribbles",)

    def compute(self, image: torch.Tensor, params: Any, inputs: Mapping[str, Any]) -> list[torch.Tensor]:
        p: ScribblesParams = params
        if inputs.get("scribbles") is None:
            raise InputError("The scribbles segmenter needs scribbles: a PNG with one colour per region (--scribbles).")
        h, w = image.shape[-2:]
        labels, _ = load_scribbles(inputs["scribbles"], (h, w))
        classes = int(labels.max())
        present = sorted(int(c) for c in labels.unique() if c > 0)
        if present != list(range(1, classes + 1)):
            raise InputError(f"Scribble labels must be 1..K with every region marked; got {present}.")
        work = resize_long_edge(image, min(p.size, max(h, w)))
        # smp's encoder halves the size five times: pad to a multiple of 32, crop the prediction back.
        wh, ww = work.shape[-2:]
        ph, pw = (-wh) % 32, (-ww) % 32
        x = F.pad(work, (0, pw, 0, ph), mode="reflect") * 2 - 1  # the encoder's mean = std = 0.5
        target = nearest_labels(labels, (wh, ww)) - 1  # -1 = unmarked, ignored by the loss
        if not all((target == c).any() for c in range(classes)):
            raise InputError(f"A scribble stroke vanishes at the training size {ww}x{wh}: paint thicker strokes or raise 'size'.")
        torch.manual_seed(p.seed)
        model = build_unet(classes)
        with torch.no_grad():
            feats = model.encoder(x)
        trainable = list(model.decoder.parameters()) + list(model.segmentation_head.parameters())
        opt = torch.optim.Adam(trainable, lr=p.lr)
        counts = torch.bincount(target[target >= 0], minlength=classes).float()
        class_weight = counts.sum() / (classes * counts)  # a short stroke counts as much as a long one
        model.decoder.train()
        for _ in range(p.steps):
            logits = model.segmentation_head(model.decoder(feats))[..., :wh, :ww]
            loss = F.cross_entropy(logits, target[None], weight=class_weight, ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        # The decoder stays in training mode: its batch norm then normalises the prediction exactly
        # as it did every training step (40 steps leave the running averages unsettled).
        with torch.no_grad():
            probs = model.segmentation_head(model.decoder(feats))[..., :wh, :ww].softmax(1)[0]
        if p.connected or p.min_region > 0:
            # Look-alikes the network got wrong (a hazy patch of city read as sky) join what surrounds them.
            hard = remove_islands(probs.argmax(0), max(1, round(p.min_region * wh * ww)),
                                  anchors=target if p.connected else None)
            onehot = torch.stack([(hard == c).float() for c in range(classes)])
            probs = torch.where(onehot.argmax(0, keepdim=True) == probs.argmax(0, keepdim=True), probs, onehot)
        soft = F.interpolate(probs[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        radius = round(p.edge_radius * max(h, w) / 1024)
        if radius > 0:
            soft = refine_to_edges(soft, image, radius)
        return list(soft)
