"""The typed run config: one dataclass per config group, registered in Hydra's ConfigStore.

    python -m stylometry.train --cfg job author=baum    # print the composed config

Each YAML option in `conf/<group>/` extends its group's schema (`/schema/<group>`), so a misspelt key
or a wrong type fails when Hydra composes the config. Cross-field rules live in `__post_init__`
and run once, when `to_run_config` turns the DictConfig into these objects; they check, they never
rewrite, and each message names the key to change.
"""

import difflib
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key and what to do."""


def first_line(error: BaseException) -> str:
    """An error's message as the one line a command prints (its type's name if it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# Names that end up in paths (run dirs, corpus folders): a plain word, so `../../etc` cannot escape.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_name(key: str, value: str) -> None:
    if not _SAFE_NAME.match(value) or ".." in value:
        raise ConfigError(f"{key}={value!r}: use letters, digits, '_', '-' or '.' only (it names a folder)")


SCRATCH, PRETRAINED, BACKGROUND = "scratch", "pretrained", "background"  # how a model's weights start (init.name)
# The background model's run name (its `author`, and its run dir's folder beside the authors'): check_name refuses
# a leading "_" for every author folder, so no author can be named so.
BACKGROUND_RUN = "_background"


@dataclass
class AuthorConfig:
    name: str = MISSING  # the author's folder under data.root, and the run's identity
    # Folders under data.root evaluated as extra sets for this author's models (e.g. the contested book).
    extra_eval_sets: List[str] = field(default_factory=list)

    def __post_init__(self):
        if self.name != BACKGROUND_RUN:  # the one name no author folder can have
            check_name("author.name", self.name)
        for folder in self.extra_eval_sets:
            check_name("author.extra_eval_sets", folder)


@dataclass
class ModelConfig:
    # GPT-2 shape; the study: context 1024, width 128, 8 layers, 8 heads, GPT-2's 50,257 tokens.
    n_positions: int = 1024
    n_embd: int = 128
    n_layer: int = 8
    n_head: int = 8
    vocab_size: int = 50257
    dropout: float = 0.1  # GPT2Config's default, which the study kept (embd, attn and resid dropout)

    def __post_init__(self):
        for key in ("n_positions", "n_embd", "n_layer", "n_head", "vocab_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}={getattr(self, key)} must be at least 1")
        if self.n_embd % self.n_head:
            raise ConfigError(f"model.n_embd={self.n_embd} must be divisible by model.n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout} must be in [0, 1)")


DATA_KINDS = ("corpus", "text")
# What ships inside the package (its README.md: sources and licences): GPT-2's tokenizer (vocab.json, merges.txt),
# the default data.tokenizer, and the demo corpus (the study's books, each cut to its opening), the default data.root.
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "data" / "bundled"
BUNDLED_TOKENIZER = str(BUNDLED_DIR / "gpt2")
DEMO_CORPUS = BUNDLED_DIR / "demo"
# The study's corpus (its repository's data/cleaned/): extra evaluation sets and the variants' copies of the books.
STUDY_NOT_AUTHORS = ("contested", "non_oz_baum", "non_oz_thompson", "content_only", "function_only", "pos_only")
VAL_SPLITS = ("fraction", "files", "given")


@dataclass
class DataConfig:
    """What every kind of data shares; its two kinds are the schemas below (conf/data/corpus.yaml, text.yaml)."""

    kind: str = MISSING  # corpus | text
    root: str = MISSING  # corpus: one folder of .txt books per author, plus the extra sets; text: the texts' folder
    tokenizer: str = BUNDLED_TOKENIZER  # a local tokenizer folder (or a hub name, on a machine that reaches the hub)
    # Training tokens per model. corpus: null is the study's rule on this corpus (the most tokens every
    # author's training text holds, whichever book is held out: 643,041 on the study's corpus);
    # text: the first this many of the training split, null for all of it.
    n_train_tokens: Optional[int] = None
    batch_size: int = 16  # windows per batch, over all processes of a data-parallel job
    eval_batch_size: int = 16
    # Cap on the tokens evaluated per evaluation text (its first tokens); null evaluates it whole.
    eval_max_tokens: Optional[int] = None
    # Evaluation windows start every eval_stride tokens and score only the tokens no earlier window
    # scored, so each scored token sees more context; null: model.n_positions (non-overlapping, the study's).
    eval_stride: Optional[int] = None
    # Token arrays are cached here once per (book, variant, tokenizer), shared by all jobs.
    cache_dir: str = "~/.cache/stylometry"

    def __post_init__(self):
        if self.kind not in DATA_KINDS:
            raise ConfigError(f"data.kind={self.kind!r}: choose corpus or text")
        if self.n_train_tokens is not None and self.n_train_tokens < 2:
            raise ConfigError(f"data.n_train_tokens={self.n_train_tokens} must be at least 2")
        if self.eval_stride is not None and self.eval_stride < 1:
            raise ConfigError(f"data.eval_stride={self.eval_stride} must be at least 1, or null")
        for key in ("batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"data.{key}={getattr(self, key)} must be at least 1")
        if self.eval_max_tokens is not None and self.eval_max_tokens < 2:
            raise ConfigError(f"data.eval_max_tokens={self.eval_max_tokens} must be at least 2, or null")


@dataclass
class CorpusDataConfig(DataConfig):
    """A corpus of author folders (stylometry/data/corpus.py), one held-out book per author and seed."""

    kind: str = "corpus"
    # Every model is evaluated on the held-out book of each of these authors; empty: every author folder.
    authors: List[str] = field(default_factory=list)
    # Folders under root that are not authors: extra evaluation texts, the study's variant folders.
    not_authors: List[str] = field(default_factory=lambda: list(STUDY_NOT_AUTHORS))
    # With n_train_tokens null: the corpus's rule, but at most this many (a preset's budget that still fits a
    # smaller corpus). The run's identity holds the resolved n_train_tokens, so the cap itself is not part of it.
    max_train_tokens: Optional[int] = None

    def __post_init__(self):
        super().__post_init__()
        for name in [*self.authors, *self.not_authors]:
            check_name("data.authors", name)
        if self.max_train_tokens is not None and self.max_train_tokens < 2:
            raise ConfigError(f"data.max_train_tokens={self.max_train_tokens} must be at least 2, or null")


@dataclass
class TextDataConfig(DataConfig):
    """Any folder of .txt files, split into training and validation text."""

    kind: str = "text"
    name: str = "text"  # the run dir's third level (where a study run has its author)
    files: List[str] = field(default_factory=list)  # paths or globs under root; empty: every .txt below root
    # fraction: the last val_fraction of each file's tokens; files: a seeded val_fraction of the files, whole;
    # given: the files listed in val_files.
    val_split: str = "fraction"
    val_fraction: float = 0.1
    val_files: List[str] = field(default_factory=list)  # paths or globs under root, for val_split=given

    def __post_init__(self):
        super().__post_init__()
        check_name("data.name", self.name)
        if self.val_split not in VAL_SPLITS:
            raise ConfigError(f"data.val_split={self.val_split!r}: choose fraction, files or given")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction={self.val_fraction} must be in (0, 1)")
        if self.val_split == "given" and not self.val_files:
            raise ConfigError("data.val_split=given needs data.val_files (paths or globs under data.root)")


@dataclass
class OptimizerConfig:
    # AdamW as the study ran it: torch's defaults but for the learning rate.
    lr: float = 5e-5
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    schedule: str = "constant"  # constant | cosine (linear warmup, then cosine decay to min_lr)
    warmup_steps: int = 0
    decay_steps: Optional[int] = None  # cosine: steps from the end of warmup to min_lr
    min_lr: float = 0.0
    grad_clip: Optional[float] = None  # max global gradient norm; null: no clipping (the study's)
    grad_accum_steps: int = 1  # batches per optimizer step
    # Tokens per optimizer step (data.batch_size x model.n_positions x accumulation, over all processes);
    # set it instead of grad_accum_steps to derive the accumulation. null: grad_accum_steps.
    batch_tokens: Optional[int] = None

    def __post_init__(self):
        if self.lr <= 0:
            raise ConfigError(f"optimizer.lr={self.lr} must be positive")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"optimizer.schedule={self.schedule!r}: choose constant or cosine")
        if self.schedule == "cosine" and not self.decay_steps:
            raise ConfigError("optimizer.schedule=cosine needs optimizer.decay_steps (steps of decay after warmup)")
        if self.warmup_steps < 0 or self.grad_accum_steps < 1:
            raise ConfigError("optimizer.warmup_steps must be >= 0 and optimizer.grad_accum_steps >= 1")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"optimizer.grad_clip={self.grad_clip} must be positive, or null for no clipping")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ConfigError(f"optimizer.batch_tokens={self.batch_tokens} must be positive, or null")
        if self.batch_tokens is not None and self.grad_accum_steps != 1:
            raise ConfigError(
                "optimizer.batch_tokens and optimizer.grad_accum_steps both set: set one (null the other / 1)"
            )


@dataclass
class InitConfig:
    # How a model's weights start (conf/init/). scratch: random, seeded (the study's). pretrained: a local Hugging
    # Face GPT-2 folder (its architecture and its tokenizer are the run's; nothing is downloaded). background: the
    # final weights of its seed's background model, one model per seed and variant trained first on the pooled
    # training text of every author (each author's held-out book of that seed left out), so that what differs
    # between the authors' models is what each learned of its author. The authors' own optimizer, stop_criteria
    # and cadence are the fine-tuning's.
    name: str = SCRATCH
    path: Optional[str] = None  # pretrained: a folder saved with save_pretrained (config.json, weights, tokenizer)
    background_epochs: int = 1  # background: epochs over the pooled text (each author's n_train_tokens, joined)
    background_lr: Optional[float] = None  # background: its learning rate; null: optimizer.lr
    # background: a study dir (a sweep trained with init=background) whose background of the run's seed and variant
    # the run starts from, instead of its own: impostors that start where the candidates did (runs/impostor_study.py)
    background_study: Optional[str] = None

    def __post_init__(self):
        if self.name not in (SCRATCH, PRETRAINED, BACKGROUND):
            raise ConfigError(f"init.name={self.name}: choose init=scratch, init=pretrained or init=background")
        if self.name == PRETRAINED and not self.path:
            raise ConfigError("init=pretrained needs init.path=<a local Hugging Face GPT-2 folder>")
        if self.name != PRETRAINED and self.path:
            raise ConfigError(f"init.path={self.path} is for init=pretrained (now init={self.name}): drop it")
        if self.background_epochs < 1:
            raise ConfigError(f"init.background_epochs={self.background_epochs} must be at least 1")
        if self.name != BACKGROUND and self.background_study:
            raise ConfigError(
                f"init.background_study={self.background_study} is for init=background (now init={self.name}): drop it"
            )


@dataclass
class StopCriteriaConfig:
    # When a run is complete. The study: after the first epoch whose mean training loss is <= 3.0, once 500
    # epochs are done.
    min_epochs: int = 500
    max_epochs: int = 10000
    train_loss_threshold: Optional[float] = 3.0  # null: train for max_epochs
    max_steps: Optional[int] = None  # stop after this many optimizer steps, mid-epoch if need be; null: no limit
    # Wall-clock limit for this job: it checkpoints and stops as `paused`; the same command continues.
    max_seconds: Optional[float] = None

    def __post_init__(self):
        if not 0 <= self.min_epochs <= self.max_epochs or self.max_epochs < 1:
            raise ConfigError(
                f"stop_criteria: need 0 <= min_epochs ({self.min_epochs}) <= max_epochs "
                f"({self.max_epochs}), max_epochs >= 1"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"stop_criteria.max_steps={self.max_steps} must be at least 1, or null")


@dataclass
class CadenceConfig:
    # When to evaluate and checkpoint (training/cadence.py). The study: every epoch, from the untrained model.
    eval_every: int = 1  # evaluate every N epochs (and always at the last epoch)
    eval_at_start: bool = True  # evaluate the untrained model too (epoch 0): the curves' starting point
    checkpoint_every: int = 1  # checkpoint every N epochs (and always at the last epoch)
    # Also every N optimizer steps, mid-epoch (null: only per epoch). With checkpoint_every_steps set,
    # stop_criteria.max_seconds is checked after every step, not only at the end of an epoch.
    eval_every_steps: Optional[int] = None
    checkpoint_every_steps: Optional[int] = None
    # Keep checkpoint.best/: the weights of the lowest validation loss so far (data=text: `val`;
    # data=corpus: the model's own author's held-out book), evaluated when the evaluations above run.
    keep_best: bool = False

    def __post_init__(self):
        if self.eval_every < 1 or self.checkpoint_every < 1:
            raise ConfigError("cadence.eval_every and cadence.checkpoint_every must be at least 1")
        for key in ("eval_every_steps", "checkpoint_every_steps"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"cadence.{key}={getattr(self, key)} must be at least 1, or null")


@dataclass
class VariantConfig:
    name: str = MISSING  # names the runs' dirs and their rows in the analysis
    transform: str = "identity"  # identity | mask_listed | mask_unlisted | pos
    word_list: List[str] = field(default_factory=list)  # compared in lower case, for mask_*
    mask_token: str = ""  # "<FUNC>" for content-only, "<CONTENT>" for function-only
    pos_tagging: str = "last_occurrence"  # last_occurrence (the study's) | per_occurrence
    nltk_data: Optional[str] = None  # folder holding NLTK's taggers/ (perceptron tagger, universal tagset)

    def __post_init__(self):
        check_name("variant.name", self.name)


@dataclass
class DeviceConfig:
    type: str = "auto"  # auto (cuda, else mps, else cpu) | cpu | cuda | mps
    precision: str = "auto"  # auto (fp32 on cpu and mps; bf16 on cuda if supported, else fp16) | fp32 | bf16 | fp16
    num_threads: Optional[int] = None  # CPU threads of this job; null: the cores shared by the jobs running at once
    jobs_per_gpu: int = 1  # how many jobs of a sweep share one GPU
    compile: bool = False  # torch.compile the loss; CUDA with Triton only (elsewhere: a warning, then eager)
    lease_dir: str = "/tmp/stylometry-gpu-leases"  # per-machine lock files of the GPU slots

    def __post_init__(self):
        if self.type not in ("auto", "cpu", "cuda", "mps"):
            raise ConfigError(f"device.type={self.type!r}: choose auto, cpu, cuda or mps")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ConfigError(f"device.precision={self.precision!r}: choose auto, fp32, bf16 or fp16")
        if self.jobs_per_gpu < 1 or (self.num_threads is not None and self.num_threads < 1):
            raise ConfigError("device.jobs_per_gpu and device.num_threads must be at least 1")


@dataclass
class LoggerConfig:
    # csv: <run dir>/scalars.csv (step, epoch, name, value); tensorboard: that and TensorBoard event
    # files in the run dir, so `tensorboard --logdir multirun/` shows a whole sweep.
    name: str = "csv"
    every_steps: int = 10  # train/loss, train/lr and train/grad_norm every N optimizer steps

    def __post_init__(self):
        if self.name not in ("csv", "tensorboard"):
            raise ConfigError(f"logger.name={self.name!r}: choose csv or tensorboard")
        if self.every_steps < 1:
            raise ConfigError(f"logger.every_steps={self.every_steps} must be at least 1")


@dataclass
class TrainConfig:
    author: Optional[AuthorConfig] = None  # required with data=corpus; none with data=text
    model: ModelConfig = MISSING
    data: DataConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    stop_criteria: StopCriteriaConfig = MISSING
    cadence: CadenceConfig = MISSING
    variant: VariantConfig = MISSING
    device: DeviceConfig = MISSING
    logger: LoggerConfig = MISSING
    init: InitConfig = field(default_factory=InitConfig)  # how the weights start (conf/init/)
    study: str = MISSING  # first level of the run dir: conf/train.yaml names it after the corpus folder
    experiment_name: str = "paper"  # second level of the run dir; set by the experiment preset
    run_name: Optional[str] = MISSING  # fourth level of the run dir: the author (data=corpus), or data.name (data=text)
    seed: int = 0

    def __post_init__(self):
        if self.data.kind == "corpus" and self.author is None:
            raise ConfigError(
                "author is not set: choose one with author=<name> (conf/author/), or train on any text with data=text"
            )
        if self.init.name == BACKGROUND and self.data.kind != "corpus":
            raise ConfigError("init=background pools the authors of a corpus: use it with data=corpus")
        if self.data.kind == "text" and self.author is not None:
            raise ConfigError(
                f"author={self.author.name} is for data=corpus: a data=text run has no author (name it with data.name)"
            )
        check_name("study", self.study)
        check_name("experiment_name", self.experiment_name)
        if self.run_name != BACKGROUND_RUN:
            check_name("run_name", str(self.run_name))
        if (
            self.author is not None
            and self.author.name != BACKGROUND_RUN
            and getattr(self.data, "authors", None)
            and self.author.name not in self.data.authors
        ):
            raise ConfigError(f"author={self.author.name} is not in data.authors {self.data.authors}: add it there")
        window_tokens = self.data.batch_size * self.model.n_positions
        if self.optimizer.batch_tokens is not None and self.optimizer.batch_tokens % window_tokens:
            raise ConfigError(
                f"optimizer.batch_tokens={self.optimizer.batch_tokens} must be a multiple of data.batch_size x "
                f"model.n_positions = {window_tokens}"
            )
        if self.data.eval_stride is not None and self.data.eval_stride > self.model.n_positions:
            raise ConfigError(
                f"data.eval_stride={self.data.eval_stride} exceeds model.n_positions={self.model.n_positions}: lower it"
            )

    @property
    def accumulation_steps(self) -> int:
        """Batches per optimizer step: from optimizer.batch_tokens if set, else optimizer.grad_accum_steps."""
        if self.optimizer.batch_tokens is None:
            return self.optimizer.grad_accum_steps
        return self.optimizer.batch_tokens // (self.data.batch_size * self.model.n_positions)


def folder_name(path: str) -> str:
    """The name of the folder a path points at (`${folder_name:${data.root}}` names the study)."""
    return Path(str(path)).expanduser().resolve().name


def bundled(name: str) -> str:
    """A folder that ships inside the package (`${bundled:gpt2}`, `${bundled:demo}`)."""
    return str(BUNDLED_DIR / name)


def first_set(*values):
    """The first value that is not null (`run_name`: the author's name, else the text data's name)."""
    return next((value for value in values if value is not None), None)


def register_resolvers() -> None:
    """The resolvers our configs' interpolations use (`${folder_name:...}`, `${first_set:...}`, `${bundled:...}`)."""
    OmegaConf.register_new_resolver("bundled", bundled, replace=True)
    OmegaConf.register_new_resolver("folder_name", folder_name, replace=True)
    OmegaConf.register_new_resolver("first_set", first_set, replace=True)


def register_configs() -> None:
    """The resolvers, and the schema in Hydra's ConfigStore for composing."""
    register_resolvers()
    cs = ConfigStore.instance()
    cs.store(name="base_train", node=TrainConfig)
    for group, node in [
        ("author", AuthorConfig),
        ("model", ModelConfig),
        ("data_corpus", CorpusDataConfig),
        ("data_text", TextDataConfig),
        ("optimizer", OptimizerConfig),
        ("stop_criteria", StopCriteriaConfig),
        ("cadence", CadenceConfig),
        ("variant", VariantConfig),
        ("device", DeviceConfig),
        ("logger", LoggerConfig),
        ("init", InitConfig),
    ]:
        # Not in the group itself, where `author=glob(*)` would sweep over the schema too.
        cs.store(group="schema", name=group, node=node)


def to_run_config(cfg: DictConfig) -> TrainConfig:
    """The composed DictConfig as typed objects, with every cross-field rule checked."""
    check_known_keys(cfg, TrainConfig)
    try:
        return OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except Exception as error:  # MISSING values and interpolations that do not resolve
        raise ConfigError(first_line(error)) from None


def check_known_keys(cfg: DictConfig, schema, prefix: str = "") -> None:
    """Refuses a key the schema (a dataclass) does not have, however it was added (`+key=`, `++key=`): Hydra lets
    those into a typed config, and the run would store a value it never used. The one check of unknown keys:
    every command that types a composed config calls it (to_run_config here; generate for its GenerateConfig)."""
    known = {f.name: f.type for f in fields(schema)}
    for key in cfg.keys() if isinstance(cfg, DictConfig) else ():
        if key not in known:
            if prefix == "" and key == "hydra":
                continue
            nearest = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"; did you mean {prefix}{nearest[0]}?" if nearest else f"; the keys are {', '.join(known)}"
            raise ConfigError(f"{prefix}{key} is not a setting{hint}")
        if _dataclass_of(known[key]) is None or OmegaConf.is_missing(cfg, key) or OmegaConf.is_interpolation(cfg, key):
            continue
        child = cfg[key]  # neither missing nor an interpolation: read as it is, nothing resolved
        if isinstance(child, DictConfig):
            check_known_keys(child, OmegaConf.get_type(child), f"{prefix}{key}.")  # a schema's subclass, too


def _dataclass_of(annotation):
    """The dataclass of a field's type (Optional[X] included), or None."""
    if is_dataclass(annotation):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if is_dataclass(arg):
            return arg
    return None
