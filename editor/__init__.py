"""Brushwork's desktop editor (PySide6). Talks to the engine only; never imports a plugin."""

import engine  # noqa: F401  (sets torch's OpenMP policy, engine.openmp, before an editor module imports torch)
