"""Colour preservation: keep the content's colours while taking the style's texture."""

from __future__ import annotations

import torch

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YIQ).to(x), x)


def luminance_only(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the content's chroma (Gatys et al. 2016)."""
    s, c = rgb_to_yiq(stylised), rgb_to_yiq(content.to(stylised))
    return yiq_to_rgb(torch.cat([s[:, :1], c[:, 1:]], 1)).clamp(0, 1)


def match_histogram(source: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Give ``source`` the colour mean and covariance of ``reference`` (linear transfer)."""
    def stats(x):
        f = x.reshape(3, -1)
        mu = f.mean(1, keepdim=True)
        cov = torch.cov(f - mu) + 1e-5 * torch.eye(3, device=x.device)
        return mu, cov

    def sqrtm(m, inv=False):
        e, v = torch.linalg.eigh(m)
        e = e.clamp_min(1e-8)
        return v @ torch.diag(e.rsqrt() if inv else e.sqrt()) @ v.T

    mu_s, cov_s = stats(source[0])
    mu_r, cov_r = stats(reference[0].to(source))
    t = sqrtm(cov_r) @ sqrtm(cov_s, inv=True)
    out = t @ (source[0].reshape(3, -1) - mu_s) + mu_r
    return out.reshape_as(source).clamp(0, 1)


def preserve(mode: str, stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Apply a colour-preservation mode chosen in a strategy's params: none | luminance | histogram."""
    if mode == "luminance":
        return luminance_only(stylised, content)
    if mode == "histogram":
        return match_histogram(stylised, content)
    return stylised
