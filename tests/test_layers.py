"""Layered export (issue 30): a two-region render written as OpenRaster, layered TIFF and PSD, each
read back by a reader other than the writer (zipfile + stack.xml + Pillow, tifffile, psd-tools),
then opened by the real programs (Krita, GIMP) where they are installed (.ci/run installs them).

The stack, bottom to top: the photo, one layer per region (its mask as alpha or layer mask), the
render (opaque: the stack flattens to it), kept results hidden (TIFF: at the bottom instead).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli, params as params_mod
from engine.errors import Cancelled
from engine.export import ExportOptions, render_picture, srgb_profile
from engine.images import load_image, load_mask, resize_long_edge
from engine.job import Region, StyleJob, StyleSource
from engine.layers import KeptPicture, export_layers
from engine.regions import shaped_mask
from engine.registry import strategies
from engine.strategy import Progress, RunContext

from conftest import ROOT, sample_path

pytestmark = pytest.mark.usefixtures("one_thread")

SKY_MASK = ROOT / "tests" / "data" / "city_skyline_sky.png"
EDGE = 160
FEATHER = 6.0
TOP_FIRST = ["Kept: adain", "Render", "ground", "sky", "Photo"]


@pytest.fixture(scope="module")
def job() -> StyleJob:
    content = resize_long_edge(load_image(sample_path("content_city_skyline.jpg")), EDGE)
    sky = load_mask(SKY_MASK)
    starry = StyleSource(image=load_image(sample_path("style_vangogh_starry_night.jpg")), name="starry")
    wave = StyleSource(image=load_image(sample_path("style_hokusai_great_wave.jpg")), name="wave")
    cls = strategies.get("universal")
    return StyleJob(content=content, strategy="universal", params=params_mod.make(cls.Params, {"preview": False}),
                    regions=(Region(sky, starry, name="sky", feather=FEATHER), Region(1 - sky, wave, name="ground")),
                    device="cpu", protect_faces=False)


@pytest.fixture(scope="module")
def kept(job) -> KeptPicture:
    """A kept result at half the size (the editor keeps them at the size they were rendered)."""
    return KeptPicture("Kept: adain", torch.rand(1, 3, *(s // 2 for s in job.output_hw)))


@pytest.fixture(scope="module")
def renders(job) -> dict[int, np.ndarray]:
    """The flat render at 8 and 16 bits: what `brushwork render -o` writes."""
    return {b: render_picture(job, ExportOptions(bit_depth=b)).pixels for b in (8, 16)}


def region_alpha(job, i: int) -> np.ndarray:
    """Region i's mask as the render used it (resized and feathered at the output size), in [0, 1]."""
    r = job.regions[i]
    return shaped_mask(r.mask, job.output_hw, r.feather).numpy()


def flatten(layers: list[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Source-over of visible layers, bottom first: (HxWx3 float, HxW alpha or None)."""
    out = np.zeros_like(layers[0][0])
    for rgb, alpha in layers:
        a = np.ones(rgb.shape[:2]) if alpha is None else alpha
        out = rgb * a[..., None] + out * (1 - a[..., None])
    return out


def unit(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) / np.iinfo(a.dtype).max


def assert_stack(layers: dict, order: list[str], job, render: np.ndarray) -> None:
    """What a user would see: photo, regions with their masks, the render; flattened = the flat render."""
    h, w = job.output_hw
    photo = unit(layers["Photo"][0])
    assert photo.shape == (h, w, 3)
    expected_photo = job.content[0].permute(1, 2, 0).numpy()
    assert np.abs(photo - expected_photo).max() <= 1 / 255 + 1e-6
    for i, name in ((0, "sky"), (1, "ground")):
        mask = layers[name][1]
        assert mask is not None and mask.shape == (h, w)
        assert np.abs(unit(mask) - region_alpha(job, i)).max() <= 1 / 255 + 1e-6, name
    assert np.array_equal(layers["Render"][0], render) and layers["Render"][1] is None
    visible = [(unit(layers[n][0]), None if layers[n][1] is None else unit(layers[n][1])) for n in order
               if layers[n][2]]
    assert np.abs(flatten(visible) - unit(render)).max() <= 1 / 255 + 1e-6


def own_style_everywhere(job, i: int, bit_depth: int) -> np.ndarray:
    """Region i's style over the whole picture, rendered as a one-style job (no regions)."""
    style = job.regions[i].style
    return unit(render_picture(job.with_(regions=(), styles=(style,)), ExportOptions(bit_depth=bit_depth)).pixels)


def assert_region_paints_everywhere(layers: dict, job, render: np.ndarray, bit_depth: int) -> None:
    """A feed-forward region's layer is its style over the whole picture: outside its mask too (where an
    artist may paint the mask wider), it is the region's style, not the other region's render."""
    sky = unit(layers["sky"][0])
    outside = region_alpha(job, 0) == 0
    own = own_style_everywhere(job, 0, bit_depth)
    to_own = np.abs(sky - own)[outside].mean()
    to_render = np.abs(sky - unit(render))[outside].mean()
    assert to_own < 0.02 and to_render > 4 * to_own, (to_own, to_render)


# ---------------------------------------------------------------- read back by other readers


def read_ora(path: Path) -> tuple[list[str], dict, ET.Element, zipfile.ZipFile]:
    zf = zipfile.ZipFile(path)
    first = zf.infolist()[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
    assert zf.read("mimetype") == b"image/openraster"
    image = ET.fromstring(zf.read("stack.xml"))
    layers, order = {}, []
    for el in image.find("stack"):
        with Image.open(io.BytesIO(zf.read(el.get("src")))) as im:
            assert im.info["icc_profile"] == srgb_profile() and round(im.info["dpi"][0]) == 300
            px = png_pixels(zf.read(el.get("src")))
        alpha = px[..., 3] if px.shape[-1] == 4 else None
        layers[el.get("name")] = (px[..., :3], alpha, el.get("visibility") == "visible")
        order.append(el.get("name"))
    return order, layers, image, zf


def png_pixels(data: bytes) -> np.ndarray:
    """8- or 16-bit PNG -> HxWxC array (torchvision's decoder: Pillow drops 16-bit colour to 8)."""
    from torchvision.io import ImageReadMode, decode_png

    t = decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.UNCHANGED)
    return t.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_openraster_layers_read_back_with_zipfile(job, kept, renders, tmp_path, bit_depth):
    out = tmp_path / "picture.ora"
    report = export_layers(job, out, ExportOptions(dpi=300, bit_depth=bit_depth), kept=(kept,),
                           render=renders[bit_depth])
    assert list(report.layers) == TOP_FIRST[::-1]
    order, layers, image, zf = read_ora(out)
    assert order == TOP_FIRST  # stack.xml lists the top layer first
    assert (image.get("w"), image.get("h"), image.get("xres")) == (str(job.output_hw[1]), str(job.output_hw[0]), "300")
    assert not layers["Kept: adain"][2] and all(layers[n][2] for n in TOP_FIRST[1:])
    assert layers["Render"][0].dtype == (np.uint16 if bit_depth == 16 else np.uint8)
    assert_stack(layers, order[::-1], job, renders[bit_depth])
    assert np.array_equal(png_pixels(zf.read("mergedimage.png")), renders[bit_depth])
    with Image.open(io.BytesIO(zf.read("Thumbnails/thumbnail.png"))) as thumb:
        assert max(thumb.size) <= 256
    assert_region_paints_everywhere(layers, job, renders[bit_depth], bit_depth)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_tiff_pages_read_back_with_tifffile(job, kept, renders, tmp_path, bit_depth):
    import tifffile

    out = tmp_path / "picture.tif"
    export_layers(job, out, ExportOptions(dpi=300, bit_depth=bit_depth), kept=(kept,), render=renders[bit_depth])
    layers, order = {}, []
    with tifffile.TiffFile(out) as tif:
        for page in tif.pages:
            name = page.tags["PageName"].value
            px = page.asarray()
            assert page.tags["XResolution"].value == (300, 1) and page.tags[34675].value == srgb_profile()
            layers[name] = (px[..., :3], px[..., 3] if px.shape[-1] == 4 else None, True)
            order.append(name)
    # pages bottom first; TIFF has no hidden flag, so the kept result lies under the opaque photo
    assert order == ["Kept: adain", "Photo", "sky", "ground", "Render"]
    assert_stack(layers, order, job, renders[bit_depth])
    assert_region_paints_everywhere(layers, job, renders[bit_depth], bit_depth)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_psd_layers_read_back_with_psd_tools(job, kept, renders, tmp_path, bit_depth):
    from psd_tools import PSDImage

    out = tmp_path / "picture.psd"
    export_layers(job, out, ExportOptions(dpi=300, bit_depth=bit_depth), kept=(kept,), render=renders[bit_depth])
    psd = PSDImage.open(out)
    assert psd.depth == bit_depth and psd.size == job.output_hw[::-1]
    assert [l.name for l in psd] == TOP_FIRST[::-1]  # bottom first
    assert [l.visible for l in psd] == [True, True, True, True, False]
    res = psd.image_resources.get_data(0x03ED)
    assert round(res.horizontal / 65536) == 300 and psd.image_resources.get_data(0x040F) == srgb_profile()
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    top = np.iinfo(dtype).max
    layers = {}
    for layer in psd:
        px = np.rint(layer.numpy("color") * top).astype(dtype)  # psd-tools gives floats in [0, 1]
        assert layer.numpy("shape").min() == 1.0  # opaque pixels: only the layer mask hides them
        mask = np.rint(layer.numpy("mask")[..., 0] * top).astype(dtype) if layer.has_mask() else None
        layers[layer.name] = (px, mask, layer.visible)
    assert layers["sky"][1] is not None and layers["Render"][1] is None
    assert_stack(layers, [l.name for l in psd], job, renders[bit_depth])
    merged = np.rint(psd.numpy("color") * top).astype(dtype)
    assert np.array_equal(merged, renders[bit_depth])  # the merged picture, for readers without layers
    assert_region_paints_everywhere(layers, job, renders[bit_depth], bit_depth)


# ---------------------------------------------------------------- the command line, atomic writes


def test_cli_writes_layers_named_after_the_mask_files(job, tmp_path):
    from psd_tools import PSDImage

    h, w = job.output_hw
    content = tmp_path / "city.png"
    Image.fromarray((job.content[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).save(content)
    sky = (job.regions[0].mask.numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(sky).save(tmp_path / "clouds.png")
    Image.fromarray(255 - sky).save(tmp_path / "town.png")
    args = ["render", str(content), "--strategy", "universal", "--protect-faces", "off", "-q",
            "--region", f"{tmp_path / 'clouds.png'}={sample_path('style_vangogh_starry_night.jpg')}",
            "--region", f"{tmp_path / 'town.png'}={sample_path('style_hokusai_great_wave.jpg')}"]
    assert cli.main(args + ["--layers", str(tmp_path / "alone.psd")]) == 0
    assert [l.name for l in PSDImage.open(tmp_path / "alone.psd")] == ["Photo", "clouds", "town", "Render"]
    assert cli.main(args + ["--layers", str(tmp_path / "both.ora"), "-o", str(tmp_path / "flat.png")]) == 0
    with zipfile.ZipFile(tmp_path / "both.ora") as zf:
        merged = png_pixels(zf.read("mergedimage.png"))
    assert np.array_equal(merged, np.asarray(Image.open(tmp_path / "flat.png")))  # one render, two files
    assert cli.main(args + ["--layers", str(tmp_path / "bad.xcf")]) == 2
    assert cli.main(args) == 2  # neither -o nor --layers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.psd", "both.ora", "city.png", "clouds.png",
                                                          "flat.png", "town.png"]


@pytest.mark.parametrize("name", ["picture.ora", "picture.tif", "picture.psd"])
def test_cancel_between_layers_leaves_the_previous_file(job, renders, tmp_path, name):
    out = tmp_path / name
    out.write_bytes(b"previous layers")
    ctx = RunContext(torch.device("cpu"))

    def on_event(e) -> None:
        if isinstance(e, Progress) and e.stage.startswith("layer 3/"):
            ctx.cancel()

    with pytest.raises(Cancelled):
        export_layers(job, out, ExportOptions(), ctx, on_event, render=renders[8])
    assert out.read_bytes() == b"previous layers"
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_print_layers_read_in_strips_match_the_whole_picture(job, tmp_path, monkeypatch):
    """At print sizes masks are measured smaller and enlarged strip by strip, and every render is
    tiled: the layers still line up with the render and its masks."""
    from psd_tools import PSDImage

    from engine.layers import psd as psd_writer, stack

    monkeypatch.setattr(stack, "MASK_EDGE", 64)
    monkeypatch.setattr(psd_writer, "STRIP", 24)  # several strips even in a small picture
    options = ExportOptions(tiled=True, tile=96, overlap=16)
    report = export_layers(job, tmp_path / "print.psd", options)
    assert report.method == "tiled-feedforward"
    psd = PSDImage.open(tmp_path / "print.psd")
    layers = {l.name: l for l in psd}
    render = layers["Render"].numpy("color")
    photo = job.content[0].permute(1, 2, 0).numpy()
    assert np.abs(layers["Photo"].numpy("color") - photo).max() <= 1 / 255 + 1e-6
    sky, sky_mask = layers["sky"].numpy("color"), layers["sky"].numpy("mask")[..., 0]
    assert np.abs(sky_mask - region_alpha(job, 0)).mean() < 0.01  # enlarged from 64 px, bicubic
    inside = region_alpha(job, 0) > 0.99
    tiled_own = own_style_everywhere(job, 0, 8)
    assert np.abs(sky - tiled_own)[inside].mean() < 0.03
    assert np.abs(psd.numpy("color") - render).max() == 0


# ---------------------------------------------------------------- the real programs


def _display_runner() -> list[str]:
    """Krita needs an X display even to export: the real one, else a virtual one."""
    import os

    if os.environ.get("DISPLAY"):
        return []
    if shutil.which("xvfb-run"):
        return ["xvfb-run", "-a"]
    pytest.skip("Krita needs an X display: no DISPLAY and no xvfb-run (apt-get install xvfb xauth)")


KRITA_SCRIPT = """from krita import InfoObject, Krita


def __main__(args):
    doc = Krita.instance().openDocument(args[0])
    doc.waitForDone()
    w, h = doc.width(), doc.height()

    def walk(node, depth):
        for child in node.childNodes():  # bottom first
            name = child.name() if depth == 0 else child.parentNode().name() + "/" + child.type()
            print("node|%s|%s|%s|%d" % (name, child.type(), child.visible(), depth), flush=True)
            if child.colorDepth() == "U8":
                with open(args[1] + "/" + name.replace("/", "_") + ".raw", "wb") as f:
                    f.write(bytes(child.pixelData(0, 0, w, h)))
            walk(child, depth + 1)

    walk(doc.rootNode(), 0)
    doc.setBatchmode(True)
    doc.exportImage(args[1] + "/flat.png", InfoObject())  # what `krita FILE --export --export-filename` writes
    doc.close()
"""


@pytest.mark.parametrize("name", ["picture.ora", "picture.psd"])
def test_krita_opens_the_layers_and_flattens_them_to_the_render(job, kept, renders, tmp_path, name, program_env):
    """Krita's own scripting (kritarunner) lists the layers it opened, hands back their pixels and
    exports the flattened picture. A first start in a new home took 18-19 s here, later ones 2 s."""
    if not shutil.which("kritarunner"):
        pytest.skip("Krita is not installed (Debian: apt-get install krita; .ci/run installs it)")
    out = tmp_path / name
    export_layers(job, out, ExportOptions(dpi=300), kept=(kept,), render=renders[8])
    scripts = Path(program_env["HOME"]) / "pykrita"
    scripts.mkdir(exist_ok=True)
    (scripts / "brushwork_layers.py").write_text(KRITA_SCRIPT)
    dump = tmp_path / "dump"
    dump.mkdir()
    run = subprocess.run(_display_runner() + ["kritarunner", "-s", "brushwork_layers", "-f", "__main__", str(out),
                                              str(dump)],
                         capture_output=True, text=True, timeout=240, env=dict(program_env, PYTHONPATH=str(scripts)))
    said = [tuple(line.split("node|", 1)[1].split("|")) for line in (run.stdout + run.stderr).splitlines() if "node|" in line]
    layers = [(n, v) for n, kind, v, depth in said if depth == "0"]
    assert layers == [("Photo", "True"), ("sky", "True"), ("ground", "True"), ("Render", "True"),
                      ("Kept: adain", "False")], run.stdout[-2000:] + run.stderr[-2000:]
    h, w = job.output_hw
    if name.endswith(".ora"):  # the mask is the layer's alpha (Krita's pixels: BGRA)
        mask = np.frombuffer((dump / "sky.raw").read_bytes(), np.uint8).reshape(h, w, 4)[..., 3]
    else:  # a layer mask, which Krita opens as a transparency mask under the layer
        assert ("sky/transparencymask", "transparencymask", "True", "1") in said
        mask = np.frombuffer((dump / "sky_transparencymask.raw").read_bytes(), np.uint8).reshape(h, w)
    assert np.abs(mask / 255 - region_alpha(job, 0)).max() <= 2 / 255
    bgra = np.frombuffer((dump / "Render.raw").read_bytes(), np.uint8).reshape(h, w, 4)
    assert np.abs(bgra[..., 2::-1].astype(int) - renders[8]).max() <= 2
    seen = np.asarray(Image.open(dump / "flat.png").convert("RGB")).astype(int)
    assert seen.shape == renders[8].shape and np.abs(seen - renders[8]).max() <= 2


@pytest.fixture(scope="module")
def program_env(tmp_path_factory) -> dict:
    """A throwaway home shared by the module's runs, so the programs' settings and caches are never
    the user's, and Krita builds its resource cache once (19 s in a new home, 2 s after)."""
    import os

    home = tmp_path_factory.mktemp("home")
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env.pop("QT_QPA_PLATFORM", None)  # Krita's own Qt aborts on the tests' offscreen platform
    return env


GIMP_SCRIPT = """(let* ((img (car (gimp-file-load RUN-NONINTERACTIVE "{src}" "{src}")))
        (layers (vector->list (cadr (gimp-image-get-layers img)))))
  (for-each (lambda (l) (gimp-message (string-append "layer|" (car (gimp-item-get-name l)) "|"
                                      (number->string (car (gimp-item-get-visible l))) "|"
                                      (number->string (car (gimp-layer-get-mask l)))))) layers)
  (let ((flat (car (gimp-image-flatten img))))
    (file-png-save RUN-NONINTERACTIVE img flat "{dst}" "{dst}" 0 9 0 0 0 0 0))
  (gimp-quit 0))"""


@pytest.mark.parametrize("name, top_first", [
    ("picture.psd", [("Kept: adain", "0", False), ("Render", "1", False), ("ground", "1", True), ("sky", "1", True),
                     ("Photo", "1", False)]),
    ("picture.tif", [("Render", "1", False), ("ground", "1", False), ("sky", "1", False), ("Photo", "1", False),
                     ("Kept: adain", "1", False)]),
])
def test_gimp_opens_the_layers_and_flattens_them_to_the_render(job, kept, renders, tmp_path, name, top_first,
                                                              program_env):
    gimp = shutil.which("gimp-console") or shutil.which("gimp-console-2.10")
    if not gimp:
        pytest.skip("GIMP is not installed (Debian: apt-get install gimp; .ci/run installs it)")
    out = tmp_path / name
    export_layers(job, out, ExportOptions(dpi=300), kept=(kept,), render=renders[8])
    flat = tmp_path / "gimp.png"
    script = GIMP_SCRIPT.format(src=out, dst=flat)
    run = subprocess.run([gimp, "-i", "-n", "-d", "-f", "-b", script], capture_output=True, text=True, timeout=240,
                         env=program_env)
    said = [line.split("layer|", 1)[1].split("|") for line in (run.stdout + run.stderr).splitlines() if "layer|" in line]
    assert [(n, v, m != "-1") for n, v, m in said] == top_first, run.stdout[-2000:] + run.stderr[-2000:]
    seen = np.asarray(Image.open(flat).convert("RGB")).astype(int)
    assert np.abs(seen - renders[8]).max() <= 2


# ---------------------------------------------------------------- the editor


def test_editor_exports_layers_with_the_kept_result_hidden(bare_window, qtbot, job, tmp_path, monkeypatch):
    """File > Export layers…: the shown result is the render layer, the regions are named as in the
    Regions panel, a kept result is a hidden layer; the dialog says what the file will hold."""
    from editor.conversions import array_to_mask
    from editor.document import StyleItem
    from editor.layers_dialog import LayersDialog, ask_export_layers

    w = bare_window
    w.doc.set_content(job.content, "city.png")
    for r in job.regions:
        w.doc.add_style(StyleItem(r.style.name, image=r.style.image))
    for r in job.regions:
        region = w.regions_panel.add_region()
        w.regions_panel.rename(region, r.name.title())
        w.doc.set_mask(region, array_to_mask((r.mask.numpy() * 255 + 0.5).astype(np.uint8)))
        w.doc.set_region_attr(region, "style", r.style.name)
    for s in w.doc.styles:
        w.doc.set_style_attr(s, "active", False)
    w.strategy_panel.select("universal")
    w.strategy_panel.device.setCurrentIndex(w.strategy_panel.device.findData("cpu"))
    with qtbot.waitSignal(w.queue.finished, timeout=120_000):
        w.render()
    w.keep_result()
    with qtbot.waitSignal(w.queue.finished, timeout=120_000):
        w.render()
    shown = w.doc.result.image
    out = tmp_path / "city.ora"
    seen: list[str] = []

    def accept(dialog) -> int:
        dialog.path.setText(str(out))
        seen.append(dialog.note.text())
        dialog.grab().save(str(tmp_path / "dialog.png"))
        return 1

    monkeypatch.setattr(LayersDialog, "exec", accept)
    ask_export_layers(w)
    with qtbot.waitSignal(w.layers_exporter.finished, timeout=120_000):
        pass
    assert "Photo, Sky, Ground, Render, Kept:" in seen[0] and "(hidden)" in seen[0]
    order, layers, _, _ = read_ora(out)
    assert order[0].startswith("Kept: ") and not layers[order[0]][2]
    assert order[1:] == ["Render", "Ground", "Sky", "Photo"]
    assert np.abs(unit(layers["Render"][0]) - shown[0].permute(1, 2, 0).numpy()).max() <= 1 / 255 + 1e-6
    assert w.last_export == out
