"""Brushwork's engine: style transfer without any user interface.

Nothing in this package imports Qt, the editor or a plugin; strategies are found through
entry points (see :mod:`engine.registry`).
"""

from .openmp import passive_openmp_wait

passive_openmp_wait()  # before anything imports torch

from .blas import numpy_blas_single_thread  # noqa: E402

numpy_blas_single_thread()

__version__ = "0.1.0"
