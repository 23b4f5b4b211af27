"""Batches: one style setup over many pictures and clips, resumable, on one machine or a cluster.

- :mod:`.settings`: :class:`BatchSettings`, everything ``brushwork render`` takes but the input
- :mod:`.item`: :class:`BatchItem`, one input; :class:`ItemRenderer` renders it in any process
- :mod:`.inputs`: files, folders and globs expanded into items
- :mod:`.manifest`: the resumable record beside the outputs
- :mod:`.run`: :func:`run_batch`, the driver, with the local executor
- :mod:`.jobfile`: the TOML job file
- :mod:`.command`: the ``brushwork batch`` subcommand
"""

from .item import BatchItem, ItemRenderer, ItemResult
from .settings import BatchSettings

__all__ = ["BatchItem", "BatchSettings", "ItemRenderer", "ItemResult"]
