"""Tensor <-> QImage conversions, in one place so strides and formats are handled once.

Engine images are 1x3xHxW float in [0, 1]; masks are HxW float. On the Qt side masks are
``Format_Alpha8`` images so QPainter can paint into them directly (brush, eraser, fill).
"""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtGui import QImage


def image_array(img: QImage, channels: int) -> np.ndarray:
    """A copy of the pixels as HxWxC uint8, dropping the per-line padding Qt may add."""
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=h * bpl).reshape(h, bpl)
    return buf[:, : w * channels].reshape(h, w, channels).copy()


def qimage_to_tensor(img: QImage) -> torch.Tensor:
    rgb = img.convertToFormat(QImage.Format.Format_RGB888)
    arr = image_array(rgb, 3).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def rgb_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 (a decoded video frame) -> 1x3xHxW float in [0, 1]."""
    arr = np.ascontiguousarray(rgb, dtype=np.uint8).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_qimage(t: torch.Tensor) -> QImage:
    if t.dim() == 4:
        t = t[0]
    arr = np.ascontiguousarray((t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8))
    h, w, _ = arr.shape
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def mask_to_array(mask: QImage) -> np.ndarray:
    """Alpha8 mask -> HxW uint8."""
    return image_array(mask.convertToFormat(QImage.Format.Format_Alpha8), 1)[..., 0]


def array_to_mask(arr: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(arr.astype(np.uint8))
    h, w = arr.shape
    return QImage(arr.data, w, h, w, QImage.Format.Format_Alpha8).copy()


def mask_to_tensor(mask: QImage) -> torch.Tensor:
    return torch.from_numpy(mask_to_array(mask).astype(np.float32) / 255.0)


def tensor_to_mask(t: torch.Tensor) -> QImage:
    return array_to_mask((t.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8))


def empty_mask(width: int, height: int) -> QImage:
    m = QImage(width, height, QImage.Format.Format_Alpha8)
    m.fill(0)
    return m
