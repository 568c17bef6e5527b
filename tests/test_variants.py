"""Tests of the text variants: the study's published samples byte for byte, the rules, each error.

    python -m pytest tests/test_variants.py -q

What cannot ship with the package (the study's whole books, its variant samples, NLTK's tagger) is read from the
folder STYLOMETRY_TEST_SHARED names (conftest.py: shared_data; .ci/run sets it): a test that needs it skips,
saying so, where the variable is not set, and fails where it is set to a folder without it.
"""

import pickle
import re
import shutil
from dataclasses import replace
from pathlib import Path

import nltk
import pytest
from conftest import shared_data
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from stylometry.config.schema import ConfigError, VariantConfig, register_configs
from stylometry.data.variants import build_transform, transform_key
from stylometry.variants import main

REPO = Path(__file__).resolve().parents[1]
BOOK = "baum/54.txt"  # "The Marvelous Land of Oz", the book the study published in all three variants


def compose_variant(name: str, *overrides: str) -> VariantConfig:
    """conf/variant/<name>.yaml as the training command composes it, typed."""
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):  # clears GlobalHydra on exit
        cfg = compose("train", overrides=["author=baum", f"variant={name}", *overrides])
    return OmegaConf.to_object(cfg.variant)


@pytest.fixture(scope="module")
def nltk_data() -> str:
    return str(shared_data("nltk_data"))


@pytest.fixture(scope="module")
def book_text() -> str:
    return shared_data(f"corpus/{BOOK}").read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def pos_cfg(nltk_data) -> VariantConfig:
    return compose_variant("pos", f"variant.nltk_data={nltk_data}")


@pytest.fixture(scope="module")
def tag_last(pos_cfg):
    return build_transform(pos_cfg)


@pytest.fixture(scope="module")
def tag_each(pos_cfg):
    return build_transform(replace(pos_cfg, pos_tagging="per_occurrence"))


def mask_cfg(transform: str, words, mask_token: str = "<M>") -> VariantConfig:
    return VariantConfig(name="test", transform=transform, word_list=list(words), mask_token=mask_token)


def copy_writable(source: Path, target: Path) -> None:
    """Copy a folder without its modes: the shared data is read-only, and the copies get edited."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    for folder in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)


def assert_same_bytes(actual: str, expected_path: Path) -> None:
    """Byte equality, reporting the first difference (a whole-book diff is unreadable)."""
    actual_bytes, expected = actual.encode("utf-8"), expected_path.read_bytes()
    if actual_bytes != expected:
        at = next(
            (i for i, (a, b) in enumerate(zip(actual_bytes, expected)) if a != b), min(len(actual_bytes), len(expected))
        )
        pytest.fail(
            f"differs from {expected_path} at byte {at} (lengths {len(actual_bytes)} vs {len(expected)}): "
            f"got {actual_bytes[at - 40 : at + 40]!r}, expected {expected[at - 40 : at + 40]!r}"
        )


# --- The study's published samples, byte for byte ---------------------------------------------------


@pytest.mark.parametrize("variant, sample", [("content", "content_only"), ("function", "function_only")])
def test_mask_variants_match_the_study(variant, sample, book_text):
    transform = build_transform(compose_variant(variant))
    assert_same_bytes(transform(book_text), shared_data(f"corpus-variants-sample/{sample}/{BOOK}"))


def test_pos_variant_matches_the_study(tag_last, book_text):
    assert_same_bytes(tag_last(book_text), shared_data(f"corpus-variants-sample/pos_only/{BOOK}"))


def test_function_word_list_is_sklearns():
    words = list(compose_variant("content").word_list)
    assert len(words) == len(set(words)) == 318
    assert all(re.fullmatch(r"[a-z]+", word) for word in words)  # no YAML booleans: "no", "on", "off" stay words
    # scikit-learn's current spellings: the study's list. ("fifty" was "fify" before scikit-learn
    # fixed it; the study's published content_only/baum/41667.txt masks "fifty".)
    assert {"no", "on", "off", "fifty", "amoungst", "couldnt", "hasnt", "noone"} <= set(words)
    assert words == list(compose_variant("function").word_list)


def test_every_variant_option_composes(nltk_data):
    for option in sorted(p.stem for p in (REPO / "conf/variant").glob("*.yaml")):
        cfg = compose_variant(option, f"variant.nltk_data={nltk_data}")
        assert cfg.name == option
        assert callable(build_transform(cfg)) and transform_key(cfg)


# --- The rules ---------------------------------------------------------------------------------------


def test_identity_returns_the_text():
    cfg = compose_variant("baseline")
    text = "Anything\tat all,\r\n  kept.  "
    assert build_transform(cfg)(text) == text
    assert transform_key(cfg) == "baseline"


def test_whitespace_and_punctuation_are_kept_exactly():
    text = "  the four-horned cow's\tmilk,\n\n“of” x_y 1920 — and\r\nso on.  "
    content = build_transform(mask_cfg("mask_listed", ["the", "four", "of", "and", "so", "on"], "<FUNC>"))
    assert content(text) == "  <FUNC> <FUNC>-horned cow's\tmilk,\n\n“<FUNC>” x_y 1920 — <FUNC>\r\n<FUNC> <FUNC>.  "
    function = build_transform(mask_cfg("mask_unlisted", ["the", "four", "of", "and", "so", "on"], "<CONTENT>"))
    # Apostrophe and hyphen split words; the underscore and digits are word characters.
    assert function(text) == (
        "  the four-<CONTENT> <CONTENT>'<CONTENT>\t<CONTENT>,\n\n“of” <CONTENT> <CONTENT> — and\r\nso on.  "
    )


def test_words_are_compared_in_lower_case_and_kept_as_written():
    content = build_transform(mask_cfg("mask_listed", ["The"], "<FUNC>"))
    assert content("The THE the tHe them") == "<FUNC> <FUNC> <FUNC> <FUNC> them"
    function = build_transform(mask_cfg("mask_unlisted", ["the"], "<CONTENT>"))
    assert function("The Oz CAFÉ café") == "The <CONTENT> <CONTENT> <CONTENT>"  # \w is Unicode: café is one word


def test_texts_without_words(tag_last, tag_each):
    content = build_transform(mask_cfg("mask_listed", ["a"]))
    for text in ["", " ", "... --\n", "“!”"]:
        assert content(text) == tag_last(text) == tag_each(text) == text


def test_pos_tags_are_universal(tag_each):
    assert tag_each("the old man walked to the boats.") == "DET ADJ NOUN VERB PRT DET NOUN."


def test_last_occurrence_gives_each_word_its_last_tag(tag_last, tag_each):
    text = "they refuse to take out the refuse."
    # Tagged occurrence by occurrence, "refuse" is a verb, then a noun; the study's rule makes both nouns.
    assert tag_each(text) == "PRON VERB PRT VERB PRT DET NOUN."
    assert tag_last(text) == "PRON NOUN PRT VERB PRT DET NOUN."


def test_pos_uses_the_configured_folder_once(pos_cfg, nltk_data):
    build_transform(pos_cfg)
    build_transform(pos_cfg)
    assert sum(Path(str(p)) == Path(nltk_data).resolve() for p in nltk.data.path) == 1


def test_mask_transform_pickles():
    transform = build_transform(mask_cfg("mask_listed", ["a"]))
    assert pickle.loads(pickle.dumps(transform))("a b") == "<M> b"


# --- transform_key -------------------------------------------------------------------------------------


def test_transform_key_follows_what_changes_the_output(pos_cfg, tmp_path):
    content = compose_variant("content")
    key = transform_key(content)
    assert re.fullmatch(r"mask_listed-[0-9a-f]{12}", key)  # a folder name for the cache
    assert transform_key(compose_variant("content")) == key
    shuffled = replace(content, name="other", word_list=[w.upper() for w in reversed(content.word_list)])
    assert transform_key(shuffled) == key  # same words, compared in lower case; the name is not the output
    assert transform_key(replace(content, mask_token="<F>")) != key
    assert transform_key(replace(content, transform="mask_unlisted")) != key
    assert transform_key(replace(content, word_list=content.word_list[1:])) != key

    pos_key = transform_key(pos_cfg)
    assert pos_key.startswith("pos-") and pos_key != transform_key(replace(pos_cfg, pos_tagging="per_occurrence"))
    # Another copy of the same tagger data has the same key; an edited tag map does not.
    copy = tmp_path / "nltk_data"
    copy_writable(Path(pos_cfg.nltk_data), copy)
    assert transform_key(replace(pos_cfg, nltk_data=str(copy))) == pos_key
    tag_map = copy / "taggers/universal_tagset/en-ptb.map"
    tag_map.write_text(tag_map.read_text().replace("NN\tNOUN", "NN\tX"))
    assert transform_key(replace(pos_cfg, nltk_data=str(copy))) != pos_key


# --- Errors: raised by build_transform (and transform_key), one line naming the key to set -------------


@pytest.mark.parametrize(
    "changes, key",
    [
        (dict(transform="shuffle"), "variant.transform"),
        (dict(transform="mask_listed", word_list=[]), "variant.word_list"),
        (dict(transform="mask_unlisted", word_list=["couldn't"]), "variant.word_list"),
        (dict(transform="mask_listed", mask_token=""), "variant.mask_token"),
        (dict(transform="pos", pos_tagging="first_occurrence"), "variant.pos_tagging"),
        (dict(transform="pos", nltk_data=None), "variant.nltk_data"),
        (dict(transform="pos", nltk_data="/nonexistent/nltk_data"), "variant.nltk_data"),
    ],
)
def test_config_errors_name_the_key(changes, key, nltk_data):
    cfg = replace(mask_cfg("mask_listed", ["the"]), nltk_data=nltk_data)
    cfg = replace(cfg, **changes)
    for build in (build_transform, transform_key):
        with pytest.raises(ConfigError) as error:
            build(cfg)
        assert isinstance(error.value, ValueError)
        message = str(error.value)
        assert message.startswith(key) and "\n" not in message, message


def test_missing_tagger_parts_are_named(nltk_data, tmp_path):
    cfg = VariantConfig(name="pos", transform="pos", nltk_data=str(tmp_path))
    (tmp_path / "taggers").mkdir()
    with pytest.raises(
        ConfigError, match=r"^variant\.nltk_data: no NLTK perceptron tagger under .*averaged_perceptron_tagger_eng"
    ):
        build_transform(cfg)
    copy_writable(
        Path(nltk_data) / "taggers/averaged_perceptron_tagger_eng", tmp_path / "taggers/averaged_perceptron_tagger_eng"
    )
    with pytest.raises(ConfigError, match=r"^variant\.nltk_data: no universal tagset map under .*en-ptb\.map"):
        build_transform(cfg)


# --- The command ---------------------------------------------------------------------------------------


def test_command_writes_the_corpus_layout(tmp_path):
    corpus = tmp_path / "corpus"
    for book, text in {"austen/1.txt": "It is a truth.\n", "baum/2.txt": "The Scarecrow, and Tip!\n"}.items():
        (corpus / book).parent.mkdir(parents=True, exist_ok=True)
        (corpus / book).write_text(text, encoding="utf-8")
    (corpus / "README.md").write_text("not a book")
    out = tmp_path / "out"
    main(["variant=content", f"out={out}", f"data.root={corpus}"])
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["austen/1.txt", "baum/2.txt"]
    assert (out / "austen/1.txt").read_text() == "<FUNC> <FUNC> <FUNC> truth.\n"
    assert (out / "baum/2.txt").read_text() == "<FUNC> Scarecrow, <FUNC> Tip!\n"
    with pytest.raises(ConfigError, match="inside the corpus"):
        main(["variant=content", f"out={corpus / 'content'}", f"data.root={corpus}"])
