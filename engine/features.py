"""Feature networks: an image batch in, named activations out.

Every net takes RGB in [0, 1] and applies its own normalisation, and runs only up to the
last tap asked for. Tap names follow VGG: ``relu1_1`` ... ``relu5_1`` (VGG16/19 also have
``relu3_3``, ``relu4_2`` ...).
"""

from __future__ import annotations

import threading
from typing import Iterable

import torch
from torch import nn

from . import weights
from .distilled import DistilledEncoder
from .errors import InputError

_VGG_CFG = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_VGG_WIDTHS = (64, 128, 256, 512, 512)


def tap_block(tap: str) -> int:
    """The VGG block a tap belongs to: "relu3_1" -> 3 (its features are 2**(block-1) px apart)."""
    return int(tap[4])


class FeatureNet(nn.Module):
    """Base: ``forward(x, taps)`` returns ``{tap: activation}``."""

    name: str = ""
    #: all tap names this net offers, in forward order
    taps: tuple[str, ...] = ()

    def check_taps(self, taps: Iterable[str]) -> list[str]:
        taps = list(taps)
        unknown = [t for t in taps if t not in self.taps]
        if unknown:
            raise InputError(f"Feature net '{self.name}' has no layer {', '.join(unknown)}; it offers {', '.join(self.taps)}.")
        return taps


class VGGFeatures(FeatureNet):
    """torchvision's VGG16/VGG19 ``features``, with torchvision's key names."""

    def __init__(self, arch: str, state: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.name = arch
        layers: list[nn.Module] = []
        names: list[str] = []
        in_ch = 3
        for block, (n, width) in enumerate(zip(_VGG_CFG[arch], _VGG_WIDTHS), start=1):
            for i in range(1, n + 1):
                layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(inplace=False)]
                names += [f"conv{block}_{i}", f"relu{block}_{i}"]
                in_ch = width
            layers.append(nn.MaxPool2d(2))
            names.append(f"pool{block}")
        self.features = nn.Sequential(*layers)
        self.layer_names = names
        self.taps = tuple(n for n in names if n.startswith("relu"))
        if state is not None:
            self.features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, taps: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(self.check_taps(taps))
        out: dict[str, torch.Tensor] = {}
        x = (x - self.mean) / self.std
        for name, layer in zip(self.layer_names, self.features):
            x = layer(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


class DistilledFeatures(FeatureNet):
    """The distilled-16x VGG19 encoder5 with its aux heads: VGG19-width features, 16x cheaper."""

    name = "distilled16x"
    taps = tuple(f"relu{i}_1" for i in range(1, 6))

    def __init__(self, encoder: DistilledEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor, taps: Iterable[str]) -> dict[str, torch.Tensor]:
        taps = self.check_taps(taps)
        levels = {tap_block(t) for t in taps}
        feats = self.encoder.forward_taps(x, max(levels), aux=True)
        return {t: feats[tap_block(t)] for t in taps}


#: the loss networks users can choose, with what each is for
FEATURE_NETS = {
    "vgg16": "VGG16 ImageNet: full quality",
    "distilled16x": "distilled VGG19, 16x cheaper: fast drafts on the CPU",
    "vgg19": "VGG19 ImageNet: the classic choice, when its weights are present",
}

_cache: dict[tuple[str, str], FeatureNet] = {}
_lock = threading.Lock()


def build(name: str, weights_dir=None, random_init: bool = False) -> FeatureNet:
    """Build a feature net; ``random_init`` skips the weights (tests of the code path)."""
    if name in _VGG_CFG:
        state = None if random_init else weights.load_state(name, weights_dir)
        net: FeatureNet = VGGFeatures(name, state)
    elif name == "distilled16x":
        if random_init:
            raise InputError("distilled16x has no random-init mode; its weights ship in the mirror.")
        net = DistilledFeatures(DistilledEncoder(5, weights.load_state("distilled16x/encoder5", weights_dir)))
    else:
        raise InputError(f"Unknown feature net '{name}'; choose one of {', '.join(FEATURE_NETS)}.")
    net.eval().requires_grad_(False)
    return net


def get(name: str, device: torch.device | str = "cpu") -> FeatureNet:
    """A shared, frozen instance per (name, device): loading VGG16 takes a second, so do it once."""
    key = (name, str(device))
    with _lock:
        if key not in _cache:
            _cache[key] = build(name).to(device)
        return _cache[key]
