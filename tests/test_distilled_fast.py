"""The distilled nets' inference shortcuts give what the plain torch ops give."""

import torch
import torch.nn.functional as F

from engine import distilled


def _reference(x: torch.Tensor, mode: str) -> torch.Tensor:
    near = F.interpolate(x, scale_factor=2, mode="nearest")
    smooth = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    return torch.lerp(smooth, near, distilled.SHARP_NEAREST) if mode.endswith("-sharp") else smooth


def test_bicubic_upsampling_matches_torch_interpolate_edges_included():
    torch.manual_seed(0)
    for mode in ("bicubic", "bicubic-sharp"):
        for shape in [(1, 24, 9, 16), (2, 3, 5, 7)]:
            x = torch.rand(shape)
            got = distilled.upsample2x(x, mode)
            assert got.shape == (shape[0], shape[1], 2 * shape[2], 2 * shape[3])
            assert float((got - _reference(x, mode)).abs().max()) < 1e-5, mode
        cl = x.contiguous(memory_format=torch.channels_last).to(torch.bfloat16)
        assert float((distilled.upsample2x(cl, mode).float() - _reference(cl.float(), mode)).abs().max()) < 0.02


def test_fused_conv_relu_equals_conv_then_relu():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 16, 3).requires_grad_(False)
    x = torch.randn(1, 8, 12, 20)
    assert torch.allclose(distilled.conv_relu(conv, x), torch.relu(conv(x)), atol=1e-5)
