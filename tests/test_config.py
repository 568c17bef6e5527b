"""Every option of every group composes into a valid typed config; every validation rule fires."""

import re
from pathlib import Path

import pytest
from conftest import CORPUS
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from stylometry.config.compose import SWEEP_NEEDS_M, compose
from stylometry.config.schema import BUNDLED_TOKENIZER, DEMO_CORPUS, ConfigError, TrainConfig, check_known_keys

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = [
    "author",
    "model",
    "data",
    "optimizer",
    "stop_criteria",
    "cadence",
    "variant",
    "device",
    "logger",
    "init",
    "experiment",
]
# Options with a value to give: init=pretrained names its folder (read when a run starts, not when composed).
REQUIRED = {("init", "pretrained"): ["init.path=/models/distilgpt2"]}
# Options that train on any text (data=text): they take no author.
TEXT_OPTIONS = {("data", "text"), ("experiment", "gpt2_small"), ("experiment", "gpt2_smoke")}


def options(group):
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(make_config, group, option):
    base = ["author=baum"] if group != "author" and (group, option) not in TEXT_OPTIONS else []
    cfg = make_config(*base, f"{group}={option}", *REQUIRED.get((group, option), []))
    assert isinstance(cfg, TrainConfig)
    if group == "author":
        assert cfg.author.name == option
    if (group, option) in TEXT_OPTIONS:
        assert cfg.data.kind == "text" and cfg.author is None and cfg.run_name == cfg.data.name


def test_how_weights_start_is_checked_when_composed(make_config):
    assert make_config("author=baum").init.name == "scratch"
    assert make_config("author=baum", "init=pretrained", "init.path=/models/gpt2").init.path == "/models/gpt2"
    for overrides, says in [
        (["init=pretrained"], "init=pretrained needs init.path="),
        (["init.path=/models/gpt2"], "init.path=/models/gpt2 is for init=pretrained (now init=scratch)"),
        (["init=background", "init.background_epochs=0"], "init.background_epochs=0 must be at least 1"),
        (["init.name=warm"], "init.name=warm: choose init=scratch, init=pretrained or init=background"),
        (["init.background_study=small"], "init.background_study=small is for init=background (now init=scratch)"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(says)):
            make_config("author=baum", *overrides)


def test_paper_defaults_are_the_studys(make_config):
    cfg = make_config("author=baum")
    assert (cfg.model.n_positions, cfg.model.n_embd, cfg.model.n_layer, cfg.model.n_head, cfg.model.vocab_size) == (
        1024,
        128,
        8,
        8,
        50257,
    )
    # Resolved from the corpus when the job starts (test_corpus.py): every author folder, the study's rule.
    assert (cfg.data.authors, cfg.data.n_train_tokens, cfg.data.batch_size) == ([], None, 16)
    assert (cfg.optimizer.lr, cfg.optimizer.schedule, cfg.optimizer.grad_clip) == (5e-5, "constant", None)
    stop = cfg.stop_criteria
    assert (stop.min_epochs, stop.max_epochs, stop.train_loss_threshold) == (500, 10000, 3.0)
    assert cfg.experiment_name == "paper" and cfg.variant.name == "baseline"
    assert cfg.study == "corpus" and cfg.author.extra_eval_sets == ["contested", "non_oz_baum", "non_oz_thompson"]


def test_data_root_and_tokenizer_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLOMETRY_DATA", str(tmp_path))
    monkeypatch.delenv("STYLOMETRY_TOKENIZER", raising=False)
    data = OmegaConf.to_container(OmegaConf.load(CONF / "data" / "corpus.yaml"), resolve=True)
    assert (data["root"], data["tokenizer"]) == (str(tmp_path), BUNDLED_TOKENIZER)
    monkeypatch.delenv("STYLOMETRY_DATA")
    data = OmegaConf.to_container(OmegaConf.load(CONF / "data" / "corpus.yaml"), resolve=True)
    assert data["root"] == str(DEMO_CORPUS)  # neither set: the corpus and tokenizer bundled with the package
    monkeypatch.setenv("STYLOMETRY_TOKENIZER", "/my/tokenizer")
    assert (
        OmegaConf.to_container(OmegaConf.load(CONF / "data" / "corpus.yaml"), resolve=True)["tokenizer"]
        == "/my/tokenizer"
    )


def test_unknown_author_lists_the_options(make_config):
    with pytest.raises(MissingConfigException, match="(?s)author/nobody.*baum"):
        make_config("author=nobody")


def test_unknown_key_and_wrong_type_fail_at_composition(make_config):
    with pytest.raises(ConfigCompositionException, match="model.n_layers"):
        make_config("author=baum", "model.n_layers=4")
    with pytest.raises(ConfigCompositionException, match="model.n_layer"):
        make_config("author=baum", "model.n_layer=many")


@pytest.mark.parametrize(
    "override,key",
    [
        ("model.n_embd=130", "model.n_embd"),
        ("model.n_head=0", "model.n_head"),
        ("model.dropout=1.5", "model.dropout"),
        ("data.n_train_tokens=1", "data.n_train_tokens"),
        ("data.batch_size=0", "data.batch_size"),
        ("data.eval_max_tokens=1", "data.eval_max_tokens"),
        ("data.authors=[austen]", "data.authors"),
        ("optimizer.lr=0", "optimizer.lr"),
        ("optimizer.schedule=cosine", "optimizer.decay_steps"),
        ("optimizer.schedule=linear", "optimizer.schedule"),
        ("optimizer.grad_clip=-1", "optimizer.grad_clip"),
        ("stop_criteria.min_epochs=20", "min_epochs"),
        ("cadence.checkpoint_every=0", "cadence.checkpoint_every"),
        ("cadence.eval_every=0", "cadence.eval_every"),
        ("device.type=tpu", "device.type"),
        ("device.precision=fp8", "device.precision"),
        ("author.name=../../etc", "author.name"),
        ("variant.name=a/b", "variant.name"),
        ("experiment_name=..", "experiment_name"),
    ],
)
def test_impossible_values_name_their_key(make_config, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as error:
        make_config("author=baum", "stop_criteria=smoke" if "min_epochs" in key else "seed=0", override)
    assert "\n" not in str(error.value)


def test_the_author_is_required(make_config):
    with pytest.raises(ConfigError) as error:
        make_config()
    assert str(error.value) == (
        "author is not set: choose one with author=<name> (conf/author/), or train on any text with data=text"
    )


@pytest.mark.parametrize(
    "override,line",
    [
        ("stop_critera.max_epochs=6", "stop_critera is not a setting; did you mean stop_criteria?"),
        ("data.n_train_token=null", "data.n_train_token is not a setting; did you mean data.n_train_tokens?"),
        ("model.n_embdd=64", "model.n_embdd is not a setting; did you mean model.n_embd?"),
        ("model.n_embd=abc", "model.n_embd=abc: Value 'abc' of type 'str' could not be converted to Integer"),
        ("model=huge", "model=huge: no such option; choose one of gpt2_small, laptop, paper, tiny"),
        ("seed=0,1", f"seed=0,1: {SWEEP_NEEDS_M}"),
        (
            "hydra.run.dir=/x/seed=0",
            "hydra.run.dir=/x/seed=0: a value holding '=' must be quoted; write \"hydra.run.dir='/x/seed=0'\"",
        ),
    ],
)
def test_compose_answers_a_bad_override_in_one_line(override, line):
    """What every command composing conf/ says (train's checks, status --plan, bench, variants, generate): read
    from the exceptions' fields, never Hydra's advice to add a key with `+`."""
    with pytest.raises(ConfigError) as error:
        compose("train", ["author=baum", f"data.root={CORPUS}", override])
    assert str(error.value) == line


def test_an_unknown_key_is_refused_however_it_was_added(make_config):
    with pytest.raises(ConfigError, match=r"^model\.n_embdd is not a setting; did you mean model\.n_embd\?$"):
        make_config("author=baum", "+model.n_embdd=64")
    with pytest.raises(ConfigError, match=r"^colour is not a setting; the keys are "):
        make_config("author=baum", "++colour=red")
    cfg = make_config("author=baum", "~author", typed=False)  # a deleted group: nothing to check below it
    check_known_keys(cfg, TrainConfig)
