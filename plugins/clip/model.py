"""Loading a CLIP model through open_clip, and encoding text and images with it.

Weights come only through open_clip's own loading: a pretrained tag (from its cache, or
downloaded when online) or a local checkpoint file. Brushwork never ships or fetches CLIP
weights itself, so a missing file must end in an error that says which file and where it goes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.errors import InputError, WeightsError

#: OpenAI CLIP normalisation, open_clip's default when a model's config names none
_DEFAULT_MEAN = (0.48145466, 0.4578275, 0.40821073)
_DEFAULT_STD = (0.26862954, 0.26130258, 0.27577711)

#: how CLIPstyler embeds a prompt: averaged over a few phrasings, so one wording does not dominate
PROMPT_TEMPLATES = (
    "{}",
    "a photo of {}.",
    "a rendering of {}.",
    "a picture of {}.",
    "an image of {}.",
)


@dataclass(frozen=True, eq=False)
class ClipModel:
    """A frozen open_clip model with its tokenizer and the image normalisation it was trained with."""

    net: torch.nn.Module
    tokenizer: object
    mean: torch.Tensor
    std: torch.Tensor
    image_size: tuple[int, int]
    description: str

    @torch.no_grad()
    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """Unit-length text embedding (1xD) of ``prompt``, averaged over PROMPT_TEMPLATES."""
        tokens = self.tokenizer([t.format(prompt) for t in PROMPT_TEMPLATES]).to(self.mean.device)
        emb = F.normalize(self.net.encode_text(tokens).float(), dim=-1).mean(0, keepdim=True)
        return F.normalize(emb, dim=-1)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings (NxD) of RGB images in [0, 1]; resized to the model's input size."""
        if tuple(images.shape[-2:]) != self.image_size:
            images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False, antialias=True)
        x = (images - self.mean) / self.std
        return F.normalize(self.net.encode_image(x).float(), dim=-1)


def _image_size(net: torch.nn.Module) -> tuple[int, int]:
    size = getattr(net.visual, "image_size", 224)
    return (size, size) if isinstance(size, int) else tuple(size)  # type: ignore[return-value]


def _normalisation(net: torch.nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = getattr(net.visual, "preprocess_cfg", None) or {}
    mean = cfg.get("mean") or _DEFAULT_MEAN
    std = cfg.get("std") or _DEFAULT_STD
    return (torch.tensor(mean, device=device).view(1, 3, 1, 1), torch.tensor(std, device=device).view(1, 3, 1, 1))


@dataclass(frozen=True)
class PretrainedFile:
    """Where open_clip fetches a pretrained tag from: a Hugging Face repo and file names, or a URL."""

    repo: str = ""
    filenames: tuple[str, ...] = ()
    url: str = ""

    def describe(self) -> str:
        if self.repo:
            return f"{' or '.join(self.filenames)} from https://huggingface.co/{self.repo}"
        return self.url


def pretrained_file(model: str, pretrained: str) -> tuple[PretrainedFile, dict]:
    """The file behind ``pretrained`` and open_clip's config for that tag; InputError for unknown tags."""
    import open_clip
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(model.replace("/", "-"), pretrained)
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise InputError(f"open_clip has no pretrained tag '{pretrained}' for model '{model}'; its tags: {tags}. "
                         "Or set checkpoint= to a local weights file.")
    hub = cfg.get("hf_hub", "")
    if hub:
        repo, filename = os.path.split(hub)
        names = (HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME) if not filename else (filename,)
        if filename.endswith((".bin", ".pth")):
            names = (filename[:-4] + ".safetensors", filename)
        return PretrainedFile(repo=repo, filenames=names), cfg
    return PretrainedFile(url=cfg.get("url", "")), cfg


def _cached(where: PretrainedFile, cache_dir: str) -> str | None:
    """The tag's file if it is already in the Hugging Face cache (no network)."""
    if not where.repo:
        return None
    from huggingface_hub import try_to_load_from_cache

    for name in where.filenames:
        found = try_to_load_from_cache(where.repo, name, cache_dir=cache_dir or None)
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def _hub_reachable() -> bool:
    """False when offline mode is on or the hub's name does not resolve: then downloading would
    only retry for a minute before failing, so say what is missing at once."""
    import socket

    from huggingface_hub import constants

    if constants.is_offline_mode():
        return False
    try:
        socket.getaddrinfo("huggingface.co", 443)
    except OSError:
        return False
    return True


def _hf_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub is an open_clip dependency
        return "~/.cache/huggingface/hub"


def _create(model: str, **kwargs) -> torch.nn.Module:
    import open_clip

    try:
        return open_clip.create_model(model, **kwargs)
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"CLIP model '{model}' could not be built: {exc}") from exc
    except RuntimeError as exc:
        if "not found in built-ins" in str(exc):
            raise InputError(f"Unknown CLIP model '{model}'. Use an open_clip model name (e.g. ViT-B-32) "
                             "or local-dir:FOLDER holding open_clip_config.json.") from exc
        raise


def load_clip(model: str, pretrained: str = "", checkpoint: str = "", cache_dir: str = "",
              device: torch.device | str = "cpu") -> ClipModel:
    """Build ``model`` with open_clip and load its weights; WeightsError says what is missing and where."""
    import open_clip

    device = torch.device(device)
    local_dir = model.startswith("local-dir:")
    if not local_dir and not model.startswith("hf-hub:") and model.replace("/", "-") not in open_clip.list_models():
        raise InputError(f"Unknown CLIP model '{model}'. Use an open_clip model name (e.g. ViT-B-32) "
                         "or local-dir:FOLDER holding open_clip_config.json.")
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsError(f"CLIP checkpoint '{path}' does not exist. Point checkpoint= at the weights file "
                               f"of '{model}' (.safetensors, .bin or .pt).")
        try:
            if local_dir or model.startswith("hf-hub:"):
                net = _create(model, load_weights=False)
                open_clip.load_checkpoint(net, str(path))
            else:
                net = _create(model, pretrained=str(path))
        except InputError:
            raise
        except Exception as exc:
            raise WeightsError(f"CLIP checkpoint '{path}' could not be loaded into '{model}': it is corrupt or "
                               f"made for another model ({type(exc).__name__}: {str(exc)[:200]}).") from exc
        source = str(path)
    elif local_dir:
        from open_clip.factory import _find_checkpoint_in_dir

        folder = Path(model.removeprefix("local-dir:")).expanduser()
        if folder.is_dir() and _find_checkpoint_in_dir(folder) is None:
            raise WeightsError(f"The CLIP folder '{folder}' holds no weights: put open_clip_model.safetensors "
                               "(or open_clip_pytorch_model.bin) beside its open_clip_config.json, or set checkpoint=.")
        try:
            net = _create(model)
        except InputError:
            raise
        except Exception as exc:
            raise WeightsError(f"The CLIP weights in '{folder}' could not be loaded: {str(exc)[:200]}") from exc
        source = str(folder)
    elif model.startswith("hf-hub:"):
        try:
            net = _create(model, cache_dir=cache_dir or None)
        except InputError:
            raise
        except Exception as exc:
            raise WeightsError(f"CLIP model {model} could not be fetched from the Hugging Face hub ({str(exc)[:160]}). "
                               "Offline: download that repository's folder elsewhere and use model=local-dir:FOLDER.") from exc
        source = model
    else:
        if not pretrained:
            raise InputError(f"CLIP model '{model}' needs a pretrained tag or a checkpoint file; "
                             "random weights would only paint noise.")
        where, tag_cfg = pretrained_file(model, pretrained)
        missing = (f"CLIP weights for {model} ({pretrained}) are not on this machine. Needed: {where.describe()}. "
                   f"Run once online to fill the Hugging Face cache ({cache_dir or _hf_cache()}), or download "
                   "the file and set checkpoint=/path/to/that/file.")
        cached = _cached(where, cache_dir)
        if cached is None and not _hub_reachable():
            raise WeightsError(missing + " (The hub cannot be reached: offline.)")
        try:
            if cached is not None:
                # Load the cached file directly (no network), with the tag's activation and normalisation.
                preprocess = {k: tag_cfg[k] for k in ("mean", "std") if k in tag_cfg}
                net = _create(model, pretrained=cached, force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                              force_preprocess_cfg=preprocess or None)
            else:
                net = _create(model, pretrained=pretrained, cache_dir=cache_dir or None)
        except InputError:
            raise
        except Exception as exc:
            raise WeightsError(f"{missing} ({type(exc).__name__}: {str(exc)[:160]})") from exc
        source = f"{pretrained}"
    net = net.to(device).eval().requires_grad_(False)
    try:
        tokenizer = open_clip.get_tokenizer(model, cache_dir=cache_dir or None)
    except Exception as exc:
        raise WeightsError(f"The tokenizer of CLIP model '{model}' could not be loaded ({str(exc)[:160]}); "
                           "models with a Hugging Face tokenizer need it in the local cache.") from exc
    mean, std = _normalisation(net, device)
    return ClipModel(net, tokenizer, mean, std, _image_size(net), f"{model} ({source})")


_cache: dict[tuple[str, ...], ClipModel] = {}
_lock = threading.Lock()


def get(model: str, pretrained: str = "", checkpoint: str = "", cache_dir: str = "",
        device: torch.device | str = "cpu") -> ClipModel:
    """A shared instance per (model, weights, device): building ViT-B-32 takes seconds, so do it once."""
    key = (model, pretrained, checkpoint, cache_dir, str(device))
    with _lock:
        if key not in _cache:
            _cache[key] = load_clip(model, pretrained, checkpoint, cache_dir, device)
        return _cache[key]
