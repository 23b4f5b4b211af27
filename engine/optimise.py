"""Image optimisation against feature-space targets (Gatys et al. 2016).

Shared by every optimisation strategy: the objective takes a list of style terms, each a set
of Gram targets with an optional spatial mask, so whole-image, blended and regional styles are
one mechanism.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Generator, Literal, Mapping, Sequence

import torch
import torch.nn.functional as F

from . import features
from .colour import preserve
from .features import FeatureNet, tap_block
from .images import resize
from .losses import content_loss, gram, gram_loss, tv_loss
from .params import param
from .precision import PRECISION_HELP, Precision, reduced_dtype
from .regions import bounding_box
from .strategy import Progress, RunContext

#: layer presets per loss network: (style layers, content layer)
LAYER_PRESETS: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "vgg": {
        "classic": (("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_2"),
        "fine": (("relu1_1", "relu2_1", "relu3_1"), "relu3_3"),
        "coarse": (("relu3_1", "relu4_1", "relu5_1"), "relu4_2"),
    },
    "distilled16x": {
        "classic": (("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_1"),
        "fine": (("relu1_1", "relu2_1", "relu3_1"), "relu3_1"),
        "coarse": (("relu3_1", "relu4_1", "relu5_1"), "relu4_1"),
    },
}

#: the instant strategies a stylised start can come from (looked up in the registry, never imported)
START_STRATEGIES = ("universal", "adain")


CONTENT_LAYER_HELP = ("Layer the content term compares: preset = the layers preset's (classic: relu4_2, the "
                      "textbook's); relu3_3 also holds the edges and small shapes a stylised start has lost.")


@dataclass(frozen=True)
class OptimisationParams:
    """The parameters every optimisation strategy (gatys, multiscale, masked) shares, declared once.

    A strategy's Params lists this class *first* among its bases and its own schedule fields in a
    second base, so its form reads: schedule, then these in this order (dataclasses collect fields
    from the last base to the first); a field re-declared in the strategy's own body (a different
    default) keeps its place here.
    """

    init: Literal["stylised", "content", "noise", "style"] = param(
        "stylised", help="Starting image: stylised = the instant strategy's result (the final look at once, "
                         "refined), content = the photo, noise = the photo half-covered in noise, style = the style.")
    init_strategy: Literal["universal", "adain"] = param(
        "universal", help="Instant strategy that paints the stylised start: universal carries the palette and "
                          "strokes, adain is lighter.")
    init_alpha: float = param(1.0, min=0.0, max=1.0, step=0.05, advanced=True,
                              help="Style strength of the stylised start (the instant strategy's alpha).")
    # 3, not universal's own 5: its two deepest levels smear small features along the strokes (an
    # astronaut's eyes and mouth under The Scream), and the steps keep what the start lost. The
    # steps carry the strokes instead, with style 40 (OptimisationParams.style_weight).
    init_depth: int = param(3, min=1, max=5, step=1, advanced=True,
                            help="Levels of a universal start: 5 = the boldest, which smears small features such "
                                 "as faces; 3 keeps them and lets the optimisation paint the strokes.")
    # hold: a sliced-Wasserstein colour term toward the start's pixels. Measured (bench pair at 256 px,
    # multiscale 30/20/20 steps, colour gap closed; the start alone 0.85): free 0.79, the start's
    # colour mean + covariance as a loss 0.79, re-matched after each scale 0.78, this term 0.91.
    palette: Literal["hold", "free"] = param(
        "hold", help="With a stylised start: hold = a colour-distribution term keeps the start's palette; "
                     "free = let the optimisation move the colours (they drift back toward the photo's).")
    # 10, not 5 (issue 27): on the broad sample at content weight 2.5 (bench/sweep.py, all 30 pairs)
    # it raised the colour closed on every pair (by 0.005 median, lowest 0.793 -> 0.803) with content
    # and Gram unchanged (medians within 0.001); Gram, colour and content all met on 26 of 30 (was 25).
    palette_weight: float = param(10.0, min=0.0, max=1000.0, step=1.0, log=True, advanced=True,
                                  help="Strength of palette=hold's colour term.")
    optimizer: Literal["lbfgs", "adam"] = param("lbfgs", help="L-BFGS converges in fewer steps; Adam is steadier at large sizes.")
    lr: float = param(0.02, min=0.001, max=0.5, step=0.005, help="Adam step size (ignored by L-BFGS).", advanced=True)
    # Weights and the content layer for the stylised start, shared by the three strategies (issue
    # 14): content on relu3_3 (weight 1 then; 2.5 since issue 27, below), and style 40. From a stylised start
    # relu4_2 lets the edges and small shapes go (the content figure's relu3_3), and a heavier
    # relu4_2 weight costs Gram. multiscale at 512 px, 1 thread, beagle x Starry Night, gram /
    # colour / content, from a depth-5 start: weight 1 on relu4_2 0.897 / 0.917 / 1.154 (content
    # missed), weight 3 on relu4_2 0.864 / 0.907 / 1.056 (gram missed), weight 1 on relu3_3 0.903 /
    # 0.917 / 0.900, style 25 0.908 / 0.919 / 0.942. From the depth-3 start (init_depth), 2
    # threads, beagle / palm beach / skyline x Kandinsky / astronaut x Scream gram: style 25 - /
    # 0.920 / - / 0.906, 30: 0.905 / 0.922 / 0.874 / 0.908, 40: 0.912 / 0.925 / 0.881 / 0.911
    # (textbook 0.887 / 0.922 / 0.871 / 0.893), the content figures all within the textbook's.
    # Content 2.5, not 1 (issue 27): on the broad sample (bench/sweep_pairs.txt, bench/sweep.py,
    # multiscale at 512 px, 1 thread) the misses at weight 1 were mostly content, and the Gram
    # hardly moves with it. On the 13 pairs that have all three, content 1 / 1.5 / 2.5 pass all four
    # targets on 7 / 11 / 12; Gram minus the textbook's median +0.016 / +0.016 / +0.013; content over
    # the textbook's median 1.043 / 0.980 / 0.895 (worst tenth 1.064 / 1.030 / 0.992); colour median
    # 0.909 / 0.905 / 0.898, lowest 0.814 / 0.810 / 0.803 (it falls slowly with the weight).
    content_weight: float = param(2.5, min=0.0, max=100.0, step=0.1, help="How strongly the picture keeps its content.")
    style_weight: float = param(40.0, min=0.0, max=10000.0, step=1.0, log=True, help="How strongly the texture follows the style.")
    # 0 = the textbook's fixed weight. Over bench/sweep_pairs.txt's 30 pairs at 512 px the photo's own
    # style loss (VGG16, classic layers) runs from 0.53 to 24.9, median ~1.2 (STYLE_GAP_REFERENCE): a
    # fixed weight pulls 47x harder on one pair than another. 1 = the weight is per unit of that gap.
    style_balance: float = param(0.0, min=0.0, max=1.0, step=0.1, advanced=True,
                                 help="0 = the style weight as given; 1 = relative to how far the photo is from the "
                                      "style, so a painting close to the photo pulls as hard as one far from it.")
    tv_weight: float = param(2.0, min=0.0, max=1000.0, step=0.5, help="Smoothness; raise it to suppress noise.")
    layers: Literal["classic", "fine", "coarse"] = param("classic", help="Which layers carry style: fine = small strokes, coarse = large shapes.")
    content_layer: Literal["preset", "relu3_3", "relu4_2"] = param("relu3_3", advanced=True, help=CONTENT_LAYER_HELP)
    style_scale: float = param(1.0, min=0.1, max=4.0, step=0.05, help="Style image size relative to the output: larger = bigger strokes.")
    colour: Literal["none", "luminance", "histogram"] = param("none", help="Keep the photo's colours: luminance only, or recolour the style first.")
    net: Literal["vgg16", "distilled16x", "vgg19"] = param("vgg16", help="Loss network: vgg16 full quality, distilled16x 16x faster drafts.")
    precision: Precision = param("auto", help=PRECISION_HELP, advanced=True)


@dataclass(frozen=True)
class ScheduleParams:
    """The coarse-to-fine schedule of multiscale and masked (their first fields in the form)."""

    # From the stylised start the palette and strokes are there at once: the scales bring the
    # photo's structure back and the Gram statistics up (was 256 px, 80/60 steps from the photo).
    # multiscale at 512 px, 1 thread, gram / colour / content / s, beagle then palm beach: 256 px,
    # 20/40 steps 0.897 / 0.910 / 0.927 / 60 and 0.919 / 0.949 / 0.803 / 62; 362 px, 40/50 0.903 /
    # 0.917 / 0.900 / 65 and 0.923 / 0.953 / 0.797 / 61 (the 256 px scale did little from this start).
    start_size: int = param(362, min=64, max=2048, step=32, help="Long edge of the first (coarsest) scale in pixels.")
    scale_factor: float = param(1.414, min=1.1, max=2.0, step=0.05, help="Growth per scale; sqrt(2) is a good balance.")
    coarse_steps: int = param(40, min=1, max=2000, step=10, help="Steps at the coarsest scale, where the composition forms.")
    fine_steps: int = param(50, min=1, max=2000, step=5, help="Steps at each finer scale (detail only).")


#: the photo's style loss at which style_balance leaves the weight as given: the median over
#: bench/sweep_pairs.txt at 512 px (VGG16, classic layers, relu3_3 content), 1.18-1.65 either side
STYLE_GAP_REFERENCE = 1.2


def balanced_style_weight(objective: "StyleObjective", photo: torch.Tensor, weight: float, balance: float) -> float:
    """``weight`` scaled by (reference / the photo's own style loss) ** ``balance``: how hard the style pulls
    then depends less on how far this photo happens to be from this painting."""
    if balance <= 0 or weight <= 0 or not objective.terms:
        return weight
    with torch.no_grad():
        gap = objective.style_loss(objective.features(photo)).item()
    return weight * (STYLE_GAP_REFERENCE / max(gap, 1e-6)) ** balance


#: the content_layer choices on the distilled net, which taps only each block's first ReLU
DISTILLED_CONTENT = {"relu3_3": "relu3_1", "relu4_2": "relu4_1"}


def layers_for(net_name: str, preset: str, content_layer: str = "preset") -> tuple[tuple[str, ...], str]:
    """(style layers, content layer) of a layers preset; ``content_layer`` other than "preset"
    replaces the preset's content layer (on distilled16x: the same block's tap)."""
    distilled = net_name == "distilled16x"
    style, content = LAYER_PRESETS["distilled16x" if distilled else "vgg"][preset]
    if content_layer != "preset":
        content = DISTILLED_CONTENT[content_layer] if distilled else content_layer
    return style, content


def layers_at_scale(net: FeatureNet, style_layers: Sequence[str], content_layer: str,
                    shrink: float) -> tuple[tuple[str, ...], str]:
    """The layers a scale ``shrink`` times smaller than the output should use.

    There a feature one block shallower (per halving) sees the share of the picture that the
    output's own layer sees. Deeper style layers would impose structure larger than any the
    output's layers measure, and pull the layout away from the photo's, so a coarse scale drops
    them and takes its content term as many blocks up. (bench/gatys.py's pair at 512 px, multiscale
    80/90/90 steps, content weight 2: style 0.133 / content 1.016 with the 256 and 362 px scales
    shifted, 0.137 / 1.059 with only the 256 px one, 0.144 / 1.083 with neither.)
    """
    # whole halvings, half a halving rounding up: the sqrt(2) scale already sits nearer the next block
    shift = max(0, math.floor(math.log2(shrink) + 0.5 + 1e-9)) if shrink > 1 else 0
    if shift == 0:
        return tuple(style_layers), content_layer
    deepest = max(tap_block(l) for l in style_layers)
    kept = tuple(l for l in style_layers if tap_block(l) <= deepest - shift) or tuple(style_layers[:1])
    content_block = max(1, tap_block(content_layer) - shift)
    content = [t for t in net.taps if tap_block(t) == content_block][-1]  # that block's output
    return kept, content


@dataclass(frozen=True, eq=False)
class StyleTerm:
    """Gram targets for the style layers, applied where ``mask`` (HxW, or None = everywhere) is on."""

    grams: Mapping[str, torch.Tensor]
    mask: torch.Tensor | None = None
    weight: float = 1.0


def downsample_mask(mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Area-average a mask to a layer's resolution (so soft edges stay soft)."""
    return F.adaptive_avg_pool2d(mask[None, None].float(), hw)[0, 0] if tuple(mask.shape) != hw else mask


#: directions the palette term projects colours on (fixed: a run repeats)
PALETTE_DIRECTIONS = 32
#: the palette term sees at most about this many pixels: a larger picture is average-pooled by the
#: smallest whole factor that brings it under. Sorting 32 projections of all of a 512x342 picture's
#: pixels cost 0.92 s per evaluation on one core, against 0.55 s for the whole bfloat16 VGG16
#: objective (its steps took 2.8x as long); pooled by 2 it costs ~0.1 s. Pooled by 4 (2^14 pixels):
#: multiscale on the chow x PACS guitar pair at 512 px, one core, 51-56 s of CPU against 59-61 s, with
#: gram 0.2281 vs 0.2282, colour 0.937 vs 0.934, content 0.868 vs 0.863 (issue 27's tenth of the time).
PALETTE_PIXELS = 1 << 14


def _directions(device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(14)
    d = torch.randn(3, PALETTE_DIRECTIONS, generator=g)
    return (d / d.norm(dim=0, keepdim=True)).to(device)


@dataclass(frozen=True, eq=False)
class PaletteTarget:
    """A colour distribution to hold where ``mask`` (HxW, None = everywhere) is over half on: the
    start's pixels projected on PALETTE_DIRECTIONS directions, each sorted (its quantiles; DxN)."""

    sorted: torch.Tensor
    mask: torch.Tensor | None = None
    weight: float = 1.0


def _palette_view(image: torch.Tensor) -> torch.Tensor:
    """The picture as the palette term sees it: average-pooled to at most ~PALETTE_PIXELS pixels."""
    h, w = image.shape[-2:]
    k = math.ceil(math.sqrt(h * w / PALETTE_PIXELS))
    return F.avg_pool2d(image, k) if k > 1 else image


def _pixels(image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """3xN pixels of a 1x3xHxW picture's palette view, those where ``mask`` is over half on."""
    image = _palette_view(image)
    px = image[0].reshape(3, -1)
    if mask is None:
        return px
    return px[:, downsample_mask(mask.to(px), tuple(image.shape[-2:])).reshape(-1) > 0.5]


def _sorted_projections(px: torch.Tensor) -> torch.Tensor:
    """DxN: the 3xN pixels projected on each direction, sorted along the rows (contiguous: faster)."""
    return (_directions(px.device).T @ px).sort(1).values


def palette_targets(start: torch.Tensor, terms: Sequence[StyleTerm]) -> list[PaletteTarget]:
    """The start picture's colour distribution under each style term's mask (one per term)."""
    out = []
    with torch.no_grad():
        for t in terms:
            px = _pixels(start, t.mask)
            if px.shape[1] < 16:
                continue
            out.append(PaletteTarget(_sorted_projections(px), t.mask, t.weight))
    return out


def palette_loss(image: torch.Tensor, targets: Sequence[PaletteTarget]) -> torch.Tensor:
    """Sliced Wasserstein distance of the picture's colours to each target's (as engine.metrics'
    colour_distance measures it), relative to the target's spread, averaged by weight."""
    loss = image.new_zeros(())
    total = sum(t.weight for t in targets) or 1.0
    for t in targets:
        proj = _sorted_projections(_pixels(image, t.mask))
        ref = t.sorted
        if ref.shape[1] != proj.shape[1]:  # another size: the target's quantiles at this many pixels
            ref = F.interpolate(ref[None], size=proj.shape[1], mode="linear", align_corners=True)[0]
        spread = ref.var(1).mean().clamp_min(1e-4)
        loss = loss + (t.weight / total) * (proj - ref).pow(2).mean() / spread
    return loss


class StyleObjective:
    """content + style + total-variation (+ palette) loss for one image size."""

    def __init__(
        self,
        net: FeatureNet,
        content: torch.Tensor,
        terms: Sequence[StyleTerm],
        style_layers: Sequence[str],
        content_layer: str,
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
        content_mask: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
        palette: Sequence[PaletteTarget] = (),
        palette_weight: float = 0.0,
        temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
        temporal_weight: float = 0.0,
    ) -> None:
        self.net = net
        self.dtype = dtype  # the loss network's reduced precision (engine.precision), None = float32
        self.style_layers = list(style_layers)
        self.content_layer = content_layer
        self.taps = list(dict.fromkeys(self.style_layers + [content_layer]))
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        with torch.no_grad():  # in the same precision as the picture's features: no offset at the start
            self.content_target = self.features(content, [content_layer])[content_layer]
        self.terms = list(terms)
        self.content_mask = content_mask
        self.palette, self.palette_weight = list(palette), palette_weight
        #: (the previous frame's output warped here, 1x1xHxW weight where the flow holds)
        self.temporal, self.temporal_weight = temporal, temporal_weight
        self._masks: dict[tuple[int, str], tuple[tuple[slice, slice], torch.Tensor]] = {}

    def _mask(self, i: int, layer: str, hw: tuple[int, int]) -> tuple[tuple[slice, slice], torch.Tensor] | None:
        """Term ``i``'s mask at ``layer`` as (its bounding box, its weights there): cells of weight 0
        add nothing to a masked Gram, so a region's Gram is taken over its box only."""
        m = self.terms[i].mask
        if m is None:
            return None
        key = (i, layer)
        if key not in self._masks:
            small = downsample_mask(m, hw)
            box = bounding_box(small) or (slice(0, 1), slice(0, 1))  # an empty mask: one cell of weight 0
            self._masks[key] = (box, small[box])
        return self._masks[key]

    def features(self, image: torch.Tensor, taps: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        taps = self.taps if taps is None else taps
        if self.dtype is None:
            return self.net(image, taps)
        # channels-last is the layout oneDNN's bfloat16 convolutions are fast in (0.62 s vs 0.97 s
        # for a 512 px VGG16 step on 2 cores); the losses take float32 features
        with torch.autocast(image.device.type, dtype=self.dtype):
            feats = self.net(image.contiguous(memory_format=torch.channels_last), taps)
        return {k: v.float() for k, v in feats.items()}

    def style_loss(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The style terms' Gram loss, each layer and term weighted as the objective weighs them."""
        s = next(iter(feats.values())).new_zeros(())
        total_w = sum(t.weight for t in self.terms) or 1.0
        for i, term in enumerate(self.terms):
            for layer in self.style_layers:
                f = feats[layer]
                box, m = self._mask(i, layer, tuple(f.shape[-2:])) or (None, None)
                s = s + (term.weight / total_w) * gram_loss(gram(f, m, box), term.grams[layer]) / len(self.style_layers)
        return s

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        feats = self.features(image)
        c = content_loss(feats[self.content_layer], self.content_target)
        s = self.style_loss(feats)
        tv = tv_loss(image)
        loss = self.content_weight * c + self.style_weight * s + self.tv_weight * tv
        figures = {"content": c.item(), "style": s.item(), "tv": tv.item()}
        if self.palette and self.palette_weight > 0:
            pal = palette_loss(image, self.palette)
            loss = loss + self.palette_weight * pal
            figures["palette"] = pal.item()
        if self.temporal is not None and self.temporal_weight > 0:
            target, weight = self.temporal
            tmp = (weight * (image - target) ** 2).mean()
            loss = loss + self.temporal_weight * tmp
            figures["temporal"] = tmp.item()
        return loss, {"loss": loss.item(), **figures}


class CachedEvaluation:
    """The objective as an optimiser closure that never evaluates the same picture twice.

    With one L-BFGS iteration per step (so cancellation and previews happen between steps),
    each step starts by evaluating the point the previous step's line search ended on:
    without this cache that doubles the cost of every step.
    """

    def __init__(self, objective: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, float]]],
                 x: torch.Tensor) -> None:
        self.objective, self.x = objective, x
        self.figures: dict[str, float] = {}
        self._at: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self._grad: torch.Tensor | None = None

    def closure(self) -> torch.Tensor:
        x = self.x
        if self._at is not None and torch.equal(self._at, x.detach()):
            assert self._loss is not None and self._grad is not None
            x.grad = self._grad.clone()
            return self._loss
        x.grad = None
        loss, self.figures = self.objective(x)
        loss.backward()
        self._at, self._loss, self._grad = x.detach().clone(), loss.detach(), x.grad.detach().clone()
        return loss


def optimise(
    image: torch.Tensor,
    objective: StyleObjective,
    ctx: RunContext,
    steps: int,
    optimizer: str = "lbfgs",
    lr: float = 0.02,
    step_offset: int = 0,
    total_steps: int | None = None,
    stage: str = "",
) -> Generator[Progress, None, torch.Tensor]:
    """Optimise ``image`` for ``steps`` steps, yielding Progress; returns the final image.

    One optimiser step per loop so cancellation and previews happen between steps.
    """
    total = total_steps or steps
    # contiguous: L-BFGS flattens the gradient with .view(), which a cropped or permuted start
    # (an export tile) would refuse
    x = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    lbfgs = optimizer == "lbfgs"

    def make_opt() -> torch.optim.Optimizer:
        if lbfgs:
            return torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50, line_search_fn="strong_wolfe")
        return torch.optim.Adam([x], lr=lr)

    opt = make_opt()
    evaluation = CachedEvaluation(objective, x)

    for i in range(1, steps + 1):
        ctx.check()
        if lbfgs:
            before = x.detach().clone()
            opt.step(evaluation.closure)
            if torch.equal(before, x.detach()):
                # L-BFGS stalls for good when its line search finds no descent along its direction
                # (the history no longer fits this point); forgetting the history restarts it
                opt = make_opt()
        else:
            opt.step(evaluation.closure)
            with torch.no_grad():
                x.clamp_(0, 1)
        step = step_offset + i
        last = i == steps  # every stage ends with a preview (each scale of a multi-scale run)
        preview = x.detach().clamp(0, 1).cpu() if last or ctx.wants_preview(step, total) else None
        yield Progress(step=step, total=total, stage=stage, preview=preview, losses=dict(evaluation.figures))
    return x.detach().clamp(0, 1)


def scale_schedule(target_hw: tuple[int, int], start: int = 256, factor: float = 2 ** 0.5) -> list[tuple[int, int]]:
    """Sizes from ``start`` px (long edge) up to the target, growing by ``factor``; the last is the target.

    Coarse scales settle the large structures cheaply; finer scales only add detail.
    """
    h, w = target_hw
    long_edge = max(h, w)
    edges: list[int] = []
    e = float(min(start, long_edge))
    while round(e) < long_edge:
        edges.append(round(e))
        e *= factor
    if edges and long_edge / edges[-1] < 1 + (factor - 1) / 3:
        edges.pop()  # a last step smaller than a third of the factor costs a scale and adds nothing
    edges.append(long_edge)
    return [(max(1, round(h * s / long_edge)), max(1, round(w * s / long_edge))) for s in edges]


def initial_image(init: str, content: torch.Tensor, style: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    """The starting picture: the photo, the photo half-covered in seeded noise, or the style.

    (``stylised`` is :func:`instant_start`'s, made before the loss network loads.)"""
    if init == "noise":
        noise = torch.rand(content.shape, generator=generator).to(content)
        return (0.5 * content + 0.5 * noise).clamp(0, 1)
    if init == "style" and style is not None:
        return resize(style, tuple(content.shape[-2:])).to(content)
    return content.clone()


def instant_start(job: Any, p: Any, hw: tuple[int, int], device: torch.device) -> torch.Tensor:
    """The stylised start: the instant strategy ``p.init_strategy``'s render of the same job at ``hw``
    (same styles, weights, regions and gaps; 1x3xHxW CPU float in [0, 1]).

    The instant strategy comes from the registry (a plugin never imports another). ``colour``
    carries over: luminance is asked of it, histogram recolours the styles it sees with the photo's
    colours first, as the optimisation's own targets are.
    """
    from . import params as params_mod
    from .colour import match_histogram
    from .registry import strategies

    cls = strategies.get(p.init_strategy)
    names = {f.name for f in params_mod.specs(cls.Params)}
    values = {"alpha": p.init_alpha, "depth": p.init_depth, "style_scale": p.style_scale, "preview": False,
              "measure": False, "colour": "luminance" if p.colour == "luminance" else "none"}
    start_job = job
    if p.colour == "histogram":
        photo = resize(job.content, hw)

        def recolour(source):
            return source if source.image is None else replace(source, image=match_histogram(source.image, photo))

        start_job = job.with_(styles=tuple(recolour(s) for s in job.styles),
                              regions=tuple(replace(r, style=recolour(r.style)) for r in job.regions))
    sp = params_mod.make(cls.Params, {k: v for k, v in values.items() if k in names})
    with torch.no_grad():
        return cls().render(start_job.with_(strategy=cls.name, params=sp), sp, hw, device).float().clamp(0, 1).cpu()


#: the style terms at one size: (net, style layers, size, content at that size) -> terms
TermsAt = Callable[[FeatureNet, Sequence[str], tuple[int, int], torch.Tensor], list[StyleTerm]]


def stage_name(i: int, sizes: Sequence[tuple[int, int]], warm: bool) -> str:
    """What the job panel shows while scale ``i`` runs."""
    h, w = sizes[i]
    if len(sizes) == 1:
        return f"refining {w}x{h}" if warm else f"{w}x{h}"
    name = f"scale {i + 1}/{len(sizes)} ({w}x{h})"
    return name + (", refining" if warm and i == len(sizes) - 1 else "")


def coarse_to_fine(
    job: Any, ctx: RunContext, p: Any, sizes: Sequence[tuple[int, int]], steps: Sequence[int], terms_at: TermsAt,
) -> Generator[Progress, None, torch.Tensor]:
    """Optimise at each size in turn, each warm-started from the previous one's result.

    Shared by every optimisation strategy (one size is plain Gatys). ``p`` is the strategy's
    params, an :class:`OptimisationParams`. With ``init="stylised"`` the first size starts from the
    instant strategy's render at the last size, shrunk (sent as the first preview, step 0, before
    the loss network loads);
    ``palette="hold"`` then keeps that start's colour distribution under each style term's mask.
    Returns the final image on the CPU, with the photo's luminance kept when ``p.colour`` asks for it.
    """
    dev = ctx.device
    warm = p.init == "stylised"
    prev = job.previous
    if prev is not None:  # a video frame after the first: the last size only, from the previous output
        sizes, steps = [sizes[-1]], [prev.steps]
    total, done = sum(steps), 0
    start: torch.Tensor | None = None
    if warm:
        ctx.check()
        # rendered at the output size and shrunk for the coarser scales (it was rendered at the
        # first): its upsampled render was a blurred start for the last one. 512 px, the start alone
        # at 256 then upsampled / at 512: beagle gram closed 0.36 / 0.54; after multiscale 20/15/15
        # steps (content weight 1 on relu3_3) content 1.185 / 1.130 at gram 0.848 / 0.849; palm
        # beach 20/40/40: gram 0.916 / 0.919, content 0.866 / 0.803
        start = instant_start(job, p, sizes[-1], dev)
        yield Progress(step=0, total=total, stage=f"instant start ({p.init_strategy})", preview=start)
    temporal = None
    if prev is not None:
        hw = sizes[0]
        weight = resize(prev.weight[None, None].float(), hw).clamp(0, 1).to(dev)
        linked = resize(prev.image, hw).to(dev)
        fresh = start.to(dev) if start is not None else resize(job.content, hw).to(dev)
        start = weight * linked + (1 - weight) * fresh  # where the flow fails: this frame's own start
        temporal = (linked, weight)
    net = features.get(p.net, dev)
    dtype = reduced_dtype(dev, p.precision)
    style_layers, content_layer = layers_for(p.net, p.layers, p.content_layer)
    gen = torch.Generator().manual_seed(job.seed)
    styles = job.image_styles()
    first_style = styles[0].image if styles else None
    image: torch.Tensor | None = None
    for i, (hw, n) in enumerate(zip(sizes, steps)):
        ctx.check()
        content = resize(job.content, hw).to(dev)
        layers, content_at = layers_at_scale(net, style_layers, content_layer, max(sizes[-1]) / max(hw))
        terms = terms_at(net, layers, hw, content)
        palette = palette_targets(resize(start, hw).to(dev), terms) if warm and p.palette == "hold" else []
        objective = StyleObjective(net, content, terms, layers, content_at,
                                   p.content_weight, p.style_weight if terms else 0.0, p.tv_weight, dtype=dtype,
                                   palette=palette, palette_weight=p.palette_weight, temporal=temporal,
                                   temporal_weight=prev.temporal_weight if prev is not None else 0.0)
        objective.style_weight = balanced_style_weight(objective, content, objective.style_weight,
                                                       getattr(p, "style_balance", 0.0))
        if image is not None:
            x0 = resize(image, hw)
        elif start is not None:
            x0 = resize(start, hw).to(dev)
        else:
            x0 = initial_image(p.init, content, first_style, gen)
        stage = f"from the previous frame ({hw[1]}x{hw[0]})" if prev is not None else stage_name(i, sizes, warm)
        image = yield from optimise(x0, objective, ctx, n, p.optimizer, p.lr, done, total, stage)
        done += n
    assert image is not None, "coarse_to_fine needs at least one size"
    return preserve(p.colour if p.colour == "luminance" else "none", image, content).cpu()
