"""AdaIN's networks and feature arithmetic, reusable outside the strategy (tiled export, training).

Public pieces:

- :data:`ENCODERS`: the encoder names (``fast`` = distilled-16x encoder4, ``vgg16`` = VGG16 to
  relu4_1), each paired with its own decoder.
- :func:`load_encoder` / :func:`load_decoder`: the nets for an encoder name. ``load_decoder``
  picks the AdaIN-trained decoder from the manifest when present and falls back to the
  reconstruction decoder (``fast``) otherwise; :func:`decoder_kind` says which one you got.
- :func:`mean_std` (optionally mask-weighted) and :func:`adain`: the feature alignment.
- :class:`StyleFeatureCache`: encoded style statistics keyed by (encoder, image hash, size),
  so moving alpha or the interpolation weights never re-encodes a style.
- :func:`pad_to_multiple` / :data:`DOWNSAMPLE`: the encoders downsample 8x, so inputs are
  reflect-padded to a multiple of 8 and the output cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from engine import images, weights
from engine.distilled import (RECONSTRUCTION_UPSAMPLE, UPSAMPLE_MODES, DistilledDecoder, DistilledEncoder, Upsample,
                              file_upsample, upsample2x)
from engine.errors import InputError, WeightsError
from engine.featurecache import ContentFeatureCache, LruCache, image_key
from engine.features import VGGFeatures

EncoderName = Literal["fast", "vgg16"]
ENCODERS: tuple[str, ...] = ("fast", "vgg16")
#: manifest entries of the AdaIN-trained decoders, per encoder
TRAINED_DECODERS: dict[str, str] = {"fast": "adain/decoder-fast", "vgg16": "adain/decoder-vgg16"}
#: both encoders stop at relu4_1, after three 2x poolings
DOWNSAMPLE = 8
#: the style-loss taps, shallow to deep (relu4_1 is also the AdaIN layer)
LOSS_TAPS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
EPS = 1e-5


def check_encoder(name: str) -> None:
    if name not in ENCODERS:
        raise InputError(f"Unknown AdaIN encoder '{name}'; choose one of {', '.join(ENCODERS)}.")


# --- encoders -------------------------------------------------------------------------------


class FastEncoder(nn.Module):
    """Distilled-16x encoder4 (128-channel relu4_1). ``taps`` also serves as the cheap loss net:
    raw relu4_1 for the content loss, the ``aux`` heads (VGG19 widths) for the style loss."""

    name = "fast"

    def __init__(self, enc: DistilledEncoder) -> None:
        super().__init__()
        self.enc = enc
        self.channels = enc.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(x)  # in-place ReLUs without autograd (engine.distilled)

    def taps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(raw relu4_1, [aux relu1_1 .. relu4_1]) in one pass."""
        raw = self.enc.forward_taps(x, 4, aux=False)
        return raw[4], [self.enc.aux[str(i)](raw[i]) for i in range(1, 5)]


class VGG16Encoder(nn.Module):
    """VGG16 up to relu4_1 (512 channels); ``taps`` is its own loss net (relu1_1..relu4_1)."""

    name = "vgg16"

    def __init__(self, vgg: VGGFeatures) -> None:
        super().__init__()
        self.vgg = vgg
        self.channels = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vgg(x, ["relu4_1"])["relu4_1"]

    def taps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f = self.vgg(x, LOSS_TAPS)
        return f["relu4_1"], [f[t] for t in LOSS_TAPS]


def load_encoder(name: str, weights_dir=None, random_init: bool = False) -> nn.Module:
    """A frozen encoder; ``random_init`` builds vgg16 without weights (tests of the code path)."""
    check_encoder(name)
    if name == "fast":
        enc: nn.Module = FastEncoder(DistilledEncoder(4, weights.load_state("distilled16x/encoder4", weights_dir)))
    else:
        state = None if random_init else weights.load_state("vgg16", weights_dir)
        vgg = VGGFeatures("vgg16", state)
        # Keep only what relu4_1 needs: conv1_1 .. relu4_1 (index 18).
        vgg.features = vgg.features[:19]
        vgg.layer_names = vgg.layer_names[:19]
        vgg.taps = tuple(n for n in vgg.layer_names if n.startswith("relu"))
        enc = VGG16Encoder(vgg)
    return enc.eval().requires_grad_(False)


# --- decoders -------------------------------------------------------------------------------

#: VGG16 relu4_1 decoder: the encoder mirrored (conv, or "up" where the encoder pooled)
VGG16_DECODER: tuple[tuple[str, int, int] | str, ...] = (
    ("conv41", 512, 256), "up",
    ("conv33", 256, 256), ("conv32", 256, 256), ("conv31", 256, 128), "up",
    ("conv22", 128, 128), ("conv21", 128, 64), "up",
    ("conv12", 64, 64), ("conv11", 64, 3),
)


class VGG16Decoder(nn.Module):
    """relu4_1 of VGG16 -> RGB. As the AdaIN paper's decoder (reflect padding, ReLU after every
    conv but the last, clamped at inference instead), but upsampling bilinearly by default: the
    paper's nearest neighbour leaves a checkerboard (engine.distilled.upsample2x)."""

    def __init__(self, state: dict[str, torch.Tensor] | None = None, upsample: Upsample = "bilinear") -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise InputError(f"unknown upsample mode '{upsample}'")
        self.upsample = upsample
        self.order = [s if isinstance(s, str) else s[0] for s in VGG16_DECODER]
        self.convs = nn.ModuleDict({s[0]: nn.Conv2d(s[1], s[2], 3) for s in VGG16_DECODER if not isinstance(s, str)})
        self.pad = nn.ReflectionPad2d(1)
        if state is not None:
            self.convs.load_state_dict(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.order:
            if name == "up":
                x = upsample2x(x, self.upsample)
            else:
                x = self.convs[name](self.pad(x))
                if name != "conv11":
                    x = torch.relu(x)
        return x

    def state_for_saving(self) -> dict[str, torch.Tensor]:
        return {k.removeprefix("convs."): v.detach().contiguous().cpu() for k, v in self.state_dict().items()}


DecoderKind = Literal["trained", "reconstruction", "random"]


def trained_available(name: str, weights_dir=None) -> bool:
    """Whether encoder ``name``'s AdaIN-trained decoder is in the manifest and on disk (verified)."""
    check_encoder(name)
    entry = TRAINED_DECODERS[name]
    return entry in weights.load_manifest() and weights.is_available(entry, weights_dir)


def decoder_kind(name: str, weights_dir=None) -> DecoderKind | None:
    """What :func:`load_decoder` would give for ``name`` with ``prefer="trained"``; None: nothing."""
    check_encoder(name)
    if trained_available(name, weights_dir):
        return "trained"
    return "reconstruction" if name == "fast" else None


def load_decoder(name: str, prefer: Literal["trained", "reconstruction", "random"] = "trained",
                 weights_dir=None, weight_name: str | None = None, upsample: Upsample | None = None) -> nn.Module:
    """The decoder for encoder ``name``.

    ``prefer="trained"`` takes the AdaIN-trained decoder when its file is present, else (fast
    only) the reconstruction decoder4, which stylises weakly. ``"reconstruction"`` forces the
    latter (comparisons, and the training start point); ``"random"`` builds an untrained one.
    ``weight_name`` loads a specific manifest entry instead. A decoder upsamples as its file's
    metadata says (engine.distilled.file_upsample); ``upsample`` overrides that (training a
    decoder into another mode, or the bench's before/after).
    """
    check_encoder(name)
    if weight_name is not None:
        state = weights.load_state(weight_name, weights_dir)
        # a mirror decoder runs as engine.distilled says; a trained file that names no mode is an
        # old one, trained after nearest neighbour
        default = RECONSTRUCTION_UPSAMPLE[4] if weight_name.startswith("distilled16x/") else "nearest"
        mode = upsample or file_upsample(weights.locate(weight_name, weights_dir), default)
        dec: nn.Module = DistilledDecoder(4, state, mode) if name == "fast" else VGG16Decoder(state, mode)
        return dec.eval()
    if prefer == "random":
        if name == "fast":
            ref = weights.load_state("distilled16x/decoder4", weights_dir)
            dec = DistilledDecoder(4, {k: torch.empty_like(v) for k, v in ref.items()}, upsample or "bilinear")
            for m in dec.modules():
                if isinstance(m, nn.Conv2d):
                    m.reset_parameters()
            return dec.eval()
        return VGG16Decoder(upsample=upsample or "bilinear").eval()
    if prefer == "trained" and trained_available(name, weights_dir):
        return load_decoder(name, weights_dir=weights_dir, weight_name=TRAINED_DECODERS[name], upsample=upsample)
    if name == "fast":
        return load_decoder(name, weights_dir=weights_dir, weight_name="distilled16x/decoder4", upsample=upsample)
    raise WeightsError(
        "No AdaIN decoder for the vgg16 encoder is installed (it needs GPU training: "
        "`brushwork train adain --encoder vgg16 ...`). Use encoder=fast."
    )


# --- feature arithmetic ---------------------------------------------------------------------


def mean_std(feat: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel-wise mean and std of BxCxHxW features (Bx C x1x1 each), optionally weighted by an
    HxW (or Bx1xHxW) mask: regional AdaIN needs the statistics of the region only."""
    feat = feat.float()
    if mask is None:
        mean = feat.mean((2, 3), keepdim=True)
        var = feat.var((2, 3), keepdim=True, unbiased=False)
    else:
        m = mask.to(feat).reshape(-1, 1, *feat.shape[-2:])
        total = m.sum((2, 3), keepdim=True).clamp_min(EPS)
        mean = (feat * m).sum((2, 3), keepdim=True) / total
        var = ((feat - mean).pow(2) * m).sum((2, 3), keepdim=True) / total
    return mean, (var + EPS).sqrt()


def adain(content_feat: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
          content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Give ``content_feat`` the style's channel-wise mean and std (Huang & Belongie 2017).

    ``content_stats`` overrides the content's own statistics (a region's, or a whole image's
    when the features are one tile of it, so tiles agree)."""
    c_mean, c_std = content_stats if content_stats is not None else mean_std(content_feat)
    return (content_feat.float() - c_mean) / c_std * style_std + style_mean


def pad_to_multiple(x: torch.Tensor, multiple: int = DOWNSAMPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """:func:`engine.images.pad_to_multiple` at the AdaIN encoders' 8x."""
    return images.pad_to_multiple(x, multiple)


# --- style cache ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StyleStats:
    """One encoded style: relu4_1 channel mean and std (1xCx1x1, float32, on the run's device)."""

    mean: torch.Tensor
    std: torch.Tensor


class StyleFeatureCache(LruCache[StyleStats]):
    """Encoded style statistics, least recently used first out.

    Keyed by (encoder, device, image hash, encoded size): changing alpha, the interpolation
    weights or the colour of the content never re-encodes a style; a new stroke scale does.
    Thread-safe: the editor's worker and the export may share it.
    """

    def __init__(self, capacity: int = 64) -> None:
        super().__init__(capacity)

    def get(self, encoder: nn.Module, encoder_name: str, image: torch.Tensor, device: torch.device) -> StyleStats:
        """Stats of ``image`` (already at the size to encode) through ``encoder``."""

        def encode() -> StyleStats:
            with torch.no_grad():
                x, _ = pad_to_multiple(image.to(device))
                return StyleStats(*mean_std(encoder(x)))

        return self.lookup((encoder_name, str(device), image_key(image)), encode)


#: the process-wide cache the strategy uses
style_cache = StyleFeatureCache()
#: encoded contents, for live edits
content_cache = ContentFeatureCache()
