"""Brushwork's engine: style transfer without any user interface.

Nothing in this package imports Qt, the editor or a plugin; strategies are found through
entry points (see :mod:`engine.registry`).
"""

from .blas import numpy_blas_single_thread

numpy_blas_single_thread()

__version__ = "0.1.0"
