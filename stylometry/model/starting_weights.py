"""Where a model's weights start when not from scratch: a saved GPT-2 folder (init=pretrained, or a background model's
final checkpoint with init=background), read and checked, and the hash that makes those weights part of a run's
identity.

    python -m stylometry.train -m init=pretrained init.path=/models/distilgpt2 'author=glob(*)' 'seed=range(5)'
"""

import dataclasses
import hashlib
import json
from pathlib import Path

import torch
from transformers.utils import SAFE_WEIGHTS_NAME, WEIGHTS_NAME

from stylometry.config.schema import PRETRAINED, ConfigError, ModelConfig, TrainConfig

WEIGHT_FILES = (SAFE_WEIGHTS_NAME, WEIGHTS_NAME)  # save_pretrained's, newest first


def weights_file(folder: Path, key: str) -> Path:
    """The folder's weights file; a ConfigError naming `key` (the setting or run that named the folder) if none."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"{key}: {folder} holds no {' or '.join(WEIGHT_FILES)}: pass a folder saved with save_pretrained")


def pretrained_model_config(path: str, model: ModelConfig) -> ModelConfig:
    """The run's model settings for init=pretrained: the folder's widths, depth and vocabulary; model.n_positions
    (the training windows) at most the folder's context, and model.dropout, as configured."""
    folder = Path(path).expanduser()
    key = f"init.path={path}"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{key}: no config.json there: pass a local folder saved with save_pretrained (a GPT-2)")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{key}: its config.json cannot be read ({error}): save the model again") from None
    if config.get("model_type") != "gpt2":
        raise ConfigError(
            f"{key} holds a {config.get('model_type', 'unknown')} model: init=pretrained takes a GPT-2 "
            "(gpt2, distilgpt2, or one saved by this project)"
        )
    weights_file(folder, key)
    vocabulary = _tokenizer_size(folder)
    if vocabulary is not None and config["vocab_size"] < vocabulary:
        raise ConfigError(
            f"{key}: its model's vocabulary ({config['vocab_size']:,}) is smaller than its tokenizer's "
            f"({vocabulary:,}): pass a folder whose model and tokenizer were saved together"
        )
    if model.n_positions > config["n_positions"]:
        raise ConfigError(
            f"model.n_positions={model.n_positions} exceeds the context of {key} ({config['n_positions']}): lower it"
        )
    return dataclasses.replace(
        model,
        n_embd=config["n_embd"],
        n_layer=config["n_layer"],
        n_head=config["n_head"],
        vocab_size=config["vocab_size"],
    )


def with_starting_model(cfg: TrainConfig) -> TrainConfig:
    """The run's config with the model it starts as: init=pretrained's folder's architecture (pretrained_model_config);
    any other init, the config as it is. The trainer and `status --plan` both read a run's model so."""
    if cfg.init.name != PRETRAINED:
        return cfg
    return dataclasses.replace(cfg, model=pretrained_model_config(cfg.init.path, cfg.model))


def _tokenizer_size(folder: Path) -> int | None:
    """The folder's tokenizer's vocabulary, read from its files before transformers (which warns, at length, of a model
    config that does not fit its tokenizer); None where it has no GPT-2 tokenizer file."""
    if (folder / "vocab.json").is_file():
        return len(json.loads((folder / "vocab.json").read_text()))
    if (folder / "tokenizer.json").is_file():
        return len(json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"])
    return None


def load_starting_weights(model: torch.nn.Module, folder: Path) -> None:
    """Copies a saved GPT-2's weights into `model`, built with the same widths; where the model's context is shorter,
    the first rows of the position table are kept (the positions its windows use)."""
    from transformers import GPT2LMHeadModel

    source = GPT2LMHeadModel.from_pretrained(folder).state_dict()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            value = source[name]
            if name.endswith("wpe.weight"):
                value = value[: parameter.shape[0]]
            if value.shape != parameter.shape:
                raise ConfigError(f"{folder}: {name} is {tuple(value.shape)}, the model's {tuple(parameter.shape)}")
            parameter.copy_(value)


def weights_sha256(folder: Path) -> str:
    """The hash of a folder's weights file: a run that starts from other weights is another run."""
    with open(weights_file(folder, str(folder)), "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
