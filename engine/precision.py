"""Reduced precision for the loss network, where the hardware computes it natively.

The loss network's convolutions are nearly all of an optimisation step's cost. CPUs with AMX or
AVX512-BF16, and recent GPUs, run them in bfloat16 2-3x faster, and the pictures and figures stay
the same (bench/gatys.py, 512 px: 200 L-BFGS steps in 123 s instead of 336 s, style 0.132 vs
0.137, content 1.079 vs 1.072). Elsewhere bfloat16 is emulated and slower than float32, so "auto"
keeps float32 there. Gram matrices and losses always stay float32: they sum over every pixel.
float16 is never used: its gradients underflow without loss scaling.
"""

from __future__ import annotations

from typing import Literal

import torch

Precision = Literal["auto", "float32"]

PRECISION_HELP = ("auto: the loss network runs in bfloat16 where the CPU (AMX, AVX512-BF16) or GPU has it natively, "
                  "2-3x faster with the same look; float32: exact, for reference runs.")


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (torch's own probes; private, hence the guard)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:
        return False


def reduced_dtype(device: torch.device | str, precision: str = "auto") -> torch.dtype | None:
    """The dtype the loss network should run in, or None for float32."""
    if precision != "auto":
        return None
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and cpu_has_bf16():
        return torch.bfloat16
    return None


INSTANT_PRECISION_HELP = ("auto: the networks run in bfloat16 where the CPU has it natively (AMX, AVX512-BF16), "
                          "about 2x faster at a mean difference near 0.01, and float16 on a GPU; "
                          "float32: exact, for reference renders. Tiled prints always run float32.")


def instant_bf16(device: torch.device | str, precision: str = "auto") -> bool:
    """Whether an instant strategy's single-pass render runs its nets in bfloat16 on this CPU.

    Measured on this project's 2-core Xeon (AMX, bench/instant.py): AdaIN 0.48x float32's time
    at 512 px and 0.65x at 1024 (mean difference 0.005); universal 0.56x and 0.81x (0.013-0.019),
    where onnxruntime was slower than torch float32 whenever another process held a core. Tiles
    never do: bfloat16's rounding follows the convolution's blocking, which changes with the
    tile's size, and tiles would disagree at their seams."""
    device = torch.device(device)
    return precision == "auto" and device.type == "cpu" and reduced_dtype(device) == torch.bfloat16
