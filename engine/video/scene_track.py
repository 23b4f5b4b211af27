"""Regions cut from semantic groups, and faces, following a clip from frame to frame.

A region given as a group (``--auto-region sky=starry.jpg``) means "the sky", not the pixels the
sky covered on the first frame: as the camera pans or things move, its mask must move with them.
Faces likewise (``StyleJob.faces``, kept by ``engine.scene.keep_shape``). Segmenting every frame
costs a model run a frame and its answers wobble at the edges from frame to frame; so the groups
are read on key frames and carried along the input's optical flow between them (DIS, as
:mod:`.temporal` uses), which moves a mask exactly with the picture. Faces are found again on
every frame, a face the detector misses for a few frames carried along the flow meanwhile. The
choices and their figures: ``bench/semantic.py --sections tracking,face_tracking`` (below).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..job import Region, StyleJob
from .flow import Flow, gray, warp

# bench/semantic.py --sections tracking: a sky region on 24-frame clips cut by a 512x288 window
# moving over the city (a pan, a tilt that takes the sky from 71 % of the frame to 7 %, the pan with
# a square crossing the sky) and the palm beach (a tilt), against the city's hand-made sky or the
# whole photo's reading. Mask IoU (mean / worst frame), frame-to-frame IoU of consecutive masks
# moved by the window's known move (mean / worst), model runs per frame:
#   every frame:  pan .975/.972, tilt .949/.546, square .971/.960, palm .820/.698; frame to frame
#                 .998/.997, .976/.721, .993/.988, .932/.867; 1 run a frame
#   key 4 + flow: .974/.971, .972/.947, .965/.915, .801/.617; frame to frame .999/.993, .996/.940,
#                 .994/.935, .974/.775; 1/4 run a frame
#   key 8 + flow: .975/.971, .962/.872, .947/.856, .762/.428; 1/8 run a frame
#   flow only:    .978/.977, .968/.885, .799/.666, .670/.321 (what enters the frame, and the sky
#                 behind the moving square, is never read)
# A model run is ~0.6 s at 512 px on an idle 2-core CPU (4-6 s with the machine loaded, as when this
# was measured), the flow 0.01-0.03 s: every frame would cost 3-4x a universal frame (0.15 s) and its
# masks wobble more (the tilt's last frames, 7 % sky, read .55-.75 apart); key frames every 4 keep
# the accuracy of reading every frame at a quarter of the cost, steadier.
#: a key frame (the groups read again by the segmenter) every this many frames; the masks are
#: carried along the optical flow in between
KEY_EVERY = 4
#: at a key frame, how much of the fresh reading enters the carried mask (1: replaced; 0.5 measured
#: no better: square .922/.813 against .947/.856 at key 8)
KEY_MIX = 1.0
# bench/semantic.py --sections face_tracking, 24-frame pans over the astronaut (384x216 window) and
# a volleyball photo (512x512, two faces of 38 and 58 px, the smaller's score 0.70-0.83 around the
# 0.7 threshold): faces found in 24/24 and 40/48 frames detecting every frame (box centres jitter
# 1.3-1.4 px a frame), 45/48 holding a missed face for 8 frames (jitter 0.6-0.75 px averaging each
# detection with the carried box); detecting every 4th frame found 40/48 (jitter 0.05-0.6 px) and
# the first frame's faces carried 24/48. A face that blinks out loses its protection for those
# frames, so detection runs on every frame: 0.06 s at 512 px idle (0.1-0.25 s loaded).
#: faces are detected on every this many frames while one is in the picture, carried along the
#: flow in between
FACES_EVERY = 1
#: ... and on every this many while none is: a clip without faces (a landscape) pays a quarter of
#: the detections (the city pan: 0.047 s a frame with the flow, against 0.135 detecting every frame,
#: loaded), and a face coming in is protected within 4 frames (a sixth of a second at 24 fps)
FACE_SEARCH_EVERY = 4
#: a face the detector misses is carried on for this many frames after it was last found
FACE_HOLD = 8
#: a detection matching a carried face moves its box this far from the carried box (1: to the detection)
FACE_SMOOTH = 0.5
#: a region whose mask covers less than this share of a frame is left out of that frame (the
#: group has left the picture); engine.regions warns about a mask this small
MIN_COVER = 1e-4


@dataclass(frozen=True)
class SceneFollow:
    """What of a clip's job follows the picture: frozen, it is handed to the render thread."""

    #: per region of the job, in order: the semantic group it was cut from ("sky": it follows the
    #: clip), or "" for a static mask (``--region MASK=STYLE``)
    groups: tuple[str, ...] = ()
    #: find the faces again on the clip's frames (a job with ``protect_faces``)
    faces: bool = False
    key_every: int = KEY_EVERY
    key_mix: float = KEY_MIX
    faces_every: int = FACES_EVERY
    face_search_every: int = FACE_SEARCH_EVERY
    face_hold: int = FACE_HOLD
    face_smooth: float = FACE_SMOOTH

    @property
    def active(self) -> bool:
        return self.faces or any(self.groups)


class SceneTrack:
    """Per-frame masks for the followed regions and the faces, one frame at a time.

    ``step(frame)`` takes each input frame (HxWx3 float in [0, 1], at the render size) in order;
    :meth:`frame_job` then gives that frame's job. The first frame keeps the job's own masks and
    faces (read on the clip's first frame by whoever built the job).
    """

    def __init__(self, follow: SceneFollow, job: StyleJob, segment=None, detect=None) -> None:
        if len(follow.groups) != len(job.regions):
            raise ValueError(f"SceneFollow names {len(follow.groups)} regions, the job has {len(job.regions)}")
        self.follow = follow
        self.regions = job.regions
        self.wanted = sorted({g for g in follow.groups if g})
        self._segment = segment
        self._detect = detect
        self.flow = Flow()
        self.index = -1
        self.prev_gray: np.ndarray | None = None
        self.masks: dict[str, np.ndarray] = {}
        self.faces: tuple = tuple(job.faces)
        #: the frame each face was last detected on
        self.seen: list[int] = [0] * len(self.faces)
        #: seconds spent in the segmenter, the face detector and the flow (bench/semantic.py)
        self.seconds = {"segment": 0.0, "faces": 0.0, "flow": 0.0}

    # ------------------------------------------------------------ readings
    def segment(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """The followed groups' soft masks on ``frame`` (a group it lacks: zeros)."""
        t = time.perf_counter()
        if self._segment is None:
            from ..registry import segmenters

            seg = segmenters.get("semantic")()
            # min_area 0: a group shrinking out of the picture fades instead of vanishing at 1 %
            self._segment = lambda image: seg.groups(image, {"min_area": 0})
        found = self._segment(_chw(frame))
        h, w = frame.shape[:2]
        out = {g: (found[g].mask.numpy().astype(np.float32) if g in found else np.zeros((h, w), np.float32))
               for g in self.wanted}
        self.seconds["segment"] += time.perf_counter() - t
        return out

    def detect(self, frame: np.ndarray) -> tuple:
        t = time.perf_counter()
        if self._detect is None:
            from ..scene.faces import detect_faces

            self._detect = detect_faces
        faces = tuple(self._detect(_chw(frame)))
        self.seconds["faces"] += time.perf_counter() - t
        return faces

    # ------------------------------------------------------------ one frame
    def step(self, frame: np.ndarray) -> None:
        """Move the masks and faces onto ``frame``, the next input frame."""
        self.index += 1
        h, w = frame.shape[:2]
        grey = gray(frame)
        back = None
        if self.prev_gray is not None and self.prev_gray.shape == grey.shape:
            t = time.perf_counter()
            back = self.flow(grey, self.prev_gray)  # this frame -> the previous one
            self.seconds["flow"] += time.perf_counter() - t
        self.prev_gray = grey
        if self.wanted:
            if self.index == 0:
                self.masks = {group: self._first_mask(group, (h, w)) for group in self.wanted}
            else:
                carried = {k: (warp(m, back) if back is not None else _fit(m, (h, w))) for k, m in self.masks.items()}
                if self.index % max(1, self.follow.key_every) == 0:
                    fresh = self.segment(frame)
                    a = self.follow.key_mix
                    carried = {k: fresh[k] if a >= 1 else (1 - a) * carried[k] + a * fresh[k] for k in carried}
                self.masks = carried
        if self.follow.faces and self.index > 0:
            carried = [(_moved(f, back) if back is not None else f, seen) for f, seen in zip(self.faces, self.seen)]
            every = self.follow.faces_every if carried else self.follow.face_search_every
            if self.index % max(1, every) == 0:
                carried = self._merge(self.detect(frame), carried)
            self.faces = tuple(f for f, _ in carried)
            self.seen = [seen for _, seen in carried]

    def _merge(self, found: tuple, carried: list) -> list:
        """This frame's detections, each averaged with the carried face it matches (FACE_SMOOTH),
        plus the carried faces none matches that were seen within ``face_hold`` frames and are still
        in the picture: a face whose score dips under the detector's threshold for a frame or two
        keeps its protection instead of blinking."""
        out, used = [], set()
        for f in found:
            best = max(range(len(carried)), key=lambda k: _box_iou(f, carried[k][0]), default=None)
            if best is not None and _box_iou(f, carried[best][0]) >= 0.3:
                used.add(best)
                f = _between(carried[best][0], f, self.follow.face_smooth)
            out.append((f, self.index))
        for k, (f, seen) in enumerate(carried):
            cx, cy = f.centre
            if k in used or self.index - seen > self.follow.face_hold or not (0 <= cx <= 1 and 0 <= cy <= 1):
                continue
            out.append((f, seen))
        return out

    def _first_mask(self, group: str, hw: tuple[int, int]) -> np.ndarray:
        """The job's own mask for ``group`` (read on the first frame), at the render size."""
        k = self.follow.groups.index(group)
        return _fit(self.regions[k].mask.detach().float().cpu().numpy(), hw)

    def frame_job(self, job: StyleJob) -> StyleJob:
        """``job`` (this frame's content) with the followed regions' masks and faces of this frame.

        A followed region whose group has left the picture is left out of the frame."""
        if not self.follow.active:
            return job
        regions: list[Region] = []
        for region, group in zip(self.regions, self.follow.groups):
            if not group:
                regions.append(region)
                continue
            m = self.masks[group]
            if float(m.mean()) < MIN_COVER:
                continue
            regions.append(replace(region, mask=torch.from_numpy(np.clip(m, 0, 1).astype(np.float32))))
        changes: dict = {"regions": tuple(regions)}
        if self.follow.faces:
            changes["faces"] = self.faces
        return job.with_(**changes)


def _chw(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)).permute(2, 0, 1)[None]


def _fit(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if mask.shape == tuple(hw):
        return mask.astype(np.float32, copy=False)
    return cv2.resize(mask.astype(np.float32), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)


def _box_iou(a, b) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def _between(a, b, t: float):
    """Face ``b``'s score with the box and key points ``t`` of the way from ``a``'s to ``b``'s."""
    mix = lambda u, v: u + t * (v - u)  # noqa: E731
    points = b.keypoints if len(a.keypoints) != len(b.keypoints) else tuple(
        (mix(p[0], q[0]), mix(p[1], q[1])) for p, q in zip(a.keypoints, b.keypoints))
    return replace(b, x0=mix(a.x0, b.x0), y0=mix(a.y0, b.y0), x1=mix(a.x1, b.x1), y1=mix(a.y1, b.y1), keypoints=points)


def _moved(face, back: np.ndarray):
    """``face`` (fractions of the frame) moved with the picture: by the median flow inside its box.

    ``back`` maps this frame onto the previous one, so the picture moved by minus it."""
    h, w = back.shape[:2]
    x0, y0, x1, y1 = face.box_px((h, w))
    if x1 <= x0 or y1 <= y0:
        return face
    d = np.median(back[y0:y1, x0:x1].reshape(-1, 2), axis=0)
    dx, dy = -float(d[0]) / w, -float(d[1]) / h
    return replace(face, x0=face.x0 + dx, x1=face.x1 + dx, y0=face.y0 + dy, y1=face.y1 + dy,
                   keypoints=tuple((x + dx, y + dy) for x, y in face.keypoints))
