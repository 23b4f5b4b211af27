"""brushwork batch --ray (engine/batch/farm.py, issue 29) on a real two-node Ray cluster.

The cluster is started here as two processes (``ray start --head`` and ``ray start --address``,
one CPU and a named resource each: tests/ray_cluster.py); the driver is this process. The
pictures are test_batch's folder (four good, a corrupt one, one over the lowered pixel limit);
the clip is test_chunks' 48-frame pan with its audio. Outputs are compared with the local batch
and the one-piece render.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SHARED
from engine import cli
from engine.batch.command import settings_from_args
from engine.batch.inputs import expand_inputs
from engine.batch.manifest import MANIFEST_NAME
from engine.batch.run import ItemFinished, ItemStep, local_executor, run_batch
from test_batch import LIMIT, PICTURES, STYLE_FLAGS, _pixels, source, work  # noqa: F401  (fixtures)
from test_chunks import FRAMES, pan_clip, step_errors
from test_video import read_clip

from engine.batch import farm
from ray_cluster import TwoNodeCluster


@pytest.fixture(scope="module")
def ray():
    return pytest.importorskip("ray", reason="Ray is not installed (pip install 'brushwork[farm]'): no cluster to run on")


@pytest.fixture(scope="module")
def cluster(ray):
    env = {**os.environ, "BRUSHWORK_MAX_IMAGE_PIXELS": LIMIT, "OMP_NUM_THREADS": "1"}
    if (SHARED / "weights").is_dir():
        env["BRUSHWORK_WEIGHTS_MIRROR"] = str(SHARED / "weights")
    nodes = TwoNodeCluster(env)
    with nodes as address:
        print(f"two Ray nodes up in {nodes.started_s:.1f} s", file=sys.stderr)
        yield nodes, address
    print(f"two Ray nodes stopped in {nodes.stopped_s:.1f} s", file=sys.stderr)


def _settings(*extra: str):
    args = cli.make_parser().parse_args(["batch", "in", "-s", "style.png", *STYLE_FLAGS, "-o", "out/", "-q", *extra])
    return settings_from_args(args)


def _run(settings, executor, on_progress=None):
    return run_batch(settings, expand_inputs(["in"], settings), executor, on_progress)


@contextlib.contextmanager
def _one_thread():
    """Local renders on one torch thread, as each one-CPU worker renders: universal's bfloat16
    convolutions round differently with another thread count (up to 8/255 at 256 px, 1 against 2),
    so only the same count can be compared to 1/255."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _run_local(settings):
    with _one_thread():
        return _run(settings, local_executor)


def _same_pictures(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.glob("*.png"))
    assert names == sorted(p.name for p in b.glob("*.png")) and len(names) == len(PICTURES)
    for name in names:
        diff = np.abs(_pixels(a / name).astype(int) - _pixels(b / name).astype(int)).max()
        assert diff <= 1, f"{name} differs by {diff}/255"


def _where(events: list) -> list:
    return [e.event for e in events if isinstance(e, ItemStep) and isinstance(e.event, farm.RenderedOn)]


def test_a_batch_on_two_nodes_gives_the_local_outputs(cluster, work):
    nodes, address = cluster
    local = _run_local(_settings("-o", "local/"))
    events = []
    with farm.connected(address) as joined:
        report = _run(_settings(), lambda s, items, on_event: farm.farm_executor(joined, s, items, on_event),
                      events.append)
    assert [len(report.done), len(report.failed)] == [4, 2]
    assert {Path(r.input).name: r.reason for r in report.failed} == \
        {Path(r.input).name: r.reason for r in local.failed}  # the same reasons, named by the driver's paths
    _same_pictures(work / "out", work / "local")
    where = _where(events)
    assert len(where) == 6 and len({w.node for w in where}) == 2, where  # both nodes rendered


def test_a_clip_splits_into_chunks_across_the_nodes(cluster, work, content_path):
    nodes, address = cluster
    clip = pan_clip(content_path, work / "pan48.mp4")
    whole = work / "whole.mp4"
    with _one_thread():
        assert cli.main(["render", str(clip), "-s", "style.png", *STYLE_FLAGS, "--crf", "0", "-o", str(whole), "-q"]) == 0
    settings, events = _settings("--crf", "0", "-o", "farm/"), []
    with farm.connected(address) as joined:
        report = run_batch(settings, expand_inputs([str(clip)], settings),
                           lambda s, items, on_event: farm.farm_executor(joined, s, items, on_event), events.append)
    assert report.ok and len(report.done) == 1, report.summary()
    where = _where(events)
    assert len(where) == 4 and len({w.node for w in where}) == 2, where  # 4 chunks on both nodes
    got, pts, rate, audio = read_clip(work / "farm" / "pan48_universal.mp4")
    ref, ref_pts, ref_rate, ref_audio = read_clip(whole)
    assert len(got) == len(ref) == FRAMES and pts == ref_pts and rate == ref_rate
    assert audio == ref_audio and audio[0][1] > 0
    # 4 chunks (2 a worker) cut on the key frames 12, 24, 36; lossless H.264 (crf 0) both ways
    errors, one = step_errors(got), step_errors(ref)
    seams = [errors[i - 1] for i in (12, 24, 36)]
    assert max(seams) <= max(one), (seams, max(one), np.mean(one))
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(got[:12], ref[:12]))  # chunk 0 is the start


def test_a_worker_killed_mid_batch_is_retried_and_nothing_is_duplicated(cluster, work):
    nodes, address = cluster
    _run_local(_settings("-o", "local/"))
    events, killed, alive = [], [], set()

    def on_progress(e) -> None:
        events.append(e)
        if isinstance(e, ItemStep) and isinstance(e.event, farm.RenderedOn) and not killed:
            alive.update(nodes.worker_pids("FarmWorker"))
            busy = sorted(alive - {e.event.pid})
            assert busy, f"no other worker to kill: {alive}"
            os.kill(busy[0], signal.SIGKILL)  # the other worker, rendering a picture now
            killed.append(busy[0])

    with farm.connected(address) as joined:
        report = _run(_settings(), lambda s, items, on_event: farm.farm_executor(joined, s, items, on_event),
                      on_progress)
    assert killed and not Path(f"/proc/{killed[0]}").exists()
    finished = [e.record.input for e in events if isinstance(e, ItemFinished)]
    assert sorted(finished) == sorted(set(finished)) and len(finished) == 6  # each item once
    assert [len(report.done), len(report.failed)] == [4, 2]
    _same_pictures(work / "out", work / "local")
    assert sorted(p.name for p in (work / "out").iterdir()) == \
        sorted([Path(p).stem + "_universal.png" for p in PICTURES] + [MANIFEST_NAME])  # no stray or partial file
    manifest = json.loads((work / "out" / MANIFEST_NAME).read_text())
    assert sorted(e["status"] for e in manifest["items"].values()) == ["done"] * 4 + ["failed"] * 2
    restarted = {w.pid for w in _where(events)} - alive
    assert restarted, "no picture came from a restarted worker"  # Ray started the killed one again and retried


def test_a_worker_with_other_versions_refuses(cluster, work, monkeypatch, capsys):
    nodes, address = cluster
    monkeypatch.setattr(farm, "fingerprint", lambda: "brushwork 9.9, torch 0, weights manifest 0")  # the driver's
    code = cli.main(["batch", "in", "-s", "style.png", *STYLE_FLAGS, "-o", "out/", "-q", "--ray", address])
    err = capsys.readouterr().err
    assert code == 2 and "brushwork 0.1.0" in err and "the driver brushwork 9.9" in err, err
    assert not list((work / "out").glob("*.png"))  # nothing rendered


def test_ray_without_ray_is_a_clear_error(work, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    code = cli.main(["batch", "in", "-s", "style.png", *STYLE_FLAGS, "-o", "out/", "-q", "--ray"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'brushwork[farm]'" in err, err
    assert not (work / "out").exists()


def test_ray_without_an_address_runs_a_private_ray_and_shuts_it_down(ray, work, monkeypatch):
    monkeypatch.setenv("HOME", str(work))  # Ray leaves a ~/.ray/auth_token behind: here, not in the user's home
    code = cli.main(["batch", "in", "-s", "style.png", *STYLE_FLAGS, "-o", "out/", "--report", "report.json", "-q",
                     "--ray"])
    report = json.loads(Path("report.json").read_text())
    assert code == 1 and [len(report["done"]), len(report["failed"])] == [4, 2], report
    assert sorted(p.name for p in (work / "out").glob("*.png")) == sorted(Path(p).stem + "_universal.png"
                                                                          for p in PICTURES)
    assert not ray.is_initialized()  # shut down after the run


def test_an_address_where_nothing_answers_is_a_clear_error_at_once(ray, work, capsys):
    from ray_cluster import _free_port

    code = cli.main(["batch", "in", "-s", "style.png", *STYLE_FLAGS, "-o", "out/", "-q", "--ray",
                     f"127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err
    assert code == 2 and "Nothing answers at 127.0.0.1:" in err and "ray start --head" in err, err
