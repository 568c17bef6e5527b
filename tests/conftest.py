"""Fixtures: the shared corpus and tokenizer, a token cache shared by the session, composed configs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from stylometry.config.schema import register_configs, to_run_config

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
TOKENIZER = SHARED / "tokenizers" / "gpt2"
# The study's authors (the corpus's author folders) and the extra evaluation texts of Baum's and Thompson's models.
AUTHORS = ("austen", "baum", "dickens", "fitzgerald", "melville", "thompson", "twain", "wells")
EXTRA_SETS = ("contested", "non_oz_baum", "non_oz_thompson")

# A model and budget that train in about a second per epoch on a CPU, on real text.
TINY = [
    "experiment=smoke",
    "model.n_positions=32",
    "data.n_train_tokens=1024",
    "data.eval_max_tokens=256",
    "stop_criteria.max_epochs=2",
    "device=cpu",
]


def pytest_collection_modifyitems(items):
    """The files with end-to-end runs (`slow`) first, each file's tests in their order: with CI's two workers
    (`-n 2 --dist loadfile`) the long files start at once and the short ones fill in around them."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # a stable sort: no file is split


def pytest_sessionstart(session):
    for path in (CORPUS, TOKENIZER):
        if not path.is_dir():
            pytest.exit(f"tests need {path} (the shared corpus and tokenizer beside the repo)", returncode=2)
    register_configs()


@pytest.fixture(scope="session")
def token_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("token_cache")


@pytest.fixture
def make_config(token_cache):
    """compose(overrides) -> typed TrainConfig over the shared corpus, as `python -m stylometry.train` builds it."""

    def make(*overrides, typed=True):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose(
                "train",
                overrides=[
                    f"data.root={CORPUS}",
                    f"data.tokenizer={TOKENIZER}",
                    f"data.cache_dir={token_cache}",
                    *overrides,
                ],
            )
        GlobalHydra.instance().clear()
        return to_run_config(cfg) if typed else cfg

    return make


@pytest.fixture
def run_train(token_cache):
    """Runs `python -m stylometry.train <args>` as a user would, corpus and tokenizer from the environment."""

    def run(*args, timeout=300):
        env = {**os.environ, "STYLOMETRY_DATA": str(CORPUS), "STYLOMETRY_TOKENIZER": str(TOKENIZER)}
        return subprocess.run(
            [sys.executable, "-m", "stylometry.train", *args, f"data.cache_dir={token_cache}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
