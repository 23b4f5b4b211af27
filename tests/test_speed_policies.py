"""The speed policies of issue 28, without timing anything: live renders' threads on a busy
machine, the video flow measured at half size, universal's thinned measurements."""

from __future__ import annotations

import numpy as np
import torch

from editor.live_threads import PROBE_EVERY, ThreadPolicy


def test_live_renders_drop_to_one_thread_while_the_cores_are_shared_and_probe_back():
    p = ThreadPolicy(cores=2)
    seq = []
    for share in [0.95, 0.5] + [0.9] * (PROBE_EVERY + 2):
        p.threads = p.next_threads(share)
        seq.append(p.threads)
    assert seq[0] == 2  # a render that got its two cores keeps them
    assert seq[1:PROBE_EVERY + 1] == [1] * PROBE_EVERY  # one that did not: one thread until the probe
    assert seq[PROBE_EVERY + 1] == 2 and seq[-1] == 2  # the probe ran free: both cores again
    assert ThreadPolicy(cores=1).next_threads(0.1) == 1


def test_the_flow_at_half_size_follows_a_pan():
    from PIL import Image

    from engine.video.temporal import Motion
    from tests.conftest import sample_path

    photo = np.asarray(Image.open(sample_path("content_city_skyline.jpg")).convert("RGB").resize((700, 455)))
    a, b = photo[20:308, 10:522], photo[20:308, 16:528]  # the view moves 6 px right: content moves 6 px left
    half, full = Motion(), Motion(scale=1.0)
    for m in (half, full):
        m.step(a)
    moved, reference = half.step(b), full.step(b)
    assert moved.back.shape == reference.back.shape == (288, 512, 2)
    inner = (slice(40, -40), slice(40, -40))
    # current -> previous: each pixel came from 6 px to its right
    assert abs(float(np.median(moved.back[inner][..., 0])) - 6.0) < 0.5
    assert abs(float(np.median(moved.back[inner][..., 1]))) < 0.5
    assert float(moved.mask[inner].mean()) > 0.8
    assert float(np.abs(moved.back[inner] - reference.back[inner]).mean()) < 0.75


def test_universal_measures_large_masks_on_a_thinned_grid_with_the_whole_count():
    from plugins.universal import MOMENT_CELLS, sparse_moments
    from plugins.universal.wct import masked_moments

    torch.manual_seed(0)
    f = torch.randn(1, 8, 512, 384) * torch.linspace(0.5, 2, 8)[None, :, None, None] + 3
    w = torch.zeros(512, 384)
    w[100:400, 50:300] = 1.0
    assert 512 * 384 > MOMENT_CELLS
    thin, whole = sparse_moments(f, w), masked_moments(f, [w])[0]
    assert thin.count == float(w.sum())
    assert torch.allclose(thin.mean, whole.mean, atol=0.02)
    assert torch.allclose(thin.cov, whole.cov, rtol=0.05, atol=0.05)
