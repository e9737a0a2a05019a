"""Saving and loading model weights as safetensors (never pickles).

Each file keeps the model's constructor arguments in its metadata, so a file
alone rebuilds its model. Files are looked for in the local `weights/` folder
(or $DEHAZE_WEIGHTS_DIR) first; if missing and $DEHAZE_HUB_REPO names a Hugging
Face Hub repository, they are fetched from there unless HF_HUB_OFFLINE is set.
$DEHAZE_GENERATOR names another generator file to run as "gan" (a candidate
from a training run, or an earlier generator kept for comparison).
"""

import json
import os
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .gan import ResnetGenerator, ScatteringGenerator
from .mscnn import MSCNN

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MODEL_FILES = {"gan": "generator.safetensors", "mscnn": "mscnn.safetensors"}
MODEL_CLASSES = {"resnet": ResnetGenerator, "scattering": ScatteringGenerator, "mscnn": MSCNN}


def save_weights(model: torch.nn.Module, path, config: dict, **metadata) -> None:
    """Write a model's state dict with its constructor `config` and free-form metadata."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    text = {"config": json.dumps(config), **{k: str(v) for k, v in metadata.items()}}
    save_file(state, str(path), metadata=text)


def read_metadata(path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


RUN_SETTINGS = {"min_transmission", "max_airlight_scale", "ceiling_share", "max_cast"}  # no weight's shape depends on them


def reconfigure(path, out, **settings) -> None:
    """Copy a weights file with some of the constructor settings that no weight depends on changed.

    A scattering generator trained at the prior's airlight runs better with it raised
    (`ceiling_share`) than one trained at the raised airlight, which learns to undo it (model
    card, session 16): train at 0, then record the share it runs at.
    """
    unknown = set(settings) - RUN_SETTINGS
    if unknown:
        raise ValueError(f"only {', '.join(sorted(RUN_SETTINGS))} can change after training, not {', '.join(sorted(unknown))}")
    metadata = read_metadata(path)
    config = {**json.loads(metadata.get("config", "{}")), **settings}
    save_file(load_file(str(path)), str(out), metadata={**metadata, "config": json.dumps(config)})


def weights_path(name: str) -> Path:
    """Local file of model `name` ('gan' or 'mscnn'), else a Hub download when configured and online."""
    if name == "gan" and os.environ.get("DEHAZE_GENERATOR"):
        path = Path(os.environ["DEHAZE_GENERATOR"])
        if not path.is_file():
            raise FileNotFoundError(f"DEHAZE_GENERATOR names {path}, which is not a file")
        return path
    filename = MODEL_FILES[name]
    local = Path(os.environ.get("DEHAZE_WEIGHTS_DIR") or WEIGHTS_DIR) / filename
    if local.is_file():
        return local
    repo = os.environ.get("DEHAZE_HUB_REPO")
    if repo and os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True"):
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo, filename))
    raise FileNotFoundError(
        f"Weights {filename} not found in {local.parent}. Train them with `python -m dehaze.training.train {name}` "
        "or set DEHAZE_HUB_REPO to a Hugging Face repository that holds them."
    )


def architecture(name: str, metadata: dict) -> str:
    """The architecture of model `name` that a file's metadata describes: generators name theirs
    ("scattering"); files written before there were two are ResNet generators."""
    return metadata.get("architecture", "resnet" if name == "gan" else name)


def load_model_file(name: str, path) -> torch.nn.Module:
    """Rebuild model `name` from a weights file; a file this version cannot build raises a ValueError saying why."""
    try:
        metadata = read_metadata(path)
    except SafetensorError as error:
        raise ValueError(f"{path} is not a safetensors weights file ({error})") from None
    kind = architecture(name, metadata)
    if kind not in MODEL_CLASSES:
        raise ValueError(f"{path} holds a {kind!r} model; this version builds {', '.join(MODEL_CLASSES)}")
    try:
        model = MODEL_CLASSES[kind](**json.loads(metadata.get("config", "{}")))
        model.load_state_dict(load_file(str(path)))
    except (TypeError, RuntimeError) as error:
        raise ValueError(f"{path} was written for another version of the {kind} model: {error}") from None
    return model.eval().requires_grad_(False)


def load_model(name: str) -> torch.nn.Module:
    """The trained model `name` ('gan' or 'mscnn'), in eval mode on the GPU if there is one, cached per file."""
    return cached_model(name, weights_path(name))


@lru_cache(maxsize=None)
def cached_model(name: str, path: Path) -> torch.nn.Module:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_model_file(name, path).to(device)
