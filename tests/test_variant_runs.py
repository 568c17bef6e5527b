"""Variants end to end: content and pos runs train on CPU in their own dirs and share a cached corpus."""

import pytest
from conftest import REPO, TINY, shared_data
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from stylometry.data.authors import prepare_overrides
from stylometry.training.loop import train


def test_variant_runs_are_placed_apart():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        dirs = {
            variant: compose(
                "train", overrides=["author=baum", f"variant={variant}", "data.root=/x"], return_hydra_config=True
            ).hydra.run.dir
            for variant in ["baseline", "content", "function", "pos"]
        }
    GlobalHydra.instance().clear()
    assert dirs["content"] == "outputs/x/paper/content/baum/seed=0"  # the study is the corpus folder, /x
    assert len(set(dirs.values())) == 4


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["content", "pos"])
def test_a_variant_trains_and_its_corpus_is_built_once(variant, small_corpus, make_config, tmp_path):
    """On the small corpus (three short real books per author: a held-out book and training text, quick to tag)."""
    cache = tmp_path / "cache"
    prepare_overrides([f"data.root={small_corpus}"])  # its folders are the `author` options
    overrides = [
        *TINY,
        "author=alice",
        f"variant={variant}",
        *([f"variant.nltk_data={shared_data('nltk_data')}"] if variant == "pos" else []),  # the tagger's
        f"data.root={small_corpus}",
        "data.authors=[alice,bob]",
        f"data.cache_dir={cache}",
    ]
    assert train(make_config(*overrides), tmp_path / "seed0") == "complete"
    cached = {path: path.stat().st_mtime_ns for path in cache.rglob("*.npy")}
    assert cached and all(f"/{variant if variant == 'pos' else 'mask_listed'}-" in str(p) for p in cached)
    # Another job of the sweep (another seed) reads the same cached arrays: none is rebuilt.
    assert train(make_config(*overrides, "seed=1"), tmp_path / "seed1") == "complete"
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in cached.items())
    assert (tmp_path / "seed1" / "metrics.csv").read_text() != (tmp_path / "seed0" / "metrics.csv").read_text()
