"""Auto-regions: k-means over deep features, colour and position.

VGG16 relu3_3 and relu4_3 say *what* a patch is (sky, foliage, brick), colour separates
things deep features call alike, and a little position keeps a region in one piece. The
clusters are decided on the relu3_3 grid, small islands are merged into their surroundings,
and the edges are snapped to the photo with a guided filter at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from engine import features
from engine.images import resize_long_edge
from engine.params import param
from engine.segmenter import Segmenter, refine_to_edges, remove_islands


@dataclass(frozen=True)
class ClustersParams:
    n: int = param(4, min=2, max=12, step=1, help="Number of regions.")
    size: int = param(320, min=128, max=1024, step=32, help="Long edge (px) at which features are computed; larger is slower but finer.")
    colour_weight: float = param(0.6, min=0.0, max=4.0, step=0.1, help="How much colour counts against deep features.")
    position_weight: float = param(0.4, min=0.0, max=4.0, step=0.1, help="How much regions prefer to stay in one place.")
    min_region: float = param(0.01, min=0.0, max=0.2, step=0.005, help="Pieces smaller than this fraction of the image are merged into their surroundings.")
    edge_radius: int = param(6, min=0, max=64, step=1, help="Edge refinement radius (px at 1024 px); 0 keeps the coarse edges.")
    seed: int = param(0, min=0, max=2**31 - 1, step=1, help="k-means seed; the same seed gives the same regions.", advanced=True)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB in [0,1] (1x3xHxW) to CIE Lab scaled to about [0,1], where distances match what we see."""
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    m = torch.tensor([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = torch.einsum("ij,bjhw->bihw", m, lin) / torch.tensor([0.9505, 1.0, 1.089]).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-6) ** (1 / 3), 7.787 * xyz + 16 / 116)
    lab = torch.cat([116 * f[:, 1:2] - 16, 500 * (f[:, 0:1] - f[:, 1:2]), 200 * (f[:, 1:2] - f[:, 2:3])], 1)
    return lab / 100.0


def _block(x: torch.Tensor, dims: int | None) -> torch.Tensor:
    """NxC features -> centred, optionally PCA-reduced, scaled to unit total variance."""
    x = x - x.mean(0, keepdim=True)
    if dims is not None and x.shape[1] > dims:
        # Exact PCA from the CxC covariance: deterministic, unlike the randomised pca_lowrank.
        _, vecs = torch.linalg.eigh(x.T @ x)
        x = x @ vecs[:, -dims:]
    return x / x.pow(2).sum(1).mean().sqrt().clamp_min(1e-8)


def kmeans(x: torch.Tensor, k: int, gen: torch.Generator, iters: int = 40) -> torch.Tensor:
    """Labels (N,) from k-means++ seeding and Lloyd iterations; deterministic for a given generator."""
    n = x.shape[0]
    centres = [x[torch.randint(n, (1,), generator=gen)].squeeze(0)]
    for _ in range(1, k):
        d = torch.cdist(x, torch.stack(centres)).min(1).values.pow(2)
        centres.append(x[torch.multinomial(d / d.sum(), 1, generator=gen)].squeeze(0))
    c = torch.stack(centres)
    labels = torch.zeros(n, dtype=torch.long)
    for _ in range(iters):
        new = torch.cdist(x, c).argmin(1)
        if torch.equal(new, labels) and _ > 0:
            break
        labels = new
        for j in range(k):
            sel = labels == j
            if sel.any():
                c[j] = x[sel].mean(0)
    return labels


class ClustersSegmenter(Segmenter):
    name = "clusters"
    title = "Auto regions (clusters)"
    description = "Splits the picture into N regions by what things are (deep features), their colour and place."
    Params = ClustersParams

    def compute(self, image: torch.Tensor, params: Any, inputs: Mapping[str, Any]) -> list[torch.Tensor]:
        p: ClustersParams = params
        h, w = image.shape[-2:]
        work = resize_long_edge(image, min(p.size, max(h, w)))
        net = features.get("vgg16", "cpu")
        with torch.no_grad():
            feats = net(work, ["relu3_3", "relu4_3"])
        gh, gw = feats["relu3_3"].shape[-2:]
        deep3 = feats["relu3_3"][0].reshape(feats["relu3_3"].shape[1], -1).T
        deep4 = F.interpolate(feats["relu4_3"], size=(gh, gw), mode="bilinear", align_corners=False)[0]
        deep4 = deep4.reshape(deep4.shape[0], -1).T
        colour = F.adaptive_avg_pool2d(rgb_to_lab(work), (gh, gw))[0].reshape(3, -1).T
        ys, xs = torch.meshgrid(torch.linspace(0, 1, gh), torch.linspace(0, 1, gw), indexing="ij")
        aspect = max(gh, gw)
        pos = torch.stack([ys * gh / aspect, xs * gw / aspect], -1).reshape(-1, 2)
        x = torch.cat([
            _block(deep3, 12),
            _block(deep4, 12),
            p.colour_weight * _block(colour, None),
            p.position_weight * _block(pos, None),
        ], 1)
        gen = torch.Generator().manual_seed(p.seed)
        labels = kmeans(x, p.n, gen).reshape(gh, gw)
        labels = remove_islands(labels, max(1, round(p.min_region * gh * gw)))
        # Stable order: regions numbered top to bottom (then left to right) by their centre.
        present = [int(k) for k in labels.unique()]
        centre = {k: (float(ys[labels == k].mean()), float(xs[labels == k].mean())) for k in present}
        order = sorted(present, key=lambda k: centre[k])
        onehot = torch.stack([(labels == k).float() for k in order])
        soft = F.interpolate(onehot[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        radius = round(p.edge_radius * max(h, w) / 1024)
        if radius > 0:
            soft = refine_to_edges(soft, image, radius)
        else:
            soft = soft / soft.sum(0, keepdim=True).clamp_min(1e-6)
        return list(soft)
