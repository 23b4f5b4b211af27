"""The ADE20K model (DeepLabV3+ MobileNetV2, TFLite) and its labels, run on one 513 px window.

Nothing here runs at import: the registry lists the ``semantic`` segmenter, and every other
segmenter works, on a machine without the model; asking for semantic groups there is a
:class:`~engine.errors.WeightsError` that names the missing file.
"""

from __future__ import annotations

import threading

import numpy as np

from engine import weights
from engine.errors import WeightsError
from engine.scene import litert

MODEL = "semantic/ade20k"
LABELS = "semantic/ade20k-labels"
#: the model's fixed input: 1 x 513 x 513 x 3, RGB in [-1, 1]
WINDOW = 513
#: channel 0 ("other") and the 150 ADE20K classes
CHANNELS = 151

_labels_cache: dict[str, list[str]] = {}
_labels_lock = threading.Lock()


def load_model() -> litert.TFLiteModel:
    """The interpreter (kept by :mod:`engine.scene.litert`); a WeightsError naming the file if it is missing or damaged."""
    return litert.load(MODEL, "semantic segmenter")


def load_labels() -> list[str]:
    """The 150 class names in channel order (line i = channel i), from the verified labels file."""
    path = weights.locate(LABELS)  # WeightsError naming the file when missing or corrupt
    key = str(path)
    with _labels_lock:
        if key not in _labels_cache:
            try:
                lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
                names = [ln.split("\t")[1].strip() for ln in lines]
            except (OSError, UnicodeDecodeError, IndexError) as exc:
                raise WeightsError(f"The ADE20K labels file {path} cannot be read ({exc}). "
                                   f"Re-fetch it: {weights.fetch_command(weights.load_manifest()[LABELS])}") from None
            if len(names) != CHANNELS - 1:
                raise WeightsError(f"The ADE20K labels file {path} names {len(names)} classes, not {CHANNELS - 1}. "
                                   f"Re-fetch it: {weights.fetch_command(weights.load_manifest()[LABELS])}")
            _labels_cache[key] = names
        return list(_labels_cache[key])


def run_window(model: litert.TFLiteModel, rgb: np.ndarray) -> np.ndarray:
    """Class probabilities (h x w x 151, float32) for an h x w x 3 RGB window in [0, 1], h, w <= 513.

    A smaller window is padded to 513 with mid-grey (0 after scaling, as DeepLab pads) and the
    prediction cropped back, so nothing is stretched.
    """
    h, w = rgb.shape[:2]
    x = np.zeros((1, WINDOW, WINDOW, 3), dtype=np.float32)
    x[0, :h, :w] = rgb * 2.0 - 1.0
    logits = next(iter(model.run(x).values()))[0, :h, :w]
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
