"""Layered export: the photo, each region, the render and kept results as named layers that
Krita, GIMP and Photoshop open (OpenRaster, layered TIFF, PSD), written strip by strip at any size.

``stack`` says what the layers are and where their pixels come from; ``ora``, ``tiff`` and
``psd`` write one format each; ``layered_export`` renders a job and writes its layers.
"""

from .layered_export import KeptPicture, LayersReport, WRITERS, export_layers, layers_format
from .stack import Layer, LayerStack

__all__ = ["export_layers", "layers_format", "KeptPicture", "LayersReport", "Layer", "LayerStack", "WRITERS"]
