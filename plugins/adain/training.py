"""Training AdaIN decoders: ``brushwork train adain``.

The loss is the paper's (Huang & Belongie 2017): decode the AdaIN target t, re-encode, and
ask for (a) relu4_1 close to t (content) and (b) channel means and stds at relu1_1..relu4_1
close to the style's (style). The `fast` encoder's loss net is its own distilled aux heads
(VGG19-width features at 1/16 the cost), so a CPU can train it; `vgg16` uses VGG16.

Runs are reproducible and resumable bit-exactly: each step's batch is drawn from a generator
seeded by (seed, step), and checkpoints hold the decoder, Adam's moments and the step, so a
resumed run sees exactly the batches and optimiser state the uninterrupted run would have.
Checkpoints are safetensors (no pickle), like every other weight file in the project.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Literal, NamedTuple

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from engine.distilled import UPSAMPLE_MODES
from engine.errors import InputError
from engine.images import atomic_write, load_pil, pil_to_tensor
from engine.lattice import lattice_loss

from .model import ENCODERS, adain, load_decoder, load_encoder, mean_std

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class TrainConfig:
    content: str
    style: str
    out: str
    encoder: Literal["fast", "vgg16"] = "fast"
    steps: int = 1000
    batch: int = 4
    size: int = 256
    lr: float = 1e-4
    #: linear learning-rate warm-up: Adam's first steps move every weight by about lr, which
    #: knocks a pretrained decoder (the reconstruction start) far off before it has learnt anything
    warmup: int = 0
    content_weight: float = 1.0
    style_weight: float = 10.0
    #: weight of engine.lattice.lattice_loss: without it a style loss teaches the decoder a
    #: checkerboard (its grid figure rose from 1.29 to 1.41 in 100 bilinear fine-tuning steps);
    #: 300 puts the old decoder's lattice (loss 0.046) on a par with its style term (about 18)
    grid_weight: float = 300.0
    #: weight of colour_loss (the decoded picture's RGB distribution against the style crop's):
    #: fine-tuned into bicubic upsampling with the lattice loss alone, the decoder kept its Gram
    #: figure but lost colour (the sample's share of the palette distance closed 0.55 -> 0.40)
    colour_weight: float = 0.0
    #: weight of the Gram loss: the Gram figure (engine.metrics.style_distance) is what the paper's
    #: mean/std loss leaves loosest, and the lattice-free fine-tune lost it (mean 0.467 -> 0.425 on
    #: bench/grid.py's 11 pairs) while its colour rose
    gram_weight: float = 0.0
    #: share of each batch whose style is its own content crop: the AdaIN target is then the photo's
    #: own features and every loss asks for the photo back, which is what alpha 0 promises (a decoder
    #: trained only on stylised targets painted at alpha 0 too: relu3_3 distance to the photo 0.86-1.17
    #: at alpha 0 against 0.83-1.30 at alpha 1 on bench/grid.py's pairs)
    identity_share: float = 0.0
    #: weight of the pixel (L1) loss against the photo on those pictures: the statistics losses
    #: alone left alpha 0 painting (400 steps at a quarter of each batch moved it by 0.02)
    photo_weight: float = 0.0
    #: where the decoder starts: the reconstruction decoder4 (fast only), the shipped AdaIN-trained
    #: decoder (a fine-tune, e.g. into another upsampling), or random weights
    init: Literal["reconstruction", "trained", "random"] = "reconstruction"
    #: the decoder's 2x upsampling; nearest neighbour leaves a 2/4/8 px checkerboard (engine.distilled.upsample2x)
    upsample: Literal["nearest", "bilinear", "bicubic", "bicubic-sharp"] = "bilinear"
    seed: int = 0
    checkpoint_every: int = 100
    #: also keep the decoder at every checkpoint (out-stepNNNNNN.safetensors), to pick the best
    snapshots: bool = False
    device: str = "cpu"
    #: vgg16 without its weights: tests of the code path only
    random_encoder: bool = False
    #: the style loss's net: "encoder" = the encoder's own taps (the aux heads for fast), or VGG16
    loss_net: Literal["encoder", "vgg16"] = "encoder"


@dataclass(frozen=True)
class StepReport:
    step: int
    loss: float
    content: float
    style: float
    lattice: float = 0.0
    colour: float = 0.0
    gram: float = 0.0


def checkpoint_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".ckpt.safetensors")


# --- data -----------------------------------------------------------------------------------


def list_images(folder: str | Path) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"Training folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {root}")
    return files


class CropSampler:
    """Random square crops, deterministic per (seed, step); unreadable files are skipped with a
    warning (once each) and the next file is used instead."""

    def __init__(self, files: list[Path], size: int, what: str) -> None:
        self.files = files
        self.size = size
        self.what = what
        self.bad: set[int] = set()

    def _load(self, index: int) -> torch.Tensor:
        for k in range(len(self.files)):
            i = (index + k) % len(self.files)
            if i in self.bad:
                continue
            try:
                return pil_to_tensor(load_pil(self.files[i]))
            except InputError as exc:
                self.bad.add(i)
                warnings.warn(f"skipping unreadable {self.what} image: {exc}", stacklevel=2)
        raise InputError(f"None of the {len(self.files)} {self.what} images could be read.")

    def crop(self, index: int, gen: torch.Generator) -> torch.Tensor:
        img = self._load(index)
        h, w = img.shape[-2:]
        if min(h, w) < self.size:
            s = self.size / min(h, w)
            img = F.interpolate(img, size=(max(self.size, round(h * s)), max(self.size, round(w * s))),
                                mode="bilinear", align_corners=False, antialias=False)
            h, w = img.shape[-2:]
        y = int(torch.randint(0, h - self.size + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - self.size + 1, (1,), generator=gen))
        out = img[..., y: y + self.size, x: x + self.size]
        if torch.rand((), generator=gen) < 0.5:
            out = out.flip(-1)
        return out

    def batch(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(0, len(self.files), (n,), generator=gen).tolist()
        return torch.cat([self.crop(i, gen) for i in idx])


def step_generator(seed: int, step: int) -> torch.Generator:
    """The batch of ``step`` depends on nothing else, so resuming sees the same data."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


# --- loss -----------------------------------------------------------------------------------


def adain_losses(encoder: nn.Module, decoder: nn.Module, content: torch.Tensor, style: torch.Tensor,
                 autocast: bool = False, style_net: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(content loss, style loss) of the paper for one batch; both mean squared errors.

    ``style_net`` (default: the encoder itself) supplies the relu1_1..relu4_1 taps of the style loss."""
    losses = training_losses(encoder, decoder, content, style, autocast, style_net)
    return losses.content, losses.style


class Losses(NamedTuple):
    content: torch.Tensor
    style: torch.Tensor
    lattice: torch.Tensor
    colour: torch.Tensor
    gram: torch.Tensor
    #: mean absolute pixel difference from the photo over the first ``own`` pictures (styled by themselves)
    photo: torch.Tensor


def batch_grams(f: torch.Tensor) -> torch.Tensor:
    """BxCxHxW features -> BxCxC Gram matrices over positions (engine.losses.gram, per picture)."""
    b, c, h, w = f.shape
    x = f.float().reshape(b, c, h * w)
    return x @ x.transpose(1, 2) / (h * w)


def training_losses(encoder: nn.Module, decoder: nn.Module, content: torch.Tensor, style: torch.Tensor,
                    autocast: bool = False, style_net: nn.Module | None = None, own: int = 0) -> Losses:
    """The paper's (content, style) losses, the decoded pictures' lattice loss (engine.lattice),
    their colour loss against the style crops (:func:`colour_loss`), and a Gram loss on the same taps
    as the style loss (relative, as engine.losses.gram_loss; Johnson et al.'s feed-forward loss)."""
    dev_type = content.device.type
    style_net = style_net or encoder
    with torch.no_grad(), torch.autocast(dev_type, dtype=torch.bfloat16, enabled=autocast):
        fc = encoder(content)
        fs4 = encoder(style)
        target = adain(fc, *mean_std(fs4)).float()
        style_taps = style_net.taps(style)[1]
        style_stats = [mean_std(f) for f in style_taps]
        style_grams = [batch_grams(f) for f in style_taps]
    with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=autocast):
        image = decoder(target)
        if style_net is encoder:
            g4, g_taps = encoder.taps(image)
        else:
            g4, g_taps = encoder(image), style_net.taps(image)[1]
    lc = F.mse_loss(g4.float(), target)
    ls = content.new_zeros(())
    for f, (sm, ss) in zip(g_taps, style_stats):
        gm, gs = mean_std(f)
        ls = ls + F.mse_loss(gm, sm) + F.mse_loss(gs, ss)
    lg = content.new_zeros(())
    for f, gt in zip(g_taps, style_grams):
        lg = lg + ((batch_grams(f) - gt).pow(2).sum((1, 2)) / gt.pow(2).sum((1, 2)).clamp_min(1e-12)).mean()
    image = image.float().clamp(0, 1)
    photo = (image[:own] - content[:own].float()).abs().mean() if own else content.new_zeros(())
    return Losses(lc, ls, lattice_loss(image), colour_loss(image, style), lg / max(1, len(style_grams)), photo)


#: directions the colour loss projects RGB onto (as engine.optimise's palette term)
COLOUR_DIRECTIONS = 16


def colour_loss(image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Sliced Wasserstein distance of each picture's RGB pixels to its style crop's, relative to the
    style's spread: the measure engine.metrics.colour_distance reports, per batch item. Beyond the
    AdaIN paper, whose mean/std losses leave the palette to the decoder."""
    g = torch.Generator().manual_seed(27)
    d = torch.randn(3, COLOUR_DIRECTIONS, generator=g).to(image)
    d = d / d.norm(dim=0, keepdim=True)
    b = image.shape[0]
    ours = torch.einsum("bcn,cd->bdn", image.reshape(b, 3, -1), d).sort(-1).values
    theirs = torch.einsum("bcn,cd->bdn", style.float().reshape(b, 3, -1), d).sort(-1).values
    if theirs.shape[-1] != ours.shape[-1]:
        theirs = F.interpolate(theirs, size=ours.shape[-1], mode="linear", align_corners=True)
    spread = theirs.var(-1).mean(-1).clamp_min(1e-4)
    return ((ours - theirs).pow(2).mean((-1, -2)) / spread).mean()


# --- checkpoints ----------------------------------------------------------------------------


def decoder_state(decoder: nn.Module) -> dict[str, torch.Tensor]:
    return decoder.state_for_saving()  # type: ignore[operator]


def save_checkpoint(path: Path, decoder: nn.Module, opt: torch.optim.Adam, step: int, cfg: TrainConfig) -> None:
    tensors = {f"decoder.{k}": v for k, v in decoder_state(decoder).items()}
    names = [n for n, _ in decoder.named_parameters()]
    for i, p in enumerate(decoder.parameters()):
        st = opt.state.get(p)
        if st:
            for k, v in st.items():
                tensors[f"adam.{names[i]}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    meta = {"step": str(step), "config": json.dumps(asdict(cfg))}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def load_checkpoint(path: str | Path, decoder: nn.Module, opt: torch.optim.Adam) -> int:
    """Restore decoder and Adam state; returns the step to continue from."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"Checkpoint not found: {p}")
    try:
        from safetensors import safe_open

        with safe_open(str(p), "pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(p))
    except Exception as exc:
        raise InputError(f"Cannot read checkpoint {p}: {exc}") from exc
    if "step" not in meta:
        raise InputError(f"{p} is not a `brushwork train adain` checkpoint (no step recorded).")
    dec = {k.removeprefix("decoder."): v for k, v in tensors.items() if k.startswith("decoder.")}
    mine = decoder_state(decoder)
    if set(dec) != set(mine) or any(dec[k].shape != mine[k].shape for k in mine):
        raise InputError(f"Checkpoint {p} holds a decoder of another shape (another --encoder?).")
    with torch.no_grad():
        for name, param in decoder.named_parameters():
            param.copy_(dec[name.removeprefix("convs.")])
    for name, param in decoder.named_parameters():
        keys = {k.removeprefix(f"adam.{name}."): v for k, v in tensors.items() if k.startswith(f"adam.{name}.")}
        if keys:
            opt.state[param] = {k: v.to(param.device) if k != "step" else v.clone() for k, v in keys.items()}
    return int(meta["step"])


def save_decoder(path: Path, decoder: nn.Module, cfg: TrainConfig, step: int, command: str) -> Path:
    """The decoder's weights; ``upsample`` in the metadata is how loaders know to run it."""
    meta = {"trained_by": "Brushwork", "encoder": cfg.encoder, "step": str(step), "command": command,
            "upsample": cfg.upsample, "config": json.dumps(asdict(cfg))}
    return atomic_write(path, lambda tmp: save_file(decoder_state(decoder), str(tmp), metadata=meta))


# --- the loop -------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(cfg: TrainConfig, resume: str | None = None, command: str = "",
          progress: bool = True) -> Iterator[StepReport]:
    """Train, yielding a report per step; writes checkpoints and, at the end, ``cfg.out``."""
    if cfg.encoder not in ENCODERS:
        raise InputError(f"Unknown encoder '{cfg.encoder}'; choose one of {', '.join(ENCODERS)}.")
    if cfg.steps < 1 or cfg.batch < 1 or cfg.size < 32:
        raise InputError("steps and batch must be >= 1 and size >= 32.")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    contents = CropSampler(list_images(cfg.content), cfg.size, "content")
    styles = CropSampler(list_images(cfg.style), cfg.size, "style")
    encoder = load_encoder(cfg.encoder, random_init=cfg.random_encoder).to(device)
    init = "random" if cfg.encoder == "vgg16" and cfg.init != "trained" else cfg.init
    decoder = load_decoder(cfg.encoder, prefer=init, upsample=cfg.upsample).to(device).train()  # type: ignore[arg-type]
    style_net = None
    if cfg.loss_net == "vgg16" and cfg.encoder != "vgg16":
        style_net = load_encoder("vgg16", random_init=cfg.random_encoder).to(device)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    start = load_checkpoint(resume, decoder, opt) if resume else 0
    autocast = device.type == "cuda"
    ckpt = checkpoint_path(cfg.out)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=f"adain {cfg.encoder}", unit="step", dynamic_ncols=True)
    step = start
    for step in range(start + 1, cfg.steps + 1):
        gen = step_generator(cfg.seed, step)
        c = contents.batch(cfg.batch, gen).to(device)
        s = styles.batch(cfg.batch, gen).to(device)
        own = round(cfg.batch * cfg.identity_share)
        if own:
            s = torch.cat([c[:own], s[own:]])
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, step / cfg.warmup) if cfg.warmup else cfg.lr
        lo = training_losses(encoder, decoder, c, s, autocast, style_net, own)
        loss = (cfg.content_weight * lo.content + cfg.style_weight * lo.style + cfg.grid_weight * lo.lattice
                + cfg.colour_weight * lo.colour + cfg.gram_weight * lo.gram + cfg.photo_weight * lo.photo)
        if not math.isfinite(loss.item()):
            raise RuntimeError(f"loss became {loss.item()} at step {step}; lower --lr or --style-weight")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        report = StepReport(step, loss.item(), lo.content.item(), lo.style.item(), lo.lattice.item(), lo.colour.item(),
                            lo.gram.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{report.loss:.3f}", content=f"{report.content:.3f}", style=f"{report.style:.4f}",
                            lattice=f"{report.lattice:.4f}", colour=f"{report.colour:.3f}", gram=f"{report.gram:.3f}")
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_checkpoint(ckpt, decoder, opt, step, cfg)
            if cfg.snapshots:
                out = Path(cfg.out)
                save_decoder(out.with_name(f"{out.stem}-step{step:06d}.safetensors"), decoder, cfg, step, command)
        yield report
    if bar is not None:
        bar.close()
    save_decoder(Path(cfg.out), decoder, cfg, step, command)


# --- CLI ------------------------------------------------------------------------------------


def cmd_train_adain(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        content=args.content, style=args.style, out=args.out, encoder=args.encoder, steps=args.steps,
        batch=args.batch, size=args.size, lr=args.lr, warmup=args.warmup, content_weight=args.content_weight,
        style_weight=args.style_weight, grid_weight=args.grid_weight, colour_weight=args.colour_weight, gram_weight=args.gram_weight, identity_share=args.identity_share, photo_weight=args.photo_weight, init=args.init, upsample=args.upsample,
        seed=args.seed, checkpoint_every=args.checkpoint_every, snapshots=args.snapshots, device=args.device,
        loss_net=args.loss_net,
    )
    command = "brushwork " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    t0 = time.perf_counter()
    last = None
    for last in train(cfg, resume=args.resume, command=command):
        pass
    took = time.perf_counter() - t0
    if last is not None:
        print(f"step {last.step}: loss {last.loss:.4f} (content {last.content:.4f}, style {last.style:.5f}); "
              f"{took:.0f} s; wrote {args.out}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``brushwork train adain ...`` (the engine's CLI calls this through an entry point)."""
    p = subparsers.add_parser("train", help="train networks (AdaIN decoders)")
    sub = p.add_subparsers(dest="train_command", required=True)
    a = sub.add_parser("adain", help="train an AdaIN decoder with the paper's content + style loss")
    a.add_argument("--content", required=True, help="folder of content photos")
    a.add_argument("--style", required=True, help="folder of style paintings")
    a.add_argument("--encoder", choices=ENCODERS, default="fast")
    a.add_argument("--steps", type=int, default=1000)
    a.add_argument("--batch", type=int, default=4)
    a.add_argument("--size", type=int, default=256, help="random crop size in px")
    a.add_argument("--lr", type=float, default=1e-4)
    a.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up over this many steps")
    a.add_argument("--content-weight", type=float, default=1.0)
    a.add_argument("--style-weight", type=float, default=10.0)
    a.add_argument("--grid-weight", type=float, default=300.0,
                   help="weight of the loss against a 2/4/8 px lattice (checkerboard) in the decoded pictures")
    a.add_argument("--colour-weight", type=float, default=0.0,
                   help="the RGB distribution loss against the style crop (0: the paper's losses only)")
    a.add_argument("--gram-weight", type=float, default=0.0,
                   help="a Gram-matrix loss on the style taps beside the paper's mean/std one (0: the paper's)")
    a.add_argument("--identity-share", type=float, default=0.0,
                   help="share of each batch styled by its own photo, so alpha 0 gives the photo back")
    a.add_argument("--photo-weight", type=float, default=0.0,
                   help="L1 pixel loss against the photo on the pictures --identity-share styles by themselves")
    a.add_argument("--init", choices=("reconstruction", "trained", "random"), default="reconstruction",
                   help="start from the reconstruction decoder4 (fast), the shipped AdaIN decoder (a fine-tune) "
                        "or random weights")
    a.add_argument("--upsample", choices=UPSAMPLE_MODES, default="bilinear",
                   help="the decoder's 2x upsampling (nearest leaves a checkerboard; kept for old decoders)")
    a.add_argument("--loss-net", choices=("encoder", "vgg16"), default="encoder",
                   help="style-loss net: the encoder's own taps (fast: distilled aux heads, cheap) or VGG16")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--checkpoint-every", type=int, default=100)
    a.add_argument("--snapshots", action="store_true", help="keep the decoder at every checkpoint too")
    a.add_argument("--device", default="auto", help="auto | cpu | cuda")
    a.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a.add_argument("--out", required=True, help="decoder safetensors to write")
    a.add_argument("--resume", help="checkpoint to continue from (FILE.ckpt.safetensors)")
    a.set_defaults(func=cmd_train_adain)
