"""Brushwork's desktop editor (PySide6). Talks to the engine only; never imports a plugin."""
