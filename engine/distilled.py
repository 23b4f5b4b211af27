"""The distilled-16x VGG19 encoder/decoder family (Collaborative Distillation, Wang 2020).

safetensors lists keys sorted by name, so the layer order lives here, in code. How a decoder
upsamples belongs to its weights (one trained after bilinear upsampling runs after bilinear), so a
Brushwork-trained file says it in its metadata (``upsample``). The mirror's reconstruction
decoders, trained after nearest neighbour, say nothing: they run with :data:`RECONSTRUCTION_UPSAMPLE`.
"""

from __future__ import annotations

from typing import Literal

import torch
from safetensors import safe_open
from torch import nn

from . import weights
from .errors import WeightsError

Upsample = Literal["nearest", "bilinear", "bicubic", "bicubic-sharp"]
UPSAMPLE_MODES: tuple[str, ...] = ("nearest", "bilinear", "bicubic", "bicubic-sharp")
#: share of nearest neighbour mixed back into "bicubic-sharp": the edge contrast a decoder trained
#: after nearest neighbour expects, with a quarter of its lattice
SHARP_NEAREST = 0.25
#: how the mirror's reconstruction decoders (trained after nearest neighbour) upsample, per level.
#: Nearest leaves 2/4/8 px blocks (universal's grid figure 1.11-1.33 on the sample and three
#: training pairs at 512 px); bicubic everywhere removes them (1.04-1.08) but softens the deep
#: levels' strokes (Gram gap closed 0.490 -> 0.466 on average); bicubic at level 2, whose blocks
#: are the finest, and bicubic-sharp at 3-5 gives 1.04-1.08 at the same Gram (0.491) and colour
#: (0.927 against 0.929). Level 1 does not upsample.
RECONSTRUCTION_UPSAMPLE: dict[int, str] = {1: "nearest", 2: "bicubic", 3: "bicubic-sharp", 4: "bicubic-sharp",
                                           5: "bicubic-sharp"}

# Convs per block; the encoder pools between blocks and stops after conv{level}1.
BLOCKS: tuple[tuple[str, ...], ...] = (
    ("conv11", "conv12"),
    ("conv21", "conv22"),
    ("conv31", "conv32", "conv33", "conv34"),
    ("conv41", "conv42", "conv43", "conv44"),
    ("conv51",),
)


def _fused_conv_relu():
    """oneDNN's convolution with its ReLU fused (the op torch's inductor emits), or None where
    this torch build has no oneDNN."""
    try:
        return torch.ops.mkldnn._convolution_pointwise.default if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


_CONV_RELU = _fused_conv_relu()


def _tracing() -> bool:
    """An ONNX export or a trace records the graph: it must see a convolution and a ReLU, which
    every runtime has, not oneDNN's private fused op (ONNX has no such operator)."""
    return torch.onnx.is_in_onnx_export() or torch.jit.is_tracing() or torch.compiler.is_compiling()


def conv_relu(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``relu(conv(x))`` for inference, one oneDNN call on a CPU: the ReLU rides on the
    convolution's output instead of a second pass over memory (512 px video frames, 1 thread:
    1.2-2x faster per layer, bit-identical; the separate in-place ReLUs were a tenth of
    universal's net time)."""
    if (_CONV_RELU is not None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16)
            and not _tracing()):
        return _CONV_RELU(x, conv.weight, conv.bias, list(conv.padding), list(conv.stride), list(conv.dilation),
                          conv.groups, "relu", [], "")
    return conv(x).relu_()


def encoder_convs(level: int) -> list[str]:
    """Conv names of encoder ``level`` in forward order, with 'pool' between blocks."""
    names: list[str] = []
    for b, block in enumerate(BLOCKS[:level]):
        if b:
            names.append("pool")
        names += list(block) if b < level - 1 else [block[0]]
    return names


def _conv(state: dict[str, torch.Tensor], name: str) -> nn.Conv2d:
    w, b = state[f"{name}.weight"], state[f"{name}.bias"]
    conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2])
    conv.weight.data.copy_(w)
    conv.bias.data.copy_(b)
    return conv


class DistilledEncoder(nn.Module):
    """Encoder ``level``: RGB in [0,1] -> relu{level}_1 (raw, narrow width).

    ``forward_taps`` also returns every intermediate relu{i}_1, raw or through the
    ``conv{i}1_aux`` heads (VGG19 width), for use as a loss network.
    """

    def __init__(self, level: int, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.level = level
        self.conv0 = _conv(state, "conv0")
        self.order = encoder_convs(level)
        self.convs = nn.ModuleDict({n: _conv(state, n) for n in self.order if n != "pool"})
        self.aux = nn.ModuleDict(
            {f"{i}": _conv(state, f"conv{i}1_aux") for i in range(1, level + 1) if f"conv{i}1_aux.weight" in state}
        )
        self.pad = nn.ReflectionPad2d(1)
        self.pool = nn.MaxPool2d(2)
        self.channels = self.convs[self.order[-1]].out_channels

    def forward_taps(self, x: torch.Tensor, last: int, aux: bool) -> dict[int, torch.Tensor]:
        out: dict[int, torch.Tensor] = {}
        x = self.conv0(x)
        for name in self.order:
            if name == "pool":
                x = self.pool(x)
                continue
            x = torch.relu(self.convs[name](self.pad(x)))
            if name.endswith("1"):
                i = int(name[4])
                out[i] = self.aux[str(i)](x) if aux else x
                if i >= last:
                    break
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.forward_taps(x, self.level, aux=False)[self.level]
        # inference: ReLUs fused into the convolutions (conv_relu)
        x = self.conv0(x)
        for name in self.order:
            x = self.pool(x) if name == "pool" else conv_relu(self.convs[name], self.pad(x))
        return x


def decoder_convs(level: int) -> list[str]:
    """Decoder ``level`` in forward order: the encoder reversed, 'up' where it pooled."""
    return [("up" if n == "pool" else n) for n in reversed(encoder_convs(level))]


def upsample2x(x: torch.Tensor, mode: str) -> torch.Tensor:
    """2x upsampling as a decoder does it. Nearest neighbour then a 3x3 conv gives each of the
    four output phases its own effective kernel, which shows as a 2/4/8 px lattice (the grid
    figure, engine.metrics.grid: 1.2-1.4 through AdaIN's decoder); bilinear gives every phase
    the same smooth input."""
    if mode == "nearest":
        return nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    if mode.startswith("bicubic") and not _tracing():  # an ONNX graph keeps interpolate's Resize op
        return _bicubic2x(x, mode.endswith("-sharp"))
    near = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    smooth = nn.functional.interpolate(x, scale_factor=2, mode=mode.removesuffix("-sharp"), align_corners=False)
    if mode.endswith("-sharp"):
        return torch.lerp(smooth, near, SHARP_NEAREST)
    return smooth


#: Keys's cubic (a = -0.75, torch's bicubic) at a 2x enlargement, align_corners=False: an even output
#: pixel samples 0.25 px before its source pixel, an odd one 0.25 px after; taps at offsets -2..2
_CUBIC_EVEN = (-0.03515625, 0.26171875, 0.87890625, -0.10546875, 0.0)
_CUBIC_ODD = (0.0, -0.10546875, 0.87890625, 0.26171875, -0.03515625)
_phase_kernels: dict[tuple[int, bool, torch.dtype, str], torch.Tensor] = {}


def _phase_kernel(channels: int, sharp: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(4C)x1x5x5 depthwise kernels, one per output phase (row phase * 2 + column phase), as
    pixel_shuffle orders them; "-sharp" mixes SHARP_NEAREST of the source pixel into every phase."""
    key = (channels, sharp, dtype, str(device))
    if key not in _phase_kernels:
        taps = [torch.tensor(t, dtype=torch.float64) for t in (_CUBIC_EVEN, _CUBIC_ODD)]
        centre = torch.zeros(5, 5, dtype=torch.float64)
        centre[2, 2] = 1.0
        phases = []
        for r in taps:
            for c in taps:
                k = torch.outer(r, c)
                phases.append(torch.lerp(k, centre, SHARP_NEAREST) if sharp else k)
        k = torch.stack(phases)[None].expand(channels, 4, 5, 5).reshape(channels * 4, 1, 5, 5)
        _phase_kernels[key] = k.to(device, dtype).contiguous(memory_format=torch.channels_last)
    return _phase_kernels[key]


def _bicubic2x(x: torch.Tensor, sharp: bool) -> torch.Tensor:
    """torch's 2x bicubic (edges replicated, as its clamped indices), as one depthwise 5x5
    convolution giving the four phases and a pixel shuffle. Not ``interpolate``: its bicubic has
    no vectorised channels-last bfloat16 kernel and was half of universal's net time per 512 px
    video frame (140 of 295 ms CPU, 1 thread); this is 2.5-4x faster per call, equal to 5e-7 in
    float32 and within bfloat16 rounding in bfloat16."""
    c = x.shape[1]
    padded = nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    phases = nn.functional.conv2d(padded, _phase_kernel(c, sharp, x.dtype, x.device), groups=c)
    return nn.functional.pixel_shuffle(phases, 2)


def file_upsample(path, default: str = "nearest") -> str:
    """The ``upsample`` a decoder file's metadata names (``default`` when it names none)."""
    with safe_open(str(path), "pt") as fh:
        mode = (fh.metadata() or {}).get("upsample", default)
    if mode not in UPSAMPLE_MODES:
        raise WeightsError(f"{path} names an unknown upsample mode '{mode}' (known: {', '.join(UPSAMPLE_MODES)}).")
    return mode


class DistilledDecoder(nn.Module):
    """relu{level}_1 features -> RGB in [0,1]. ReLU after every conv, the last included;
    ``upsample`` must be the mode the weights were trained with."""

    def __init__(self, level: int, state: dict[str, torch.Tensor], upsample: Upsample = "nearest") -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsample mode '{upsample}'")
        self.level = level
        self.upsample = upsample
        self.order = decoder_convs(level)
        self.convs = nn.ModuleDict({n: _conv(state, n) for n in self.order if n != "up"})
        self.pad = nn.ReflectionPad2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inplace = not torch.is_grad_enabled()  # inference: fused ReLUs, as the encoder
        for name in self.order:
            if name == "up":
                x = upsample2x(x, self.upsample)
            elif inplace:
                x = conv_relu(self.convs[name], self.pad(x))
            else:
                x = torch.relu(self.convs[name](self.pad(x)))
        return x

    def state_for_saving(self) -> dict[str, torch.Tensor]:
        """Keys in the mirror's naming (conv41.weight ...), so trained decoders load the same way."""
        return {k.removeprefix("convs."): v.detach().contiguous().cpu() for k, v in self.state_dict().items()}


def load_encoder(level: int, weights_dir=None) -> DistilledEncoder:
    return DistilledEncoder(level, weights.load_state(f"distilled16x/encoder{level}", weights_dir)).eval()


def load_named_decoder(level: int, name: str, weights_dir=None) -> DistilledDecoder:
    """Decoder ``level`` from manifest entry ``name``, upsampling as its file says (a mirror
    file: as :data:`RECONSTRUCTION_UPSAMPLE` says)."""
    state = weights.load_state(name, weights_dir)
    mode = file_upsample(weights.locate(name, weights_dir), RECONSTRUCTION_UPSAMPLE[level])
    return DistilledDecoder(level, state, mode).eval()  # type: ignore[arg-type]


def load_decoder(level: int, weights_dir=None, name: str | None = None) -> DistilledDecoder:
    """The reconstruction decoder by default; ``name`` picks another manifest entry (a trained one)."""
    return load_named_decoder(level, name or f"distilled16x/decoder{level}", weights_dir)
