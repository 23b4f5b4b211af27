"""Brushwork's engine: style transfer without any user interface.

Nothing in this package imports Qt, the editor or a plugin; strategies are found through
entry points (see :mod:`engine.registry`).
"""

__version__ = "0.1.0"
