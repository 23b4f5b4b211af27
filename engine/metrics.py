"""The figures shown to users and asserted in tests and benches.

``style_distance``: mean over relu1_1..relu5_1 of the relative Gram distance to the style
(0 = same texture statistics). ``content_distance``: relative relu3_3 distance to the content
(VGG16). Both on VGG16, whatever loss network made the image, so figures compare.
``grid``: how much a picture's edges line up on a 2, 4 or 8 px lattice (a decoder's
checkerboard or blocks; 1 = no lattice). ``ssim`` and ``lpips``: the result against the photo,
structure (1 = the same) and learned perceptual distance (0 = the same; the ``lpips`` package's
VGG16 heads on the project's own VGG16 weights).
"""

from __future__ import annotations

import threading
import warnings
import weakref
from typing import Sequence

import torch
import torch.nn.functional as F

from . import features, weights
from .featurecache import LruCache
from .images import resize
from .losses import gram

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu3_3"
#: metrics are measured at most this size (long edge) to stay cheap on the CPU
METRIC_EDGE = 512


def _fitted_hw(t: torch.Tensor) -> tuple[int, int]:
    """The size :func:`_fit` gives ``t``, without resizing it."""
    h, w = t.shape[-2:]
    s = METRIC_EDGE / max(h, w)
    return (round(h * s), round(w * s)) if s < 1 else (h, w)


def _fit(t: torch.Tensor) -> torch.Tensor:
    return resize(t, _fitted_hw(t))


#: what results are measured against, per photo and painting tensor: every result of a session is
#: measured against the same ones (a multiscale run's figures took 4.1 s of its 59 on one core:
#: five VGG16 passes, two of them these). Paintings keep their Grams (2.4 MB), photos one layer.
#: Held by weak reference: the cache never keeps a 6000 px photo alive.
_references: LruCache[tuple[weakref.ref, dict[str, torch.Tensor]]] = LruCache(16)


def _reference(t: torch.Tensor, hw: tuple[int, int] | None, taps: Sequence[str], net_name: str,
               device: torch.device, grams: bool) -> dict[str, torch.Tensor]:
    """``t``'s features at ``hw`` (None: fitted to METRIC_EDGE), or their Grams, once per tensor state."""
    key = (id(t), t._version, hw, tuple(taps), net_name, str(device), grams)

    def compute() -> tuple[weakref.ref, dict[str, torch.Tensor]]:
        x = t.to(device)
        feats = features.get(net_name, device)(_fit(x) if hw is None else resize(x, hw), list(taps))
        return weakref.ref(t), {k: gram(v) for k, v in feats.items()} if grams else feats

    return _references.lookup(key, compute, lambda item: item[0]() is t)[1]


def _image_features(image: torch.Tensor, taps: Sequence[str], net_name: str) -> dict[str, torch.Tensor]:
    return features.get(net_name, image.device)(_fit(image), list(taps))


@torch.no_grad()
def style_distance(image: torch.Tensor, styles: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
                   mask: torch.Tensor | None = None, net_name: str = "vgg16",
                   feats: dict[str, torch.Tensor] | None = None) -> float:
    """Relative Gram distance of ``image`` (optionally only under ``mask``, HxW) to blended style Grams.
    ``feats``: the image's own features at STYLE_LAYERS, when the caller has them already."""
    weights = list(weights or [1.0] * len(styles))
    total = sum(weights)
    feats = feats or _image_features(image, STYLE_LAYERS, net_name)
    targets = [_reference(s, None, STYLE_LAYERS, net_name, image.device, grams=True) for s in styles]
    d = 0.0
    for l in STYLE_LAYERS:
        m = None
        if mask is not None:
            m = torch.nn.functional.interpolate(mask[None, None].float(), size=feats[l].shape[-2:], mode="bilinear")
        g = gram(feats[l], m)
        t = sum((w / total) * tg[l] for tg, w in zip(targets, weights))
        d += ((g - t).norm() / t.norm()).item()
    return d / len(STYLE_LAYERS)


@torch.no_grad()
def content_distance(image: torch.Tensor, content: torch.Tensor, net_name: str = "vgg16",
                     feats: dict[str, torch.Tensor] | None = None) -> float:
    feats = feats or _image_features(image, [CONTENT_LAYER], net_name)
    a = feats[CONTENT_LAYER]
    hw = _fitted_hw(image)  # the result's features were taken at this size; no second resize of it
    b = _reference(content, hw, [CONTENT_LAYER], net_name, image.device, grams=False)[CONTENT_LAYER]
    return ((a - b).norm() / b.norm()).item()


def figures(image: torch.Tensor, content: torch.Tensor, styles: Sequence[torch.Tensor],
            weights: Sequence[float] | None = None) -> dict[str, float]:
    """What a result's caption shows (Compare, the Job panel): distances to the style and the
    photo, SSIM and LPIPS against the photo."""
    with torch.no_grad():  # one VGG16 pass of the result serves both distances
        feats = _image_features(image, (*STYLE_LAYERS, CONTENT_LAYER) if styles else (CONTENT_LAYER,), "vgg16")
    out = {"content_distance": content_distance(image, content, feats=feats)}
    if styles:
        out["style_distance"] = style_distance(image, styles, weights, feats=feats)
    out["ssim"] = ssim(image, content)
    out["lpips"] = lpips_distance(image, content)
    return out


#: SSIM's window and constants as in Wang et al. (2004): an 11x11 Gaussian of sigma 1.5, and
#: K1 = 0.01, K2 = 0.03 for pictures in [0, 1]
SSIM_SIGMA, SSIM_RADIUS, SSIM_C1, SSIM_C2 = 1.5, 5, 0.01 ** 2, 0.03 ** 2


@torch.no_grad()
def ssim(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean structural similarity of two RGB pictures (the reference resized to the image, both
    fitted to :data:`METRIC_EDGE`), per channel then averaged; 1 = the same picture."""
    img = _fit(image.detach().float().cpu())
    ref = resize(reference.detach().float().cpu(), tuple(img.shape[-2:]))
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float32)
    g = torch.exp(-x.pow(2) / (2 * SSIM_SIGMA ** 2))
    g = (g / g.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable, valid region only (as scikit-image's crop)
        return F.conv2d(F.conv2d(t, g, groups=3), g.transpose(-1, -2), groups=3)

    mx, my = blur(img), blur(ref)
    sxx = blur(img * img) - mx * mx
    syy = blur(ref * ref) - my * my
    sxy = blur(img * ref) - mx * my
    num = (2 * mx * my + SSIM_C1) * (2 * sxy + SSIM_C2)
    den = (mx * mx + my * my + SSIM_C1) * (sxx + syy + SSIM_C2)
    return float((num / den).mean())


#: LPIPS runs at most at this long edge: its VGG16 pass over both pictures at 512 px costs about
#: a second on a 2-core CPU, at 256 px a quarter of that (and the figure moves little: LPIPS
#: averages its five layers' distances over the picture)
LPIPS_EDGE = 256
_lpips_nets: dict[str, torch.nn.Module] = {}
_lpips_lock = threading.Lock()


def lpips_net(device: torch.device | str = "cpu") -> torch.nn.Module:
    """The ``lpips`` package's VGG16 model (its learned linear heads ship in its wheel), with the
    backbone loaded from the project's own VGG16 weights (torchvision's ImageNet VGG16, the very
    tensors LPIPS was trained on) rather than downloaded; one shared instance per device."""
    key = str(device)
    with _lpips_lock:
        if key not in _lpips_nets:
            import lpips  # noqa: PLC0415 - a second's import, only when a figure is asked for

            with warnings.catch_warnings():  # torchvision's notice about lpips' `pretrained=False`
                warnings.simplefilter("ignore", UserWarning)
                net = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
            state = {k.removeprefix("features."): v for k, v in weights.load_state("vgg16").items()}
            for block in (net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5):
                block.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in block._modules})
            _lpips_nets[key] = net.eval().requires_grad_(False).to(device)
        return _lpips_nets[key]


@torch.no_grad()
def lpips_distance(image: torch.Tensor, reference: torch.Tensor, edge: int = LPIPS_EDGE) -> float:
    """LPIPS (Zhang et al. 2018, VGG16) between two RGB pictures in [0, 1], both at ``edge`` px
    (long edge; the reference resized to the image's shape); 0 = the same picture."""
    net = lpips_net(image.device)
    h, w = image.shape[-2:]
    s = min(1.0, edge / max(h, w))
    hw = (max(16, round(h * s)), max(16, round(w * s)))
    a = resize(image.detach().float(), hw)
    b = resize(reference.detach().float().to(image.device), hw)
    return float(net(a, b, normalize=True).mean())


@torch.no_grad()
def colour_distance(image: torch.Tensor, reference: torch.Tensor, projections: int = 64, quantiles: int = 256) -> float:
    """Sliced Wasserstein distance between the RGB pixel distributions of two pictures (any sizes).

    Pixels are projected on fixed random directions (seeded: figures repeat) and each projection's
    quantiles compared; 0 = the same palette in the same proportions. "Gap closed" figures divide
    (photo -> painting) minus (output -> painting) by (photo -> painting).
    """
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(3, projections, generator=g, dtype=torch.float64)
    dirs /= dirs.norm(dim=0, keepdim=True)
    q = torch.linspace(0, 1, quantiles, dtype=torch.float64)

    def profile(x: torch.Tensor) -> torch.Tensor:
        px = x[0].detach().double().cpu().reshape(3, -1).T @ dirs
        s = px.sort(0).values
        idx = (q * (s.shape[0] - 1)).round().long()
        return s[idx]

    return float((profile(image) - profile(reference)).pow(2).mean().sqrt())


#: lattice periods the grid figure looks at: a decoder that upsamples 2x three times (AdaIN's,
#: universal's level 4) leaves its pattern at 2, 4 or 8 px
GRID_PERIODS = (2, 4, 8)


def _lattice_ratio(grad: torch.Tensor, period: int) -> tuple[float, float, int, int]:
    """(on-lattice sum, off-lattice sum, their counts) of one axis' gradients (last dim), at the
    phase where the on/off ratio is largest."""
    n = grad.shape[-1]
    best = None
    for phase in range(period):
        on = grad[..., phase::period]
        s_on, n_on = float(on.sum()), on.numel()
        s_off, n_off = float(grad.sum()) - s_on, grad.numel() - n_on
        if n_on == 0 or n_off == 0:
            continue
        r = (s_on / n_on) / max(s_off / n_off, 1e-12)
        if best is None or r > best[0]:
            best = (r, s_on, s_off, n_on, n_off)
    assert best is not None, n
    return best[1], best[2], best[3], best[4]


@torch.no_grad()
def grid_by_period(image: torch.Tensor, periods: Sequence[int] = GRID_PERIODS) -> dict[int, float]:
    """The grid figure at each period: the mean absolute gradient across the rows and columns of
    a ``period`` px lattice (each axis at its own best phase) over the mean gradient everywhere
    else. Measured at the picture's own size (any resampling would smear the lattice away).
    Ten unseen photos at 512 px score 1.00-1.07; a nearest-upsampling decoder 1.2-1.7."""
    x = image.detach().float().cpu()
    grey = x[0].mean(0) if x.dim() == 4 else x.mean(0)
    gx = (grey[:, 1:] - grey[:, :-1]).abs()          # across the boundary after column i
    gy = (grey[1:, :] - grey[:-1, :]).abs().T        # across the boundary after row i, rows last
    out = {}
    for p in periods:
        sx = _lattice_ratio(gx, p)
        sy = _lattice_ratio(gy, p)
        on = (sx[0] + sy[0]) / (sx[2] + sy[2])
        off = (sx[1] + sy[1]) / (sx[3] + sy[3])
        out[p] = on / max(off, 1e-12)
    return out


def grid(image: torch.Tensor, periods: Sequence[int] = GRID_PERIODS) -> float:
    """The grid figure: the largest of :func:`grid_by_period` (1 = no lattice in the picture)."""
    return max(grid_by_period(image, periods).values())
