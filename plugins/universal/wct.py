"""The whitening and colouring transform (Li et al. 2017), with numerics that never fail an artist.

Features f (C channels) of the content are whitened with their own covariance and coloured with
the style's: ``f' = Cs^1/2 Cc^-1/2 (f - mc) + ms``. The map is one CxC matrix and a bias, so it
runs as a 1x1 convolution (channels-last friendly), and alpha folds into the same matrix.

Robustness:

- covariances get a small ridge (``RIDGE`` x their mean variance) before ``eigh``;
- eigenvalues below ``EIG_FLOOR`` x the largest are dropped from the whitening (a flat or
  2-colour picture has a rank-deficient covariance; whitening those directions would blow
  numerical noise up into texture);
- where a covariance is singular outright (too few samples for its width, a flat picture, an
  ``eigh`` failure, non-finite values) the transform falls back to per-channel mean/std alignment,
  and channels that hold only rounding noise take the style's mean without being scaled up.

Precision: covariances are accumulated in float32 after centring (cheap and exact enough); the
``eigh`` runs in float64 on the CPU, whatever the run's device (bench/universal.py measures it:
at most 128x128 matrices, float64 costs about the same as float32 here and is the one that never
loses the smallest eigenvalues; on a GPU, a small ``eigh`` is slower than the copy to the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: ridge added to a covariance, relative to its mean variance
RIDGE = 1e-4
#: eigenvalues under this fraction of the largest are left out of the whitening
EIG_FLOOR = 1e-5
#: below this total variance a picture counts as flat (features are O(1) after ReLU)
FLAT = 1e-8
#: a channel whose variance is under this fraction of the features' mean square carries only
#: rounding noise (a one-colour picture measures ~1e-14, a faint gradient ~1e-3): it is not scaled
#: up, or the noise of the convolution kernels' blocking comes out as a checkerboard
NOISE_FLOOR = 1e-8
#: a covariance needs at least this many samples per channel to be trusted
SAMPLES_PER_CHANNEL = 2.0
#: precision of the eigendecompositions (see the module docstring)
EIGH_DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class Moments:
    """Mean (C), covariance (CxC) and effective sample count of some features (float32, CPU)."""

    mean: torch.Tensor
    cov: torch.Tensor
    count: float


@dataclass(frozen=True, eq=False)
class Colouring:
    """What a style contributes at one level: its mean and the matrix square root of its covariance."""

    mean: torch.Tensor
    root: torch.Tensor
    #: per-channel std, for the mean/std fallback
    std: torch.Tensor


def _cells(feat: torch.Tensor) -> torch.Tensor:
    """1xCxHxW features as (H*W) x C: a free view of channels-last features (the nets' layout),
    where ``reshape(C, -1)`` would copy them."""
    return feat[0].float().permute(1, 2, 0).reshape(-1, feat.shape[1])


def moments(feat: torch.Tensor, weight: torch.Tensor | None = None) -> Moments:
    """Moments of 1xCxHxW features, optionally weighted per cell by ``weight`` (HxW, soft masks)."""
    return masked_moments(feat, [weight])[0]


#: rows of cells per step of :func:`masked_moments`: its temporaries then stay in the CPU's cache
#: (3 masks over 1024x672 level-1 features: 66 ms in one go, 20 ms in steps of 16384)
CHUNK = 16384
#: cells a covariance is measured over at most: above it, every k-th cell counts (at 1024 px,
#: level 1 has 688k cells for a 16x16 covariance; a third of them pins it to ~0.2%, and the
#: measurement was a quarter of a live render's time)
MAX_CELLS = 1 << 18


def masked_moments(feat: torch.Tensor, weights: Sequence[torch.Tensor | None]) -> list[Moments]:
    """Moments of the same features under several weightings (None: every cell counts once).
    The features are centred once on their overall mean; each weighting's mean is taken out of
    its sums afterwards (exact, and as precise as centring on it: the offsets are small)."""
    f = _cells(feat)
    stride = -(-f.shape[0] // MAX_CELLS)
    f = f[::stride]
    rows, c = f.shape
    g = f.mean(0)
    ws = [None if w is None else w.float().reshape(-1).to(f.device)[::stride] for w in weights]
    counts = [float(rows) if w is None else float(w.sum()) for w in ws]
    s1 = [f.new_zeros(c) for _ in ws]
    s2 = [f.new_zeros(c, c) for _ in ws]
    for i in range(0, rows, CHUNK):
        d = f[i:i + CHUNK] - g
        for k, w in enumerate(ws):
            if counts[k] <= 0:
                continue
            if w is None:
                s1[k] += d.sum(0)
                s2[k].addmm_(d.T, d)
            else:
                wc = w[i:i + CHUNK]
                s1[k].addmv_(d.T, wc)
                s2[k].addmm_((d * wc[:, None]).T, d)
    scale = float(stride)  # counts in cells of the whole grid, as the tiled pass sums them
    out = []
    for a, b, n in zip(s1, s2, counts):
        if n <= 0:
            out.append(Moments(torch.zeros(c), torch.zeros(c, c), 0.0))
            continue
        shift = a / n
        cov = (b - n * torch.outer(shift, shift)) / max(n - 1.0, 1.0)
        out.append(Moments((g + shift).cpu(), cov.cpu(), n * scale))
    return out


def moments_from_sums(s1: torch.Tensor, s2: torch.Tensor, n: torch.Tensor | float) -> Moments:
    """Moments from streamed float64 sums (Σw·f, Σw·f·fᵀ, Σw), as a tiled pass gathers them."""
    count = float(n)
    if count <= 0:
        c = s1.shape[0]
        return Moments(torch.zeros(c), torch.zeros(c, c), 0.0)
    mean = s1.double() / count
    cov = (s2.double() - count * torch.outer(mean, mean)) / max(count - 1.0, 1.0)
    return Moments(mean.float(), cov.float(), count)


def feature_sums(feat: torch.Tensor, weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Σw·f, Σw·f·fᵀ and Σw of 1xCxHxW features (float64: a print adds up millions of cells)."""
    c = feat.shape[1]
    f = feat[0].double().reshape(c, -1)
    if weight is None:
        return {"s1": f.sum(1).cpu(), "s2": (f @ f.T).cpu(), "n": torch.tensor(float(f.shape[1]), dtype=torch.float64)}
    w = weight.double().reshape(1, -1).to(f.device)
    return {"s1": (f * w).sum(1).cpu(), "s2": ((f * w) @ f.T).cpu(), "n": w.sum().cpu()}


def _eigh(cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Eigenvalues and vectors of a ridge-regularised covariance, or None when it cannot be trusted.

    numpy's LAPACK, not torch's: called from a worker thread (where live and export renders run)
    torch's ``eigh`` of a 128x128 matrix took 6.4 ms against 0.8 on the main thread; numpy's
    takes 1.0 ms on either."""
    m = cov.to("cpu", EIGH_DTYPE).numpy()
    if not np.isfinite(m).all():
        return None
    m = 0.5 * (m + m.T)
    scale = float(np.diagonal(m).mean())
    if not scale > FLAT:
        return None
    m = m + RIDGE * scale * np.eye(m.shape[0], dtype=m.dtype)
    try:
        e, v = np.linalg.eigh(m)
    except np.linalg.LinAlgError:  # did not converge
        return None
    if not (np.isfinite(e).all() and np.isfinite(v).all()):
        return None
    return torch.from_numpy(e), torch.from_numpy(v)


def _flat(m: Moments) -> bool:
    """Only rounding noise in every channel: nothing to whiten."""
    var = float(torch.diagonal(m.cov).nan_to_num(0.0).clamp_min(0).mean())
    return var <= NOISE_FLOOR * (float(m.mean.nan_to_num(0.0).pow(2).mean()) + FLAT)


def _std(m: Moments) -> torch.Tensor:
    return torch.diagonal(m.cov).nan_to_num(0.0).clamp_min(0).add(1e-5).sqrt()


def _channel_gain(content: Moments, style: Colouring) -> torch.Tensor:
    """Per-channel ``style std / content std`` for the mean/std fallback; 0 on channels whose
    variance is rounding noise (or non-finite), so they take the style's mean and nothing else."""
    var = torch.diagonal(content.cov)
    energy = float(content.mean.nan_to_num(0.0).pow(2).mean()) + FLAT
    real = torch.isfinite(var) & (var > NOISE_FLOOR * energy)
    return torch.where(real, style.std / _std(content), torch.zeros_like(var))


def trusted(m: Moments) -> bool:
    """Enough samples for the covariance's width to mean something."""
    return m.count >= SAMPLES_PER_CHANNEL * m.mean.shape[0]


def colouring(m: Moments) -> Colouring:
    """A style's colouring at one level; a style with an untrustworthy covariance colours per channel."""
    std = _std(m)
    eig = _eigh(m.cov) if trusted(m) else None
    if eig is None:
        return Colouring(m.mean, torch.diag(std), std)
    e, v = eig
    root = (v * e.clamp_min(0).sqrt()) @ v.T
    return Colouring(m.mean, root.float(), std)


def whitening(m: Moments) -> torch.Tensor | None:
    """Cc^-1/2 over the directions the content really spans, or None (use the mean/std fallback)."""
    if not trusted(m) or _flat(m):
        return None
    eig = _eigh(m.cov)
    if eig is None:
        return None
    e, v = eig
    keep = e > EIG_FLOOR * e.max()
    v = v[:, keep]
    return ((v * e[keep].rsqrt()) @ v.T).float()


def blend_colourings(colourings: Sequence[Colouring], weights: Sequence[float]) -> Colouring:
    """Several styles at once, as the paper interpolates them: a weighted sum of the coloured
    features ``Σ wᵢ (Rᵢ Ŵ (f - mc) + mᵢ)``. The transform is linear in (Rᵢ, mᵢ), so summing the
    colouring matrices and means gives exactly that sum, at the cost of one style (this is not
    blending the covariances, which would make a third style)."""
    total = float(sum(weights))
    root = sum((w / total) * c.root for c, w in zip(colourings, weights))
    mean = sum((w / total) * c.mean for c, w in zip(colourings, weights))
    std = sum((w / total) * c.std for c, w in zip(colourings, weights))
    return Colouring(mean, root, std)  # type: ignore[arg-type]


def transform(content: Moments, style: Colouring, alpha: float,
              whiten: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The alpha-blended WCT as (CxC matrix A, C bias b): ``f' = A f + b``.

    ``alpha (R W (f - mc) + ms) + (1 - alpha) f``; ``whiten`` may be passed in when it is
    cached. Without a usable whitening: per-channel ``(f - mc) / sc * ss + ms`` instead.
    """
    w = whiten if whiten is not None else whitening(content)
    if w is None:
        core = torch.diag(_channel_gain(content, style))
    else:
        core = style.root @ w
    c = core.shape[0]
    a = alpha * core + (1 - alpha) * torch.eye(c)
    b = alpha * (style.mean - core @ content.mean.nan_to_num(0.0))
    return a, b


def apply(feat: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``A f + b`` over every cell of 1xCxHxW features, as a 1x1 convolution (keeps channels-last)."""
    c = a.shape[0]
    return F.conv2d(feat, a.to(feat).view(c, c, 1, 1), b.to(feat))
