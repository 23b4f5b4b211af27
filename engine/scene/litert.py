"""Loading and running TensorFlow Lite models (the ADE20K segmenter, the BlazeFace detectors).

Google's LiteRT runtime (``ai-edge-litert``) runs the files as published. The alternatives were
worse here: ``tf2onnx`` converts the segmenter but onnxruntime refuses the result (a shape
mismatch at ``decoder/concat`` from atrous convolutions written as space-to-batch), and the
``mediapipe`` package pins numpy below 2. Interpreters are kept per file (loading costs
~30 ms, and a live session asks for the same model again and again); one lock per model,
because a LiteRT interpreter is not safe to call from two threads at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import weights
from ..errors import WeightsError

#: threads a model may use; the editor's render thread runs beside it on a 2-core laptop
THREADS = max(1, min(4, (os.cpu_count() or 2)))


@dataclass
class TFLiteModel:
    """One loaded model: its interpreter and the lock that serialises calls into it."""

    path: Path
    interpreter: object
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.interpreter.get_input_details()[0]["shape"])

    def run(self, array: np.ndarray) -> dict[str, np.ndarray]:
        """Run the model on one input array (shape and dtype as the model declares); outputs by name."""
        inp = self.interpreter.get_input_details()[0]
        want = tuple(int(d) for d in inp["shape"])
        if tuple(array.shape) != want:
            raise ValueError(f"{self.path.name} takes an input of shape {want}, got {tuple(array.shape)}")
        with self.lock:
            self.interpreter.set_tensor(inp["index"], np.ascontiguousarray(array, dtype=inp["dtype"]))
            self.interpreter.invoke()
            return {d["name"]: self.interpreter.get_tensor(d["index"]).copy()
                    for d in self.interpreter.get_output_details()}


#: what LiteRT's C++ logger writes to the process's stderr whenever an interpreter is made: in the
#: middle of the command line's progress bar, and nothing a user can act on
DELEGATE_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


@contextlib.contextmanager
def _quiet_delegate_notice():
    """Hold file descriptor 2 while an interpreter is made, then write back all but DELEGATE_NOTICE.

    The notice comes from C++ (no Python logger or environment variable turns it off), so only the
    descriptor can catch it; anything else written meanwhile (another thread's error) comes back."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (a GUI started without a console): nothing to quieten
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            rest = b"".join(line for line in held.readlines() if not line.startswith(DELEGATE_NOTICE))
            if rest:
                os.write(2, rest)


_cache: dict[tuple[str, float, int], TFLiteModel] = {}
_cache_lock = threading.Lock()


def runtime_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def load(weight_name: str, what: str, weights_dir: str | os.PathLike | None = None) -> TFLiteModel:
    """The model for manifest entry ``weight_name``, verified by sha256; ``what`` names it in errors.

    A missing runtime, a missing file or a damaged one is a :class:`WeightsError` that names the
    file and the command that fixes it; nothing else in Brushwork depends on these models.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise WeightsError(f"The {what} needs the LiteRT runtime, which is not installed: "
                           "pip install ai-edge-litert") from None
    path = weights.locate(weight_name, weights_dir)  # WeightsError naming the file when missing or corrupt
    st = path.stat()
    key = (str(path), st.st_mtime, st.st_size)
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            try:
                with _quiet_delegate_notice():
                    interpreter = Interpreter(model_path=str(path), num_threads=THREADS)
                    interpreter.allocate_tensors()
            except Exception as exc:  # LiteRT raises ValueError/RuntimeError on a bad flatbuffer
                entry = weights.load_manifest()[weight_name]
                raise WeightsError(f"The {what} model {path} cannot be loaded ({exc}). "
                                   f"Re-fetch it: {weights.fetch_command(entry)}") from None
            model = _cache[key] = TFLiteModel(path, interpreter)
    return model
