"""engine.palette: a picture's pixel colours moved onto a painting's distribution."""

from __future__ import annotations

import torch

from engine import metrics, palette
from engine.images import resize_long_edge


def test_transfer_moves_the_colour_distribution_onto_the_painting(content, style):
    photo, painting = resize_long_edge(content, 256), resize_long_edge(style, 256)
    m = palette.fit(palette.histogram(photo), palette.histogram(painting))
    d0 = metrics.colour_distance(photo, painting)
    full, half = m.apply(photo, 1.0), m.apply(photo, 0.5)
    assert torch.equal(m.apply(photo, 0.0), photo)
    assert metrics.colour_distance(full, painting) < 0.3 * d0
    assert metrics.colour_distance(full, painting) < metrics.colour_distance(half, painting) < d0
    # colours move; the picture stays: neighbouring pixels keep their order of brightness mostly
    assert metrics.content_distance(full, photo) < 1.0


def test_histograms_add_like_tiles(content):
    photo = resize_long_edge(content, 128)
    top, bottom = photo[..., :50, :], photo[..., 50:, :]
    whole = palette.histogram(photo)
    parts = palette.histogram(top) + palette.histogram(bottom)
    assert torch.allclose(whole.count, parts.count) and torch.allclose(whole.total, parts.total)
    w = torch.rand(photo.shape[-2:])
    assert abs(palette.histogram(photo, w).weight - float(w.double().sum())) < 1e-6


def test_flat_and_two_colour_pictures_are_not_torn_apart(style):
    painting = resize_long_edge(style, 128)
    flat = torch.full((1, 3, 64, 96), 0.4)
    out = palette.fit(palette.histogram(flat), palette.histogram(painting)).apply(flat)
    assert out.std((2, 3)).max() < 1e-3  # one colour stays one colour...
    assert (out.mean((2, 3)) - painting.mean((2, 3))).abs().max() < 0.1  # ...near the painting's mean
    logo = torch.zeros(1, 3, 64, 96)
    logo[..., 48:] = 1.0
    out = palette.fit(palette.histogram(logo), palette.histogram(painting)).apply(logo)
    left, right = out[..., :48], out[..., 48:]
    assert left.std((2, 3)).max() < 1e-3 and right.std((2, 3)).max() < 1e-3
    assert torch.isfinite(out).all() and (right.mean() - left.mean()) > 0.2  # light stays lighter
