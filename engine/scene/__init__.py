"""What is in a photo: semantic groups (sky, buildings, people), faces, and keeping their shape.

A family of concepts that belong together, kept out of the engine's flat modules:

- :mod:`.litert` runs the TensorFlow Lite models (the ADE20K segmenter, BlazeFace) with clear
  errors when the runtime or a file is missing or damaged;
- :mod:`.faces` finds faces and turns them into soft ellipses;
- :mod:`.keep_shape` keeps a photo's structure inside a protected area, once for every strategy.

The ``semantic`` segmenter itself is a plugin (``plugins/segment_semantic``), found through its
entry point like any other; it uses :mod:`.litert` from here.
"""
