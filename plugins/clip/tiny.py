"""A tiny random CLIP, for tests and benches on machines that cannot get real CLIP weights.

It is written as an open_clip ``local-dir:`` folder (``open_clip_config.json`` plus a
safetensors checkpoint), so loading it goes through exactly the code path a real downloaded
model takes: open_clip's config parsing, checkpoint loading, tokenizer and normalisation.
Its random weights make the losses meaningful only as functions to minimise, not as taste.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: ViT-B-32's layout, shrunk: 2 layers per tower, narrow, 64 px input with 16 px patches
TINY_CONFIG: dict = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}



def builtin_config(name: str) -> dict:
    """open_clip's own architecture config for ``name`` (e.g. ViT-B-32), to time it with random weights."""
    from open_clip import get_model_config

    cfg = get_model_config(name)
    if cfg is None:
        raise ValueError(f"open_clip has no model config '{name}'")
    return cfg

CHECKPOINT_NAME = "open_clip_model.safetensors"


def write_config(folder: str | Path, config: dict | None = None) -> Path:
    """Write an open_clip config folder (no weights yet); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config or TINY_CONFIG, "preprocess_cfg": {}}))
    return folder


def write_random_model(folder: str | Path, seed: int = 0, config: dict | None = None) -> str:
    """Write a random CLIP (the tiny one unless ``config`` says otherwise) into ``folder``;
    returns the model name to use (``local-dir:...``)."""
    import open_clip
    from safetensors.torch import save_file

    folder = write_config(folder, config)
    torch.manual_seed(seed)
    net = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / CHECKPOINT_NAME))
    return f"local-dir:{folder}"
