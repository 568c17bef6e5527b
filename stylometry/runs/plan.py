"""What a training command would do, job by job, without launching anything.

    python -m stylometry.status --plan -m 'author=glob(*)' 'seed=range(10)'    # plan_sweep(), printed

The command's overrides are expanded as Hydra would (stylometry/config/compose.py), every job's config composed
and typed; the inputs a sweep's jobs share are checked once each (the corpus's folders, the tokenizer, the
variant's transform: a bad one is the whole command's error); then each job's own inputs are checked as the job
checks them before it trains (stylometry/data/splits.py: load_job_data; e.g. that the author's books hold
data.n_train_tokens), and its run dir decided as the trainer decides it (stylometry/runs/decision.py): skip,
extend, resume, start, or refuse with the reason. Launcher overrides (`hydra/launcher=...`) are ignored.
Books are tokenized into the token cache (data.cache_dir) as the jobs would; nothing else is written.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Set, Tuple

from stylometry.config.compose import compose_jobs, override_key
from stylometry.config.schema import ConfigError
from stylometry.data.authors import prepare_overrides
from stylometry.runs.background_run import (
    background_config,
    background_dir,
    starting_weights,
    trains_background,
)
from stylometry.runs.status import COMPLETE, read_status

if TYPE_CHECKING:
    from stylometry.config.compose import Job
    from stylometry.runs.decision import Decision


@dataclass
class PlannedJob:
    run_dir: Path
    decision: "Decision"


def plan_sweep(overrides: List[str]) -> List[PlannedJob]:
    """Every job of `python -m stylometry.train -m <overrides>` and what its run dir needs; a ConfigError for a
    command that cannot run at all (a bad key, corpus, tokenizer or variant)."""
    kept = [o for o in overrides if not override_key(o).startswith(("hydra/launcher", "hydra.launcher"))]
    return plan_jobs(compose_jobs(prepare_overrides(kept), multirun=True))  # the config errors first: no torch yet


def every_run_done(jobs: List["Job"]) -> bool:
    """Whether a sweep's every job (and every background one starts from) would be skipped: complete, with its stop
    criteria met and its identity that of the job. Asked of the jobs' status.json first (without torch, which
    runs/decision.py imports: a sweep with work to do is answered in milliseconds), then as plan_jobs decides."""
    if not all((read_status(job.run_dir) or {}).get("state") == COMPLETE for job in jobs):
        return False
    from stylometry.runs.decision import SKIP

    try:
        return all(planned.decision.action == SKIP for planned in plan_jobs(jobs))
    except ConfigError:
        return False  # the jobs themselves say what is wrong


def plan_jobs(jobs: List["Job"]) -> List[PlannedJob]:
    """What the run dir of each composed job (stylometry/config/compose.py: compose_jobs) needs, and each of its
    seeds' backgrounds before its first job."""
    # Imported here: the tokenizer's loading imports transformers and torch (seconds), which a config error
    # never waits for.
    from stylometry.data.splits import load_job_data, resolved_config
    from stylometry.model.starting_weights import weights_sha256
    from stylometry.runs.checkpoint import run_identity
    from stylometry.runs.decision import decide, refused

    shared = _SharedInputs()
    planned: List[PlannedJob] = []
    for job in jobs:
        reader = shared.reader(job.config)
        runs = [(job.config, job.run_dir)]
        if trains_background(job.config):  # its seed's background first, once (stylometry/runs/background_run.py)
            background = background_dir(job.config, job.run_dir)
            if all(p.run_dir != background for p in planned):
                runs.insert(0, (background_config(job.config), background))
        for config, run_dir in runs:
            try:
                # As the trainer reads them: the weights it starts from, where they are there yet (a background not
                # trained yet is not: its authors' starting weights are then not compared).
                config, start = starting_weights(config, run_dir, required=False)
                data = load_job_data(config, reader)  # the checks the job makes before it trains
            except ConfigError as error:  # the job's own inputs, e.g. an author with too few tokens for n_train_tokens
                planned.append(PlannedJob(run_dir, refused(error)))
                continue
            cfg = resolved_config(config, data)
            identity = run_identity(cfg, data.files_sha256, weights_sha256(start) if start else None)
            planned.append(PlannedJob(run_dir, decide(run_dir, cfg.stop_criteria, identity)))
    return planned


class _SharedInputs:
    """What a sweep's jobs share, checked or loaded once for all of them: the corpus's folders and books, and a book
    reader per tokenizer, cache and variant (which keeps every book it reads; load_tokenizer keeps the tokenizers)."""

    def __init__(self):
        self.corpora: Set[Tuple] = set()
        self.readers: Dict[Tuple, object] = {}

    def reader(self, cfg):
        """The job's book reader; a ConfigError for a corpus, tokenizer or variant that cannot work."""
        from stylometry.data.tokenizer import load_tokenizer
        from stylometry.data.tokens import BookReader

        extra_sets = tuple(cfg.author.extra_eval_sets) if cfg.author is not None else ()
        corpus = (cfg.data.root, tuple(cfg.data.authors), tuple(cfg.data.not_authors), extra_sets)
        if corpus not in self.corpora:
            _check_corpus(cfg)
            self.corpora.add(corpus)
        tokenizer = load_tokenizer(cfg.data.tokenizer)  # a ConfigError for one that cannot load, every job
        key = (cfg.data.tokenizer, cfg.data.cache_dir, repr(cfg.variant))
        if key not in self.readers:  # building it builds the variant's transform
            self.readers[key] = BookReader.of_run(cfg, tokenizer, remember=True)
        return self.readers[key]


def _check_corpus(cfg) -> None:
    """The corpus's folders and books (data=text: its root; the files are matched by each job's check)."""
    from stylometry.data.corpus import author_folders, check_corpus
    from stylometry.data.splits import corpus_root, list_books

    root = corpus_root(cfg.data)
    if cfg.author is not None:
        check_corpus(root, list(cfg.data.authors) or author_folders(root, cfg.data.not_authors), cfg.data.not_authors)
        for name in cfg.author.extra_eval_sets:
            list_books(root / name, key=f"author {cfg.author.name}'s extra_eval_sets")
