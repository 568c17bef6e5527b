"""Sample text from a run's model, offline.

    python -m stylometry.generate outputs/corpus/smoke/baseline/baum/seed=0 prompt="Dorothy looked at the"
    python -m stylometry.generate <run dir> prompt="..." checkpoint=latest temperature=0.8 top_k=40 seed=1
    python -m stylometry.generate <run dir> prompt="..." num_samples=3 format=jsonl

The knobs are `conf/generate.yaml`, typed by `GenerateConfig`: a misspelt key or a wrong type
fails with one line. The first argument is always the run dir (its name may hold `=`); the prompt is
taken as is, without Hydra's quoting rules. stdout holds only the samples (prompt + continuation);
what was loaded, and any truncation, goes to stderr. Every bad input (no run dir, no checkpoint, an
unreadable one, no tokenizer) is one line on stderr and exit code 2.

The checkpoint (stylometry/runs/loading.py: choose_checkpoint): `best` is the run's best checkpoint (the lowest
validation loss) when it has one, else the latest; `latest` is its final checkpoint, else the previous one between
a save's two renames. The tokenizer is the one the run trained with (the folder its manifest recorded, else its
data.tokenizer; a relative folder is also
tried from the dir training ran in), unless `tokenizer=` names one: attribute and analyze find it the
same way (stylometry/runs/manifest.py: run_inputs). Nothing is downloaded: the hub
is offline unless HF_HUB_OFFLINE says otherwise.
"""

import contextlib
import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from stylometry.config.schema import DeviceConfig, first_line
from stylometry.config.schema import register_configs as register_train_configs
from stylometry.runs.layout import BEST, BEST_OLD, CHECKPOINT, PREVIOUS, read_run_config, run_dir_tail
from stylometry.runs.loading import CHECKPOINT_NAMES, LoadError, choose_checkpoint, load_model, run_tokenizer

log = logging.getLogger("stylometry.generate")

USAGE = 'usage: python -m stylometry.generate <run dir> prompt="..." [key=value ...]   (keys: conf/generate.yaml)'


class GenerateError(ValueError):
    """Bad input; the message says what to do."""


@dataclass
class GenerateConfig:
    prompt: str = MISSING  # taken as is; "" starts from <|endoftext|>
    checkpoint: str = "best"  # best (checkpoint.best/ if present, else the latest) | latest
    tokenizer: Optional[str] = None  # null: the run's data.tokenizer
    max_new_tokens: int = 50
    temperature: float = 1.0
    top_k: int = 50  # 0: no top-k cut
    top_p: float = 1.0  # 1.0: no nucleus cut
    seed: int = 0  # sample i draws with seed + i, so any one sample can be drawn again alone
    num_samples: int = 1
    format: str = "text"  # text | jsonl
    device: DeviceConfig = MISSING  # the training's device group (conf/device/): cpu, cuda, mps or auto

    def __post_init__(self):
        if self.checkpoint not in ("best", "latest"):
            raise GenerateError(f"checkpoint={self.checkpoint}: choose best or latest")
        if self.max_new_tokens < 1 or self.num_samples < 1:
            raise GenerateError("max_new_tokens and num_samples must be at least 1")
        if self.temperature <= 0:
            raise GenerateError(f"temperature={self.temperature} must be positive")
        if self.top_k < 0:
            raise GenerateError(f"top_k={self.top_k} must be >= 0 (0: no top-k cut)")
        if not 0 < self.top_p <= 1:
            raise GenerateError(f"top_p={self.top_p} must be in (0, 1]")
        if self.format not in ("text", "jsonl"):
            raise GenerateError(f"format={self.format}: choose text or jsonl")


def register_configs() -> None:
    register_train_configs()  # the device group's schema
    ConfigStore.instance().store(name="base_generate", node=GenerateConfig)


def hydra_quoted(key: str, value: str) -> str:
    """`key=value` as a Hydra override whose value arrives verbatim: commas, quotes, `${`, backslashes and all."""
    value = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)  # no interpolation (OmegaConf's escape)
    value = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value)  # backslashes before a quote (Hydra's escape)
    return f"{key}='" + value.replace("'", "\\'") + "'"


def compose_config(overrides: List[str]) -> GenerateConfig:
    from stylometry.config.compose import compose

    register_configs()
    overrides = [hydra_quoted("prompt", o[len("prompt=") :]) if o.startswith("prompt=") else o for o in overrides]
    cfg = compose("generate", overrides)  # a ConfigError of one line naming the override, and the nearest key
    unknown = set(cfg) - set(GenerateConfig.__dataclass_fields__)  # `+key=...` slips past the schema
    if unknown:
        raise GenerateError(f"unknown key {sorted(unknown)[0]}: the keys are those of conf/generate.yaml")
    if OmegaConf.is_missing(cfg, "prompt"):
        raise GenerateError('no prompt: add prompt="..." (prompt="" samples from nothing)')
    try:
        return OmegaConf.to_object(cfg)
    except GenerateError:
        raise
    except Exception as error:
        raise GenerateError(first_line(error)) from None


def _loaded(load, *args):
    """load(*args) of stylometry.runs.loading, its LoadError said with what to do here."""
    try:
        return load(*args)
    except LoadError as error:
        raise GenerateError(f"{error}: {_hint(error.path)}") from None


def _hint(path: Path) -> str:
    if not path.exists():
        return f"pass the dir of a trained run, e.g. outputs/corpus/smoke/{run_dir_tail('baseline', 'baum', 0)}"
    if path.name in CHECKPOINT_NAMES:
        return _other_checkpoint_hint(path)
    return "train it first (python -m stylometry.train ...), or pass another run dir"


def _other_checkpoint_hint(path: Path) -> str:
    if path.name in (BEST, BEST_OLD):
        return "sample from the latest one with checkpoint=latest"
    if path.name == CHECKPOINT and (path.parent / PREVIOUS).is_dir():
        return f"move {CHECKPOINT}/ aside to sample from {PREVIOUS}/"
    return "train the run again, or pass another run dir"


def load_run_tokenizer(cfg: GenerateConfig, run_dir: Path):
    from stylometry.data.tokenizer import load_tokenizer

    try:
        name = cfg.tokenizer or run_tokenizer(run_dir)
    except LoadError as error:
        raise GenerateError(f"{error}: pass tokenizer=/path/to/tokenizer") from None
    try:
        tokenizer = load_tokenizer(name)
    except Exception:
        where = "tokenizer=" if cfg.tokenizer else f"the run's data.tokenizer, in the config of {run_dir}"
        raise GenerateError(
            f"cannot load the tokenizer {name!r} ({where}; nothing is downloaded): pass tokenizer=/path/to/tokenizer, "
            "a folder with vocab.json and merges.txt"
            + ("" if cfg.tokenizer else ", or set STYLOMETRY_TOKENIZER as in training")
        ) from None
    log.info("tokenizer %s", name)
    return tokenizer


def prompt_ids(tokenizer, prompt: str, context: int, max_new_tokens: int) -> List[int]:
    """The prompt's tokens the model sees: its last ones, so that they and the new tokens fit the context."""
    from stylometry.data.tokenizer import encode

    if max_new_tokens >= context:
        raise GenerateError(
            f"max_new_tokens={max_new_tokens} leaves no room for the prompt in this model's context of {context} "
            f"tokens: use max_new_tokens<={context - 1}"
        )
    ids = encode(tokenizer, prompt)
    if not ids:  # no prompt: start where a document starts
        if tokenizer.eos_token_id is None:
            raise GenerateError(
                "the prompt is empty and the tokenizer has no <|endoftext|> to start from: give a prompt"
            )
        return [tokenizer.eos_token_id]
    room = context - max_new_tokens
    if len(ids) > room:
        log.warning(
            "the prompt is %d tokens and the context %d: the model sees its last %d tokens (+ %d new)",
            len(ids),
            context,
            room,
            max_new_tokens,
        )
        ids = ids[-room:]
    return ids


def generate(cfg: GenerateConfig, run_dir: Path) -> List[str]:
    """The samples, each the prompt followed by its continuation."""
    checkpoint = _loaded(choose_checkpoint, run_dir, cfg.checkpoint)
    # Imported here, not at the top: the checks above answer in a second, without torch's import.
    import torch
    from transformers import GenerationConfig

    from stylometry.hardware.device import choose_placement, detect

    placement = choose_placement(cfg.device, detect())
    if placement.device == "cpu" and cfg.device.num_threads:
        torch.set_num_threads(cfg.device.num_threads)
    _quiet_transformers()
    tokenizer = load_run_tokenizer(cfg, run_dir)
    model = _loaded(load_model, checkpoint, placement.device)
    log.info("sampling from %s on %s (%s)", checkpoint, placement.device, placement.precision)
    if len(tokenizer) > model.config.vocab_size:
        raise GenerateError(
            f"the tokenizer has {len(tokenizer)} tokens, the model {model.config.vocab_size}: "
            "pass the run's own tokenizer with tokenizer=/path/to/tokenizer"
        )
    _note_variant(run_dir)
    ids = prompt_ids(tokenizer, cfg.prompt, model.config.n_positions, cfg.max_new_tokens)
    input_ids = torch.tensor([ids], device=placement.device)
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else model.config.eos_token_id
    sampling = GenerationConfig(
        do_sample=True,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        max_new_tokens=cfg.max_new_tokens,
        eos_token_id=end,
        pad_token_id=end,
    )
    samples = []
    for i in range(cfg.num_samples):
        torch.manual_seed(cfg.seed + i)  # seeds every device; generate draws from torch's global RNG
        with torch.no_grad(), placement.autocast():
            out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), generation_config=sampling)
        new = out[0, len(ids) :].tolist()
        # The prompt as given (not re-decoded), so the output starts with it byte for byte.
        samples.append(cfg.prompt + tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False))
    return samples


def _note_variant(run_dir: Path) -> None:
    try:
        variant = read_run_config(run_dir).variant
        if variant.transform != "identity":
            log.info("this model learned the %s variant's text: write the prompt in that form", variant.name)
    except Exception:
        pass  # a note only


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__ + "\n" + USAGE)
        return
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub name resolves from the local cache only, never the network
    try:
        if not argv:
            raise GenerateError(USAGE)
        if _is_override(argv[0]):
            raise GenerateError(f"the first argument is the run dir: {USAGE}")
        run_dir, overrides = Path(argv[0]), argv[1:]
        cfg = compose_config(overrides)
        with contextlib.redirect_stdout(sys.stderr):  # stdout holds the samples and nothing else
            samples = generate(cfg, run_dir)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        print(f"error: {first_line(error)}", file=sys.stderr)  # one line that says what to do, never a traceback
        sys.exit(2)
    if cfg.format == "jsonl":
        print("\n".join(json.dumps({"seed": cfg.seed + i, "text": text}) for i, text in enumerate(samples)))
    else:
        print("\n\n".join(samples))


def _is_override(arg: str) -> bool:
    """`prompt=...` where the run dir belongs (a run dir's own name may hold `=`, as in seed=0)."""
    return "=" in arg and arg.split("=")[0] in GenerateConfig.__dataclass_fields__ and not Path(arg).exists()


def _quiet_transformers() -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars
    transformers_logging.set_verbosity_error()


if __name__ == "__main__":
    main()
