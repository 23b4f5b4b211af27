"""The instant nets as ONNX (issue 18): export, the onnx / onnx-int8 backends, the cache, the missing extra.

Real weights and real pictures, small sizes (192 px renders) for a shared 2-core CPU.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from engine import onnxmodels, params  # noqa: E402
from engine.cli import main  # noqa: E402
from engine.errors import InputError  # noqa: E402
from engine.images import resize_long_edge  # noqa: E402
from engine.job import StyleJob, StyleSource  # noqa: E402
from engine.registry import strategies  # noqa: E402
from engine.runner import run_job  # noqa: E402

SIZE = 192


@pytest.fixture(scope="module", autouse=True)
def onnx_cache(tmp_path_factory):
    """Exports made on first use go to a test folder, not the user cache."""
    old = os.environ.get(onnxmodels.ENV_CACHE)
    os.environ[onnxmodels.ENV_CACHE] = str(tmp_path_factory.mktemp("onnx-cache"))
    yield
    if old is None:
        os.environ.pop(onnxmodels.ENV_CACHE, None)
    else:
        os.environ[onnxmodels.ENV_CACHE] = old


def render(name: str, content, style, **values) -> torch.Tensor:
    cls = strategies.get(name)
    job = StyleJob(content=content, strategy=name, params=params.make(cls.Params, {"preview": False, **values}),
                   styles=(StyleSource(image=style),), size=SIZE)
    return run_job(job).image


def onnx_run(path, **feeds) -> torch.Tensor:
    return onnxmodels.run_session(onnxmodels.session(path), feeds)


def test_export_model_writes_checked_onnx_that_matches_torch(tmp_path, content, style, capsys):
    from plugins.adain import nets
    from engine.feedforward import decode_picture
    from plugins.adain.model import adain, mean_std, pad_to_multiple

    out = tmp_path / "adain"
    assert main(["export-model", "adain", "--format", "onnx", "-o", str(out)]) == 0
    assert "wrote 3 nets" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["strategy"] == "adain" and manifest["chain"]
    assert set(manifest["weights"]) == {"distilled16x/encoder4", "adain/decoder-fast"}
    by_name = {n["name"]: n for n in manifest["nets"]}
    assert by_name["encoder"]["pad_multiple"] == 8 and by_name["encoder"]["input_range"] == [0.0, 1.0]
    for n in manifest["nets"]:
        onnx.checker.check_model(str(out / n["file"]), full_check=True)
        assert n["float32"]["max_abs_diff"] <= 1e-3 or n["role"] == "encoder"
        assert n["float32"]["max_rel_diff"] <= 1e-4
    # against PyTorch on a real picture at a size the export never saw (dynamic height and width)
    enc, dec = nets("fast", "trained", torch.device("cpu"))
    x, hw = pad_to_multiple(resize_long_edge(content, 200))
    s, _ = pad_to_multiple(resize_long_edge(style, 136))
    with torch.no_grad():
        fc = enc(x)
        target = adain(fc, *mean_std(enc(s)))
        ref = decode_picture(dec, target, hw)
        mixed = decode_picture(dec, 0.7 * target + 0.3 * fc, hw)
    fo = onnx_run(out / "encoder.onnx", image=x)
    assert float((fo - fc).abs().max() / fc.abs().max()) <= 1e-5
    got = onnx_run(out / "decoder.onnx", features=target)[..., : hw[0], : hw[1]].clamp(0, 1)
    assert float((got - ref).abs().max()) <= 1e-3
    e2e = onnx_run(out / "adain.onnx", content=x, style=s, alpha=torch.tensor([0.7]))[..., : hw[0], : hw[1]]
    assert float((e2e - mixed).abs().max()) <= 1e-3


def test_adain_onnx_backend_renders_as_torch(content, style):
    ref = render("adain", content, style, alpha=0.8, precision="float32")
    got = render("adain", content, style, alpha=0.8, backend="onnx")
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) <= 1e-3


def test_adain_onnx_int8_within_tolerance(content, style):
    ref = render("adain", content, style, precision="float32")
    got = render("adain", content, style, backend="onnx-int8")
    mad = float((got - ref).abs().mean())
    assert 0 < mad <= 0.02  # measured 0.016 at 512 px (beagle / Starry Night)
    folder = onnxmodels.cache_root()
    (adain_dir,) = [p for p in folder.iterdir() if p.name.startswith("adain-")]
    manifest = onnxmodels.read_manifest(adain_dir)
    assert manifest["int8"] and all("int8" in n for n in manifest["nets"])
    for n in manifest["nets"]:
        onnx.checker.check_model(str(adain_dir / n["int8"]["file"]))


def test_universal_onnx_backend_renders_as_torch(content, style):
    from plugins.universal import nets

    # the nets alone: equal to 1e-3 (the whitening and palette between them stay in torch)
    ref = render("universal", content, style, palette=0.0, precision="float32")
    got = render("universal", content, style, palette=0.0, backend="onnx")
    assert float((got - ref).abs().max()) <= 1e-3
    # with the palette step: its LUT moves a few pixels by up to ~0.01, the mean stays well inside
    ref = render("universal", content, style, precision="float32")
    got = render("universal", content, style, backend="onnx")
    assert float((got - ref).abs().mean()) <= 1e-3
    folder = onnxmodels.cache_root() / "universal"
    manifest = onnxmodels.read_manifest(folder)
    assert [n["name"] for n in manifest["nets"]][:2] == ["encoder1", "decoder1"]
    assert {n["pad_multiple"] for n in manifest["nets"]} == {16}
    enc, dec = nets(5, torch.device("cpu"))
    x = resize_long_edge(content, 160)
    with torch.no_grad():
        f = enc(x)
        ref5 = dec(f).clamp(0, 1)
    onnx.checker.check_model(str(folder / "decoder5.onnx"))
    got5 = onnx_run(folder / "decoder5.onnx", features=onnx_run(folder / "encoder5.onnx", image=x)).clamp(0, 1)
    assert float((got5 - ref5).abs().max()) <= 1e-3


def test_missing_onnxruntime_is_a_clear_error(content, style, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    for name in ("adain", "universal"):
        with pytest.raises(InputError, match=r"pip install brushwork\[onnx\]"):
            render(name, content, style, backend="onnx")
    assert main(["export-model", "adain", "--format", "onnx", "-o", "unused"]) == 2
    assert "pip install brushwork[onnx]" in capsys.readouterr().err


def test_stale_cached_export_is_rebuilt(content, style):
    from plugins.adain.onnx import onnx_nets, weights

    enc, _ = onnx_nets("fast", "trained", "onnx")
    folder = enc.path.parent
    made = (folder / "manifest.json").stat().st_mtime_ns
    assert onnx_nets("fast", "trained", "onnx")[0].path.parent == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == made  # reused while the weights match
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["weights"]["distilled16x/encoder4"] = "0" * 64  # as if exported from other weights
    (folder / "manifest.json").write_text(json.dumps(manifest))
    enc2, _ = onnx_nets("fast", "trained", "onnx")
    rebuilt = onnxmodels.read_manifest(folder)
    assert rebuilt["weights"] == weights("fast", "trained")
    assert (folder / "manifest.json").stat().st_mtime_ns != made
    assert enc2.path.is_file() and enc2 is not enc  # a fresh session on the new file
    # and renders still match torch
    got = render("adain", content, style, backend="onnx")
    assert float((got - render("adain", content, style, precision="float32")).abs().max()) <= 1e-3
