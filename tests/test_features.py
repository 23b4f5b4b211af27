"""Feature nets: the taps asked for, nothing past the last one, each net's own normalisation."""

from __future__ import annotations

import torch

from engine import features
from engine.distilled import DistilledDecoder, DistilledEncoder, load_decoder, load_encoder


def test_vgg16_gives_named_taps_with_vgg_shapes():
    net = features.get("vgg16")
    out = net(torch.rand(1, 3, 64, 64), ["relu1_1", "relu3_3", "relu5_1"])
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {
        "relu1_1": (64, 64, 64), "relu3_3": (256, 16, 16), "relu5_1": (512, 4, 4)}


def test_vgg16_stops_at_the_last_tap():
    net = features.get("vgg16")
    called = []
    conv4_1 = net.features[net.layer_names.index("conv4_1")]
    h = conv4_1.register_forward_hook(lambda *a: called.append(1))
    try:
        net(torch.rand(1, 3, 32, 32), ["relu2_1", "relu3_1"])
        assert not called
        net(torch.rand(1, 3, 32, 32), ["relu4_1"])
        assert called
    finally:
        h.remove()


def test_distilled_features_have_vgg19_widths_and_track_vgg(content):
    net = features.get("distilled16x")
    x = torch.nn.functional.interpolate(content, size=(96, 128))
    out = net(x, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    assert [v.shape[1] for v in out.values()] == [64, 128, 256, 512, 512]
    # The aux heads were trained to mimic VGG19: a real photo must give a structured, non-dead response.
    assert all(v.abs().mean() > 0 for v in out.values())


def test_vgg19_same_code_path_random_init():
    net = features.build("vgg19", random_init=True)
    out = net(torch.rand(1, 3, 32, 32), ["relu5_4"])
    assert out["relu5_4"].shape == (1, 512, 2, 2)
    assert "relu3_4" in net.taps and "relu3_4" not in features.get("vgg16").taps


def test_distilled_reconstruction_decoder_inverts_its_encoder(content):
    x = torch.nn.functional.interpolate(content, size=(128, 192), mode="bilinear")
    enc, dec = load_encoder(4), load_decoder(4)
    with torch.no_grad():
        y = dec(enc(x)).clamp(0, 1)
    assert y.shape == x.shape
    err = (y - x).abs().mean().item()
    assert err < 0.08, err  # a reconstruction, not noise (a random decoder is ~0.3 off)
    assert isinstance(enc, DistilledEncoder) and isinstance(dec, DistilledDecoder)
