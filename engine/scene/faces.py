"""Faces found in a photo, as soft ellipses every strategy can honour.

A :class:`Face` is stored in fractions of the photo's width and height, so one detection serves
every size the photo is rendered at (a 512 px preview, a 1024 px live picture, a tiled print)
and survives a project's save and load unchanged.

:func:`detect_faces` runs MediaPipe's two BlazeFace detectors with the LiteRT runtime, decoding
their outputs as MediaPipe's face detection graphs do (``mediapipe/modules/face_detection``:
SsdAnchorsCalculator, TensorsToDetectionsCalculator, a weighted NonMaxSuppressionCalculator),
without depending on the ``mediapipe`` package (it pins numpy below 2).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..images import resize_long_edge
from . import litert


@dataclass(frozen=True)
class Face:
    """A face's box (x0, y0, x1, y1 in fractions of the photo's width/height), score and key points.

    The box may reach a little past 0 or 1 for a face cut by the photo's edge: the whole face's
    box, so that its ellipse stays centred on the face.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    #: BlazeFace's six key points (eyes, nose tip, mouth, ears) as (x, y) fractions; may be empty
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def box_px(self, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels of an image ``hw`` = (height, width), clipped to it."""
        h, w = hw
        return (max(0, int(self.x0 * w)), max(0, int(self.y0 * h)),
                min(w, int(round(self.x1 * w))), min(h, int(round(self.y1 * h))))

    def ellipse(self, hw: tuple[int, int], grow: tuple[float, float] = (1.15, 1.45), soft: float = 0.25) -> torch.Tensor:
        """A soft elliptical mask (HxW in [0, 1]) over the whole face.

        BlazeFace's box runs cheek to cheek and from the lower forehead to the chin (eyes at 32 %
        of its height, mouth at 74 %, medians of 62 faces); the face reaches further, most of all
        up (forehead), hence the taller ``grow`` and the centre raised by 8 % of the box. The edge
        falls from 1 to 0 over the outer ``soft`` of the radius (a smoothstep), so a protected
        face blends into the rest of the picture without a seam. Measured on those 62 faces: the
        eyes, nose tip and mouth at 1.0 on every one, the ears (at the box's sides) 0.5 or more on
        80 % (the rest are turned away).
        """
        h, w = hw
        cx, cy = self.centre
        cy -= 0.08 * (self.y1 - self.y0)  # the box sits low on the head: centre the ellipse on it
        rx = max(0.5 * (self.x1 - self.x0) * grow[0], 1.0 / w)
        ry = max(0.5 * (self.y1 - self.y0) * grow[1], 1.0 / h)
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w
        r = (((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2).sqrt()
        t = ((1.0 - r) / max(soft, 1e-6)).clamp(0, 1)
        return t * t * (3 - 2 * t)


# --- the detectors ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BlazeFace:
    """One BlazeFace model and the options MediaPipe's graph runs it with."""

    weight_name: str
    #: the square input's side (tensor_width/height; also the decoder's x/y/w/h_scale)
    size: int
    #: SsdAnchorsCalculator's strides, one per layer
    strides: tuple[int, ...]
    #: SsdAnchorsCalculator's interpolated_scale_aspect_ratio (0: no extra anchor per cell)
    interpolated_scale_aspect_ratio: float
    #: sigmoid score a detection needs to count (see the measurement below)
    min_score: float
    #: whether its boxes place a face both models found (see :func:`find`)
    places: bool


# The score thresholds were chosen on 155 photos of ../shared/images/train/content (most of them
# 256-500 px; bench/faces_sample.txt: 60 drawn at random, 95 chosen for people), each of the 233
# places any run scored over 0.4 looked at by eye: 82 were faces. MediaPipe's own thresholds (0.5
# short, 0.6 full, no tiles) keep 61 faces and 18 non-faces (a bear, otters, dogs, a plate of
# food, a clownfish, a torso); short range scores animal faces and food up to 0.76 and real
# portraits 0.87 to 0.98. Short >= 0.8, full >= 0.7 and tiles >= 0.75 keep 60 faces and no
# non-face (bench/faces.py --sheet: 8 faces on the 60 random photos, all real; 54 on the 95).

# face_detection_short_range.pbtxt: 128 px, strides 8, 16, 16, 16 with an interpolated anchor
# (16x16x2 + 8x8x6 = 896 anchors); MediaPipe thresholds at 0.5, measured: 0.8 (above)
SHORT_RANGE = BlazeFace("face/short-range", 128, (8, 16, 16, 16), 1.0, 0.8, places=False)
# face_detection_full_range.pbtxt: 192 px, one layer of stride 4, no interpolated anchor
# (48x48 = 2304 anchors); MediaPipe thresholds at 0.6, measured: 0.7 (above)
FULL_RANGE = BlazeFace("face/full-range", 192, (4,), 0.0, 0.7, places=True)
#: full range on the tiles: small faces it finds there (players on a court, a lab's staff)
#: score 0.73 to 0.94, the best non-face 0.73 (a diver's gauge), so tiles need a little more
TILE_MIN_SCORE = 0.75

#: face_detection.pbtxt's SsdAnchorsCalculator anchor_offset_x/y: anchors at cell centres
ANCHOR_OFFSET = 0.5
# ... and fixed_anchor_size: true, so every anchor is 1 x 1: min_scale, max_scale and the aspect
# ratios change nothing in the decoded boxes, only the number of anchors per cell matters
#: TensorsToDetectionsCalculator's score_clipping_thresh: logits clipped to +-100 before the sigmoid
SCORE_CLIPPING = 100.0
#: NonMaxSuppressionCalculator's min_suppression_threshold (IoU) with the WEIGHTED algorithm
NMS_IOU = 0.3

#: a photo whose short side is below this has no face to find and gets none, without running
#: the models (not an error: the editor asks for every photo, and "no faces" is a fine answer for
#: a thumbnail); a face needs ~10 px: the astronaut portrait is found down to 48 px, not at 40
MIN_SIDE = 32
#: the photo is first brought down to this long side: the tiles (half the photo) are then 512 px,
#: plenty for the 192 px model, and a 4000 px photo costs only its downscale and hash more
#: (bench/faces.py, 2 cores: 0.06 s at 512 px, 0.10-0.12 s at 1024, 0.43-0.57 s at 4000 of which
#: 0.26 s is the hash that a repeated call still pays)
WORKING_SIDE = 1024
#: tiles per side: 3 x 3 tiles of half the photo's width and height, overlapping by half, so any
#: face up to a quarter of the photo lies whole inside one tile; bigger faces are the whole-photo
#: runs'. Measured: full range on the whole photo finds faces down to ~5 % of its long side, on
#: the tiles down to 3 % (the 11 faces only the tiles found were 3-7.5 % of the long side)
TILE_GRID = 3
#: results kept for this many photos (by content): the editor asks again for the same photo
CACHE_SIZE = 8


@functools.cache
def ssd_anchors(size: int, strides: tuple[int, ...], interpolated_scale_aspect_ratio: float) -> np.ndarray:
    """Anchor centres (N x 2, x then y, fractions of the input) as MediaPipe's SsdAnchorsCalculator.

    Consecutive layers with the same stride share one feature map; each layer adds one anchor
    per cell (aspect ratio 1) and one more when an interpolated scale is asked for. With
    fixed_anchor_size every anchor is 1 x 1, so only the centres are returned.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2 if interpolated_scale_aspect_ratio > 0 else 1
            last += 1
        cells = int(np.ceil(size / strides[layer]))
        ys, xs = np.meshgrid((np.arange(cells) + ANCHOR_OFFSET) / cells,
                             (np.arange(cells) + ANCHOR_OFFSET) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))  # row by row, each cell's anchors together
        layer = last
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True)
class Detections:
    """Detections in a photo's pixels: boxes (N x 4: x0, y0, x1, y1), scores (N), key points (N x 6 x 2),
    and whether each came from a model whose boxes place faces (N, see :func:`find`)."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    places: np.ndarray

    @staticmethod
    def none() -> Detections:
        return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2)), np.zeros(0, bool))

    @staticmethod
    def join(parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p.scores)] or [Detections.none()]
        return Detections(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("boxes", "scores", "keypoints", "places")))

    def shifted(self, dx: float, dy: float) -> Detections:
        return Detections(self.boxes + [dx, dy, dx, dy], self.scores, self.keypoints + [dx, dy], self.places)


def letterbox(photo: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """``photo`` (HxWx3 float in [0, 1]) scaled to fit a ``size`` square, centred on black.

    Returns the model's input (1 x size x size x 3 in [-1, 1], as the graph's ImageToTensor with
    keep_aspect_ratio and BORDER_ZERO) and the way back, photo pixel = (input pixel - pad) / scale,
    as (scale, pad_x, pad_y).
    """
    h, w = photo.shape[:2]
    scale = size / max(h, w)
    rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(photo, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full((size, size, 3), -1.0, np.float32)  # black, in [-1, 1]
    px, py = (size - rw) // 2, (size - rh) // 2
    out[py:py + rh, px:px + rw] = resized * 2.0 - 1.0
    return out[None], max(rw, rh) / max(w, h), px, py


def run_model(model: BlazeFace, net: litert.TFLiteModel, photo: np.ndarray, min_score: float) -> Detections:
    """``net``'s detections scoring ``min_score`` or more on ``photo``, in its pixels, before suppression.

    Decoded as TensorsToDetectionsCalculator with face_detection.pbtxt's options: sigmoid scores
    of clipped logits; reverse_output_order (x before y); offsets, sizes and key points divided by
    the input's side and added to the anchor's centre (anchors are 1 x 1).
    """
    tensor, scale, px, py = letterbox(photo, model.size)
    outputs = net.run(tensor)
    # the full-range file names its outputs Identity and Identity_1: tell them apart by width
    raw = next(a for a in outputs.values() if a.shape[-1] == 16)[0]
    logits = next(a for a in outputs.values() if a.shape[-1] == 1)[0, :, 0].astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIPPING, SCORE_CLIPPING)))
    keep = np.nonzero(scores >= min_score)[0]
    anchors = ssd_anchors(model.size, model.strides, model.interpolated_scale_aspect_ratio)[keep]
    raw = raw[keep].astype(np.float64) / model.size
    centre = raw[:, 0:2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    pad = np.array([px, py])
    boxes = (boxes * model.size - np.tile(pad, 2)) / scale
    points = (points * model.size - pad) / scale
    return Detections(boxes, scores[keep], points, np.full(len(keep), model.places))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return inter / np.maximum(union, 1e-12)


def weighted_nms(found: Detections, iou: float = NMS_IOU) -> Detections:
    """MediaPipe's WEIGHTED non-max suppression, across models.

    Best score first, each detection takes the score-weighted mean box and key points of every
    remaining detection overlapping it by more than ``iou`` (itself included), keeps its own score,
    and those detections are gone. Where such a group mixes models, only the detections whose
    model places faces (``places``) are averaged; one model's detections merge as in MediaPipe.
    """
    remaining = np.argsort(-found.scores, kind="stable")
    boxes, scores, points, places = [], [], [], []
    while remaining.size:
        top = remaining[0]
        group = _iou(found.boxes[top], found.boxes[remaining]) > iou
        group[0] = True
        members = remaining[group]
        if found.places[members].any():
            members = members[found.places[members]]
        weight = found.scores[members] / found.scores[members].sum()
        boxes.append(weight @ found.boxes[members])
        points.append(np.einsum("n,nkc->kc", weight, found.keypoints[members]))
        scores.append(found.scores[top])
        places.append(found.places[members].any())
        remaining = remaining[~group]
    if not scores:
        return Detections.none()
    return Detections(np.array(boxes), np.array(scores), np.array(points), np.array(places))


def tiles(h: int, w: int, grid: int = TILE_GRID) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of ``grid`` x ``grid`` tiles, each half the photo's width and height."""
    th, tw = h // 2, w // 2
    starts = lambda length, tile: [round(i * (length - tile) / (grid - 1)) for i in range(grid)]  # noqa: E731
    return [(x, y, x + tw, y + th) for y in starts(h, th) for x in starts(w, tw)]


def find(photo: np.ndarray, weights_dir=None) -> Detections:
    """Every face in ``photo`` (HxWx3 float in [0, 1]) in its pixels, after suppression.

    Close-ups and group photos need different models: short range finds faces filling much of
    the frame (portraits score 0.87-0.98) and misses small ones; full range finds faces down to
    ~5 % of the photo's long side, and on the tiles down to 3 %, adding 11 faces of the 60
    on the measured sample (players on a court, a lab's staff) at no false detection. So all
    three run (11 model calls, ~100 ms at any size on two cores) and their detections, each over
    its own threshold, are merged by the weighted suppression. The two models draw a face's box
    differently: their eyes and mouths agree within 1 % of the box, but full range's box sits 4 %
    higher and is 3 % larger (medians of 29 faces), 15 % on the astronaut. Averaged, a face would
    move by 9 % of its size when short range's score crossed its threshold (it did, 0.92 to 0.69,
    with the photo widened), so full range's boxes place a face it found, whole or in a tile, and
    short range's only the faces full range missed (close-ups).
    """
    short, full = (litert.load(m.weight_name, "face detector", weights_dir) for m in (SHORT_RANGE, FULL_RANGE))
    h, w = photo.shape[:2]
    parts = [run_model(SHORT_RANGE, short, photo, SHORT_RANGE.min_score),
             run_model(FULL_RANGE, full, photo, FULL_RANGE.min_score)]
    # a face cut by a tile's edge is whole in a neighbouring tile; the half face could be dropped,
    # but it never reached the tiles' threshold (155 photos, and a face moved across the edges)
    for x0, y0, x1, y1 in tiles(h, w):
        parts.append(run_model(FULL_RANGE, full, photo[y0:y1, x0:x1], TILE_MIN_SCORE).shifted(x0, y0))
    return weighted_nms(Detections.join(parts))


# --- the public call ----------------------------------------------------------------------------

_cache: OrderedDict[tuple, tuple[Face, ...]] = OrderedDict()
_cache_lock = threading.Lock()


def _content_key(image: torch.Tensor, weights_dir) -> tuple:
    """The photo's content hash (sha1 of its float32 pixels, ~0.3 s for a 4000 x 3000 photo, less
    than detecting again) with its shape and the weights folder."""
    pixels = image.detach().to("cpu", torch.float32).contiguous().numpy()
    digest = hashlib.sha1(memoryview(pixels).cast("B"), usedforsecurity=False).hexdigest()
    return digest, tuple(pixels.shape), str(weights_dir) if weights_dir else None


def detect_faces(image: torch.Tensor, weights_dir: str | os.PathLike | None = None) -> tuple[Face, ...]:
    """The faces in ``image`` (1x3xHxW in [0, 1]), best score first, in fractions of its size.

    A photo under :data:`MIN_SIDE` px on its short side has none. A missing or damaged model is
    a :class:`~engine.errors.WeightsError` naming the file. Results are kept per photo content,
    so asking again for the same photo costs a hash.
    """
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ValueError(f"detect_faces takes a 1x3xHxW image, got {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if min(h, w) < MIN_SIDE:
        return ()
    key = _content_key(image, weights_dir)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    small = resize_long_edge(image.detach().to("cpu", torch.float32), WORKING_SIDE) if max(h, w) > WORKING_SIDE else image
    photo = np.ascontiguousarray(small[0].detach().to("cpu", torch.float32).permute(1, 2, 0).numpy())
    found = find(photo, weights_dir)
    ph, pw = photo.shape[:2]
    faces = tuple(
        Face(float(b[0] / pw), float(b[1] / ph), float(b[2] / pw), float(b[3] / ph), score=float(s),
             keypoints=tuple((float(x / pw), float(y / ph)) for x, y in k))
        for b, s, k in zip(found.boxes, found.scores, found.keypoints))
    with _cache_lock:
        _cache[key] = faces
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return faces
