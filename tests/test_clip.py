"""The CLIP strategy, end to end on the CPU with a tiny random open_clip model.

No CLIP weights can be had on these machines, so the model is a two-layer open_clip ViT written
as a ``local-dir:`` folder and loaded through open_clip's real path (config, checkpoint,
tokenizer, normalisation). Random weights cannot judge taste, so these tests check mechanics a
user relies on: the losses fall, previews arrive, masks hold, cancel stops, errors say what to do.
The default ViT-B-32 path is only asked for with an empty temporary cache and the hub offline.
"""

from __future__ import annotations

import threading

import pytest
import torch
from PIL import Image

from engine import cli
from engine.errors import Cancelled, InputError, WeightsError
from engine.images import resize, resize_long_edge
from engine.job import Region, StyleJob, StyleSource
from engine.metrics import style_distance
from engine.params import make
from engine.runner import run_job
from engine.strategy import Progress, RunContext
from plugins.clip import ClipParams
from plugins.clip import model as clip_model
from plugins.clip.losses import sample_crops, thresholded_mean
from plugins.clip.tiny import CHECKPOINT_NAME, TINY_CONFIG, write_config, write_random_model

SIZE = 64


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return write_random_model(tmp_path_factory.mktemp("tinyclip") / "model", seed=0)


def params(tiny: str, **kw) -> ClipParams:
    values = {"model": tiny, "steps": 12, "crops": 8, "crop_size": 0.4, **kw}
    return make(ClipParams, {k: str(v) for k, v in values.items()})


def run(job: StyleJob, every: int = 4) -> tuple[list[Progress], torch.Tensor]:
    events: list = []
    result = run_job(job, RunContext("cpu", preview_every=every), events.append)
    return [e for e in events if isinstance(e, Progress)], result.image


def half_mask(content: torch.Tensor, left: bool = True) -> torch.Tensor:
    h, w = content.shape[-2:]
    m = torch.zeros(h, w)
    if left:
        m[:, : w // 2] = 1
    else:
        m[:, w // 2:] = 1
    return m


def test_tiny_model_loads_through_open_clip(tiny, tmp_path):
    from open_clip.tokenizer import SimpleTokenizer
    from safetensors.torch import load_file

    clip = clip_model.get(tiny)
    assert isinstance(clip.tokenizer, SimpleTokenizer)
    assert clip.image_size == (64, 64)
    assert torch.allclose(clip.mean.flatten(), torch.tensor([0.48145466, 0.4578275, 0.40821073]))
    # The weights are the checkpoint's, not a fresh random init.
    saved = load_file(tiny.removeprefix("local-dir:") + "/" + CHECKPOINT_NAME)
    assert torch.equal(clip.net.state_dict()["visual.conv1.weight"], saved["visual.conv1.weight"])
    a, b = clip.encode_prompt("neon cyberpunk night"), clip.encode_prompt("oil painting")
    assert a.shape == (1, TINY_CONFIG["embed_dim"]) and torch.allclose(a.norm(), torch.tensor(1.0))
    assert not torch.allclose(a, b) and torch.equal(a, clip.encode_prompt("neon cyberpunk night"))
    emb = clip.encode_images(torch.rand(3, 3, 50, 90))
    assert emb.shape == (3, TINY_CONFIG["embed_dim"])
    # The same file named through checkpoint= loads the same weights into a weightless config folder.
    bare = write_config(tmp_path / "bare")
    other = clip_model.load_clip(f"local-dir:{bare}", checkpoint=tiny.removeprefix("local-dir:") + "/" + CHECKPOINT_NAME)
    assert torch.equal(other.encode_prompt("oil painting"), b)


def test_threshold_drops_patches_that_already_match():
    losses = torch.tensor([0.2, 0.9, 1.1, 0.5])
    assert thresholded_mean(losses, torch.ones(4), 0.7).item() == pytest.approx((0.9 + 1.1) / 4)
    assert thresholded_mean(losses, torch.ones(4), 0.0).item() == pytest.approx(losses.mean().item())
    # Coverage weights: a patch half outside its region counts half.
    w = torch.tensor([1.0, 0.5, 1.0, 1.0])
    assert thresholded_mean(losses, w, 0.7).item() == pytest.approx((0.45 + 1.1) / 3.5)


def test_crops_are_sampled_inside_the_mask():
    h, w = 60, 90
    mask = torch.zeros(h, w)
    mask[:, : w // 3] = 1
    crops = sample_crops(mask, (h, w), 64, 12, (16, 16), torch.Generator().manual_seed(0))
    marker = mask[None, None].expand(1, 3, h, w)
    inside = crops.apply(marker).mean(dim=(1, 2, 3))
    assert inside.mean() > 0.85 and crops.coverage.mean() > 0.85
    assert torch.allclose(inside, crops.coverage, atol=0.1)


def test_prompt_losses_fall_and_previews_arrive(tiny, content):
    job = StyleJob(content=content, strategy="clip", params=params(tiny, steps=16),
                   styles=(StyleSource(text="oil painting with thick impasto"),), size=SIZE)
    progress, image = run(job, every=4)
    assert [e.step for e in progress] == list(range(1, 17))
    previews = [e for e in progress if e.preview is not None]
    assert [e.step for e in previews] == [4, 8, 12, 16]
    assert all(e.preview.shape == image.shape and 0 <= e.preview.min() and e.preview.max() <= 1 for e in previews)
    first, last = progress[0].losses, progress[-4:]
    assert sum(e.losses["global"] for e in last) / 4 < 0.7 * first["global"]
    assert sum(e.losses["loss"] for e in last) / 4 < first["loss"]
    ref = resize(content, image.shape[-2:])
    assert (image - ref).abs().mean() > 0.02, "the picture did not change"


def test_text_region_keeps_content_outside(tiny, content):
    mask = half_mask(content, left=True)
    job = StyleJob(content=content, strategy="clip", params=params(tiny),
                   regions=(Region(mask=mask, style=StyleSource(text="neon cyberpunk night"), name="left"),), size=SIZE)
    _, image = run(job)
    ref = resize(content, image.shape[-2:])
    w = image.shape[-1]
    inside = (image - ref)[..., : w // 2 - 2].abs().mean()
    outside = (image - ref)[..., w // 2 + 2:].abs().max()
    assert inside > 0.02, f"the text region did not change ({inside:.4f})"
    assert outside < 1e-3, f"pixels outside the text region moved by up to {outside:.4f}"


def test_whole_picture_prompt_with_regions_follows_gaps(tiny, content):
    region = Region(mask=half_mask(content), style=StyleSource(text="watercolour"), name="left")
    job = StyleJob(content=content, strategy="clip", params=params(tiny, steps=6), regions=(region,),
                   styles=(StyleSource(text="neon cyberpunk night"),), size=SIZE)
    with pytest.warns(UserWarning, match="gaps='global'"):
        _, kept = run(job)
    _, styled = run(job.with_(gaps="global"))
    ref = resize(content, kept.shape[-2:])
    w = kept.shape[-1]
    assert (kept - ref)[..., w // 2 + 2:].abs().max() < 1e-3
    assert (styled - ref)[..., w // 2 + 2:].abs().mean() > 0.005, "gaps='global' left the rest of the picture as it was"


def test_text_and_image_regions_in_one_job(tiny, content, style):
    style = resize_long_edge(style, 128)  # Gram targets and metrics stay cheap on a 2-core CPU
    left, right = half_mask(content, True), half_mask(content, False)
    job = StyleJob(content=content, strategy="clip", params=params(tiny, steps=16, style_weight=200),
                   regions=(Region(mask=left, style=StyleSource(text="watercolour"), name="sky"),
                            Region(mask=right, style=StyleSource(image=style), name="ground")), size=SIZE)
    progress, image = run(job)
    assert progress[-1].losses["style"] < 0.5 * progress[0].losses["style"]
    ref = resize(content, image.shape[-2:])
    right_small = resize(right[None, None], image.shape[-2:])[0, 0]
    before = style_distance(ref, [style], mask=right_small)
    after = style_distance(image, [style], mask=right_small)
    assert after < before, f"the image region did not move towards its style ({before:.3f} -> {after:.3f})"
    w = image.shape[-1]
    assert (image - ref)[..., : w // 2 - 2].abs().mean() > 0.02, "the text region did not change"


def test_cancel_stops_the_run(tiny, content):
    cancel = threading.Event()
    seen: list[int] = []

    def on_event(e) -> None:
        if isinstance(e, Progress):
            seen.append(e.step)
            if e.step == 2:
                cancel.set()

    job = StyleJob(content=content, strategy="clip", params=params(tiny, steps=50),
                   styles=(StyleSource(text="charcoal sketch"),), size=SIZE)
    with pytest.raises(Cancelled):
        run_job(job, RunContext("cpu", cancel=cancel), on_event)
    assert seen == [1, 2]


def test_cli_renders_prompt_and_mixed_regions(tiny, content_path, style_path, content, tmp_path):
    mask_path = tmp_path / "left.png"
    Image.fromarray((half_mask(content).numpy() * 255).astype("uint8")).save(mask_path)
    right_path = tmp_path / "right.png"
    Image.fromarray((half_mask(content, left=False).numpy() * 255).astype("uint8")).save(right_path)
    common = ["--strategy", "clip", "--size", str(SIZE), "--set", f"model={tiny}", "--set", "steps=3",
              "--set", "crops=4", "-q"]
    out = tmp_path / "prompt.png"
    assert cli.main(["render", str(content_path), "--prompt", "neon cyberpunk night", "--source-prompt", "a photo of a dog",
                     *common, "-o", str(out)]) == 0
    out2 = tmp_path / "regions.png"
    assert cli.main(["render", str(content_path), "--region", f"{mask_path}=text:thick impasto",
                     "--region", f"{right_path}={style_path}", *common, "-o", str(out2)]) == 0
    for p in (out, out2):
        with Image.open(p) as im:
            assert max(im.size) == SIZE and im.mode == "RGB"


def test_missing_default_weights_say_which_file_and_where(content, tmp_path, monkeypatch, capsys, content_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    job = StyleJob(content=content, strategy="clip", params=make(ClipParams, {"cache_dir": str(tmp_path / "cache")}),
                   styles=(StyleSource(text="oil painting"),), size=SIZE)
    with pytest.raises(WeightsError) as err:
        run_job(job, RunContext("cpu"))
    msg = str(err.value)
    assert "ViT-B-32" in msg and "laion2b_s34b_b79k" in msg
    assert "open_clip_model.safetensors" in msg and "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in msg
    assert "checkpoint=" in msg and str(tmp_path / "cache") in msg
    # The CLI: exit code 2, the same message, and no output file.
    out = tmp_path / "never.png"
    rc = cli.main(["render", str(content_path), "--strategy", "clip", "--prompt", "oil painting", "--size", "64",
                   "--set", f"cache_dir={tmp_path / 'cache'}", "-q", "-o", str(out)])
    assert rc == 2 and "open_clip_model.safetensors" in capsys.readouterr().err
    assert not out.exists()


def test_bad_checkpoints_and_tags_are_named(tiny, tmp_path):
    missing = tmp_path / "nowhere" / "clip.safetensors"
    with pytest.raises(WeightsError, match="does not exist"):
        clip_model.load_clip(tiny, checkpoint=str(missing))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="corrupt"):
        clip_model.load_clip(tiny, checkpoint=str(corrupt))
    # A real model name with a checkpoint of another architecture (here the tiny one).
    with pytest.raises(WeightsError, match="made for another model"):
        clip_model.load_clip("ViT-B-32", checkpoint=tiny.removeprefix("local-dir:") + "/" + CHECKPOINT_NAME)
    empty = write_config(tmp_path / "noweights")
    with pytest.raises(WeightsError, match="holds no weights"):
        clip_model.load_clip(f"local-dir:{empty}")
    with pytest.raises(InputError, match="no pretrained tag 'nonsense'"):
        clip_model.load_clip("ViT-B-32", pretrained="nonsense")
    with pytest.raises(InputError, match="Unknown CLIP model"):
        clip_model.load_clip("ViT-Nope-1", pretrained="x")
    with pytest.raises(InputError, match="could not be built"):
        clip_model.load_clip(f"local-dir:{tmp_path / 'no-such-folder'}")


def test_hub_models_offline_say_how_to_use_a_local_folder(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError, match="local-dir:FOLDER"):
        clip_model.load_clip("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", cache_dir=str(tmp_path))


def test_empty_source_prompt_is_refused(tiny, content):
    job = StyleJob(content=content, strategy="clip", params=params(tiny, steps=1), styles=(StyleSource(text="ink"),),
                   size=SIZE, metadata={"source_prompt": "   "})
    with pytest.raises(InputError, match="source prompt is empty"):
        run_job(job, RunContext("cpu"))


def test_pyramid_canvas_moves_large_areas_faster_than_pixels(content):
    from plugins.clip.canvas import PixelCanvas, PyramidCanvas

    base = resize(content, (48, 64)) * 0.8
    target = base + torch.tensor([0.15, -0.05, 0.1]).view(1, 3, 1, 1)  # a colour cast over the whole picture
    errors = {}
    for name, canvas in (("pixels", PixelCanvas(base)), ("pyramid", PyramidCanvas(base))):
        assert torch.allclose(canvas.image(), base.clamp(0, 1))
        opt = torch.optim.Adam(canvas.parameters(), lr=0.01)
        for _ in range(5):
            opt.zero_grad()
            (canvas.image() - target).pow(2).mean().backward()
            opt.step()
            canvas.after_step()
        errors[name] = (canvas.image() - target).abs().mean().item()
    assert len(PyramidCanvas(base).levels) == 3  # 48 px short side: 48, 24, 12 (the coarsest >= 8 px)
    assert errors["pyramid"] < 0.6 * errors["pixels"], errors


def test_same_seed_same_picture(tiny, content):
    job = StyleJob(content=content, strategy="clip", params=params(tiny, steps=3),
                   styles=(StyleSource(text="pencil drawing"),), size=48, seed=7)
    _, a = run(job)
    _, b = run(job)
    _, c = run(job.with_(seed=8))
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-4


def test_text_region_print_keeps_the_full_resolution_photo_outside(tiny, content, tmp_path):
    """Through tiled refinement, the unpainted half comes from the photo itself, not from the
    upsampled working result (which would print it soft)."""
    import numpy as np

    from engine.export import ExportOptions, export

    size, working = 192, 64
    job = StyleJob(content=content, strategy="clip", params=params(tiny, steps=4, net="distilled16x"),
                   regions=(Region(mask=half_mask(content), style=StyleSource(text="neon cyberpunk night"),
                                   name="left"),), size=size)
    report = export(job, tmp_path / "print.png", ExportOptions(tile=96, overlap=24, working_size=working,
                                                               refine_steps=2))
    assert report.method == "tiled-refine" and report.tiles >= 2
    out = torch.from_numpy(np.asarray(Image.open(tmp_path / "print.png").convert("RGB")) / 255.0).permute(2, 0, 1)[None]
    h, w = out.shape[-2:]
    photo = resize(content, (h, w)).double()
    soft = resize(resize(content, (round(h * working / size), working)), (h, w)).double()
    right = (slice(None), slice(None), slice(None), slice(w // 2 + 8, None))
    crisp_err = float((out - photo)[right].abs().mean())
    print(f"outside the region: print vs photo {crisp_err:.4f}")
    assert crisp_err < 0.01, crisp_err
    assert float((soft - photo)[right].abs().mean()) > 3 * crisp_err  # the test can tell crisp from soft
    left = (slice(None), slice(None), slice(None), slice(None, w // 2 - 8))
    assert float((out - photo)[left].abs().mean()) > 0.02  # the painted half is restyled
