"""The ``semantic`` segmenter plugin: sky, buildings, plants, water, people... from an ADE20K model.

- :mod:`.groups`: the class-to-group table (data, declared once);
- :mod:`.model`: the TFLite model and its labels, run on one 513 px window;
- :mod:`.reading`: how a photo of any size is read (whole, tiles, both);
- :mod:`.segmenter`: :class:`SemanticSegmenter`, its parameters and its cache.
"""

from .segmenter import SemanticParams, SemanticSegmenter

__all__ = ["SemanticParams", "SemanticSegmenter"]
