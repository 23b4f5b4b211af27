"""`brushwork train adain` on a few real training images: the loss falls, checkpoints resume
bit-exactly, broken files are skipped, and the vgg16 path runs (random init, tiny)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine import cli
from engine.distilled import DistilledDecoder
from engine.errors import InputError
from plugins.adain.model import VGG16Decoder, load_decoder, load_encoder
from plugins.adain.training import (
    CropSampler,
    TrainConfig,
    adain_losses,
    checkpoint_path,
    colour_loss,
    list_images,
    step_generator,
    train,
)

TRAIN = Path(__file__).resolve().parent.parent.parent / "shared" / "images" / "train"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """Four content photos and four paintings from the training set, plus one corrupt file."""
    if not (TRAIN / "content").is_dir():
        pytest.skip("training images not found")
    root = tmp_path_factory.mktemp("adain-data")
    for kind in ("content", "style"):
        (root / kind).mkdir()
        for p in sorted((TRAIN / kind).glob("*.jpg"))[:4]:
            shutil.copy(p, root / kind / p.name)
    (root / "content" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return root / "content", root / "style"


def config(data, out: Path, steps: int, **kw) -> TrainConfig:
    base = dict(content=str(data[0]), style=str(data[1]), out=str(out), steps=steps, batch=2, size=64,
                lr=1e-5, style_weight=10.0, checkpoint_every=3, seed=7)
    base.update(kw)
    return TrainConfig(**base)


def fixed_batch_loss(data, decoder: torch.nn.Module) -> float:
    """The loss on one fixed batch, so before/after compare like with like."""
    enc = load_encoder("fast")
    gen = step_generator(123, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = CropSampler(list_images(data[0]), 64, "content").batch(4, gen)
        s = CropSampler(list_images(data[1]), 64, "style").batch(4, gen)
    with torch.no_grad():
        lc, ls = adain_losses(enc, decoder, c, s)
    return (lc + 10.0 * ls).item()


def test_five_steps_lower_the_loss_and_resume_bit_exactly(data, tmp_path):
    full = tmp_path / "full.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reports = list(train(config(data, full, 5), progress=False))
    assert [r.step for r in reports] == [1, 2, 3, 4, 5]
    before = fixed_batch_loss(data, load_decoder("fast", prefer="reconstruction"))
    after = fixed_batch_loss(data, DistilledDecoder(4, load_file(str(full))).eval())
    assert after < before, (before, after)

    # the same run interrupted after step 3 (through the CLI), then resumed to 5
    part = tmp_path / "part.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = cli.main(["train", "adain", "--content", str(data[0]), "--style", str(data[1]), "--steps", "3",
                       "--batch", "2", "--size", "64", "--lr", "1e-5", "--style-weight", "10", "--seed", "7",
                       "--checkpoint-every", "3", "--device", "cpu", "--out", str(part)])
        assert rc == 0
        ckpt = checkpoint_path(part)
        assert ckpt.is_file()
        resumed = tmp_path / "resumed.safetensors"
        rest = list(train(config(data, resumed, 5), resume=str(ckpt), progress=False))
    assert [r.step for r in rest] == [4, 5]
    assert [r.loss for r in rest] == [r.loss for r in reports[3:]]
    a, b = load_file(str(full)), load_file(str(resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_colour_loss_measures_how_far_the_palette_is(data):
    """0 for the style's own pixels in any order; a tinted copy is further than a blurred one, a photo
    further still; and its gradient moves colours toward the style's."""
    gen = step_generator(5, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        photo = CropSampler(list_images(data[0]), 64, "content").batch(2, gen)
        style = CropSampler(list_images(data[1]), 64, "style").batch(2, gen)
    shuffled = style.flatten(2)[..., torch.randperm(64 * 64)].view_as(style)
    assert colour_loss(shuffled, style).item() < 1e-6
    blurred = torch.nn.functional.avg_pool2d(style, 3, 1, 1, count_include_pad=False)
    tinted = (style * torch.tensor([1.0, 0.6, 0.6]).view(1, 3, 1, 1))
    assert colour_loss(blurred, style) < colour_loss(tinted, style)
    assert colour_loss(photo, style) > 5 * colour_loss(blurred, style)
    x = photo.clone().requires_grad_(True)
    colour_loss(x, style).backward()
    moved = (photo - 0.5 * x.grad).clamp(0, 1)
    assert colour_loss(moved, style) < colour_loss(photo, style)


def test_corrupt_files_are_skipped_with_a_warning(data):
    files = list_images(data[0])
    broken = files.index(data[0] / "broken.jpg")
    sampler = CropSampler(files, 64, "content")
    with pytest.warns(UserWarning, match="broken.jpg"):
        crop = sampler.crop(broken, torch.Generator().manual_seed(0))
    assert crop.shape == (1, 3, 64, 64)
    assert sampler.bad == {broken}


def test_vgg16_decoder_code_path(data, tmp_path):
    """No GPU here to train it for real: a random-init VGG16 encoder and decoder, two tiny steps."""
    out = tmp_path / "vgg16.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reports = list(train(config(data, out, 2, encoder="vgg16", random_encoder=True, size=32, batch=1,
                                    lr=1e-4), progress=False))
    assert len(reports) == 2 and all(torch.isfinite(torch.tensor(r.loss)) for r in reports)
    dec = VGG16Decoder(load_file(str(out)))
    img = dec(torch.rand(1, 512, 4, 6))
    assert img.shape == (1, 3, 32, 48)


def test_bad_inputs_are_clear(data, tmp_path):
    with pytest.raises(InputError, match="No images"):
        list(train(config((tmp_path, data[1]), tmp_path / "x.safetensors", 1), progress=False))
    bogus = tmp_path / "bogus.ckpt.safetensors"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="Cannot read checkpoint"):
        list(train(config(data, tmp_path / "y.safetensors", 2), resume=str(bogus), progress=False))
    assert not (tmp_path / "y.safetensors").exists()
