"""The study's text variants: content-only, function-only and part-of-speech versions of the books.

    python -m stylometry.variants variant=content out=/tmp/content_only [data.root=/path/to/corpus]

`build_transform(cfg.variant)` turns a variant config into a function text -> text that the data
pipeline applies to one book at a time; `transform_key(cfg.variant)` names its output for caches.
The command above (stylometry/variants.py) writes a variant of the whole corpus, in the corpus's layout, for reading.

The study's rules (llm-stylometry, code/create_analysis_variants.py), which these reproduce byte for
byte on its published samples:
- A word is a run of `\\w` characters; whitespace and punctuation between words are kept exactly,
  so "four-horned" has two words and "tip's" has "tip" and "s".
- mask_listed (content-only): a word whose lower case is in `word_list` becomes `mask_token`.
- mask_unlisted (function-only): a word whose lower case is not in `word_list` becomes `mask_token`.
- pos: each word becomes its universal part-of-speech tag. The study tagged all of a book's words as
  one sequence with NLTK's averaged-perceptron tagger, then gave every occurrence of a word the tag
  of its last occurrence (`last_occurrence`); `per_occurrence` keeps each occurrence's own tag.
"""

import hashlib
import json
import re
from functools import partial
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

from stylometry.config.schema import ConfigError, first_line
from stylometry.files.atomic import atomic_file

# A word, as in the study: a run of letters, digits and underscores (Unicode-aware, as Python's re
# is on str). The group makes WORD.split return [between, word, between, word, ..., between]: words
# at the odd indices, and "".join of the list gives the text back.
WORD = re.compile(r"(\w+)")

TRANSFORMS = ("identity", "mask_listed", "mask_unlisted", "pos")
POS_TAGGINGS = ("last_occurrence", "per_occurrence")

# Part of every transform_key: bump it when a transform's output changes for the same config, so
# corpora cached under the old key are not reused.
TRANSFORM_VERSION = 1

# Inside variant.nltk_data: NLTK's English tagger (the model nltk.pos_tag loads) and the Penn
# Treebank -> universal tag map (what nltk.pos_tag(..., tagset="universal") applies).
TAGGER_DIR = "taggers/averaged_perceptron_tagger_eng"
TAGGER_FILES = tuple(f"averaged_perceptron_tagger_eng.{part}.json" for part in ("weights", "tagdict", "classes"))
UNIVERSAL_MAP = "taggers/universal_tagset/en-ptb.map"


def build_transform(variant_cfg) -> Callable[[str], str]:
    """The variant's text -> text function; raises ConfigError (a ValueError) for a config that cannot work.

    Everything that can fail (tagger files, word list) is checked and loaded here, before training
    starts. The result is a partial of module-level functions, so it pickles (for worker processes).
    """
    transform = variant_cfg.transform
    if transform == "identity":
        return identity
    if transform in ("mask_listed", "mask_unlisted"):
        words, mask_token = _mask_settings(variant_cfg)
        return partial(mask_words, words=words, mask_token=mask_token, mask_listed=transform == "mask_listed")
    if transform == "pos":
        per_occurrence = _pos_tagging(variant_cfg) == "per_occurrence"
        tagger, ptb_to_universal = load_pos_tagger(variant_cfg.nltk_data)
        return partial(tag_words, tagger=tagger, ptb_to_universal=ptb_to_universal, per_occurrence=per_occurrence)
    raise _unknown_transform(transform)


IDENTITY_KEY = "baseline"  # the cache folder of the books as written


def transform_key(variant_cfg) -> str:
    """A short name for what the transform does, e.g. "mask_listed-1f0c9a3b7d2e"; "baseline" for identity.

    It hashes only what changes the output: the word set and mask token, or the tagging rule, the
    tagger's model files and NLTK's version (its feature code lives in NLTK). The variant's name is
    left out, so two names for one transform share a cache.
    """
    transform = variant_cfg.transform
    if transform == "identity":
        return IDENTITY_KEY
    if transform in ("mask_listed", "mask_unlisted"):
        words, mask_token = _mask_settings(variant_cfg)
        spec = {"words": sorted(words), "mask_token": mask_token}
    elif transform == "pos":
        import nltk  # only here: importing NLTK takes 2-3 s

        root = _nltk_data_root(variant_cfg.nltk_data)
        files = [Path(TAGGER_DIR) / name for name in TAGGER_FILES] + [Path(UNIVERSAL_MAP)]
        spec = {
            "pos_tagging": _pos_tagging(variant_cfg),
            "nltk": nltk.__version__,
            "files": {str(f): hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files},
        }
    else:
        raise _unknown_transform(transform)
    spec.update(transform=transform, version=TRANSFORM_VERSION)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()
    return f"{transform}-{digest[:12]}"


def identity(text: str) -> str:
    return text


def mask_words(text: str, words: FrozenSet[str], mask_token: str, mask_listed: bool) -> str:
    """Replace each word that is (mask_listed) or is not (not mask_listed) in `words` by `mask_token`.

    `words` holds lower-case words; a word is looked up by its lower case.
    """
    # Split-and-join rather than WORD.sub with a callback: a third faster (3.9 s vs 5.8 s for the
    # whole 46 MB corpus on one core).
    parts = WORD.split(text)
    parts[1::2] = [mask_token if (word.lower() in words) == mask_listed else word for word in parts[1::2]]
    return "".join(parts)


def tag_words(text: str, tagger, ptb_to_universal: Dict[str, str], per_occurrence: bool) -> str:
    """Replace each word by its universal POS tag; `text` is one book, tagged as one sequence.

    The study fed all of a book's words to the tagger at once (no sentence splitting), so the
    tagger's context runs across sentence ends; kept, since it changes the tags.
    """
    parts = WORD.split(text)
    words = parts[1::2]
    # As nltk.pos_tag(words, tagset="universal"): Penn Treebank tags, mapped; unmapped tags -> "X".
    tags = [ptb_to_universal.get(tag, "X") for _, tag in tagger.tag(words)]
    if per_occurrence:
        parts[1::2] = tags
    else:
        # The study's rule: a dict from word to tag, built in text order, so each word keeps its
        # last occurrence's tag. Keys are the words as written (case-sensitive), as in the study.
        last_tag = dict(zip(words, tags))
        parts[1::2] = [last_tag[word] for word in words]
    return "".join(parts)


def load_pos_tagger(nltk_data: Optional[str]) -> Tuple[object, Dict[str, str]]:
    """NLTK's perceptron tagger and the Penn Treebank -> universal tag map, from `nltk_data` only."""
    root = _nltk_data_root(nltk_data)
    # Imported here, not at the top: only pos needs NLTK, and importing it takes 2-3 s.
    import nltk
    from nltk.tag.perceptron import PerceptronTagger

    # NLTK reads model files only from folders on nltk.data.path (its path sandbox), so the folder
    # goes there; once, so reused worker processes do not grow the list. The explicit `loc` below
    # makes sure this folder's tagger is loaded, whatever else is on the path; nothing is downloaded.
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    try:
        tagger = PerceptronTagger(lang="eng", loc=str(root / TAGGER_DIR))
    except Exception as error:  # NLTK's sandbox errors, malformed JSON
        raise ConfigError(
            f"variant.nltk_data: cannot load the perceptron tagger in {root / TAGGER_DIR} "
            f"({first_line(error)}); "
            "point it at a folder holding an intact copy"
        ) from None
    return tagger, read_universal_map(root / UNIVERSAL_MAP)


def read_universal_map(path: Path) -> Dict[str, str]:
    """A tag map of NLTK's universal_tagset: one `fine<TAB>coarse` pair a line, as NLTK parses it.

    Read here rather than through nltk.tag.map_tag, whose module-level cache would keep the first
    folder's map for the life of a worker process.
    """
    mapping = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            fine, coarse = line.split("\t")
            mapping[fine] = coarse
    return mapping


def _mask_settings(variant_cfg) -> Tuple[FrozenSet[str], str]:
    """The lower-cased word set and the mask token of a mask_* variant, checked."""
    if not variant_cfg.word_list:
        raise ConfigError(
            f"variant.word_list is empty: transform={variant_cfg.transform} needs the words to compare, "
            "e.g. `function_words@_here_: sklearn_english` in the variant's defaults"
        )
    for word in variant_cfg.word_list:
        if not WORD.fullmatch(str(word)):
            raise ConfigError(
                f"variant.word_list: {word!r} is not a word (a run of letters, digits or '_'), "
                "so it would never match; remove it or split it into words"
            )
    if not variant_cfg.mask_token:
        raise ConfigError(
            f"variant.mask_token is empty: set the token that replaces the masked words "
            f"(transform={variant_cfg.transform}), e.g. <FUNC> or <CONTENT>"
        )
    return frozenset(str(word).lower() for word in variant_cfg.word_list), variant_cfg.mask_token


def _pos_tagging(variant_cfg) -> str:
    if variant_cfg.pos_tagging not in POS_TAGGINGS:
        raise ConfigError(
            f"variant.pos_tagging={variant_cfg.pos_tagging!r}: choose last_occurrence (the study's) or per_occurrence"
        )
    return variant_cfg.pos_tagging


def _nltk_data_root(nltk_data: Optional[str]) -> Path:
    """The NLTK data folder, checked to hold the tagger's files and the universal tag map."""
    if not nltk_data:
        raise ConfigError(
            "variant.nltk_data is not set: point it (or the NLTK_DATA environment variable) at a folder "
            f"holding {TAGGER_DIR} and taggers/universal_tagset"
        )
    root = Path(nltk_data).expanduser().resolve()
    if not all((root / TAGGER_DIR / name).is_file() for name in TAGGER_FILES):
        raise ConfigError(
            f"variant.nltk_data: no NLTK perceptron tagger under {root}; "
            f"point it at a folder holding {TAGGER_DIR} ({', '.join(TAGGER_FILES)})"
        )
    if not (root / UNIVERSAL_MAP).is_file():
        raise ConfigError(
            f"variant.nltk_data: no universal tagset map under {root}; point it at a folder holding {UNIVERSAL_MAP}"
        )
    return root


def _unknown_transform(transform: str) -> ConfigError:
    return ConfigError(f"variant.transform={transform!r}: choose one of {', '.join(TRANSFORMS)}")


def write_variant_corpus(transform: Callable[[str], str], corpus_root: Path, out_dir: Path) -> List[Path]:
    """Apply `transform` to every `<author folder>/<book>.txt` under corpus_root, written to out_dir alike."""
    corpus_root, out_dir = corpus_root.resolve(), out_dir.resolve()
    if out_dir == corpus_root or corpus_root in out_dir.parents:
        raise ConfigError(f"out={out_dir} is inside the corpus {corpus_root}: choose a folder outside it")
    books = sorted(corpus_root.glob("*/*.txt"))
    if not books:
        raise ConfigError(f"data.root={corpus_root} holds no <author>/<book>.txt files: point it at the corpus")
    written = []
    for book in books:
        target = out_dir / book.relative_to(corpus_root)
        text = transform(book.read_bytes().decode("utf-8"))  # from bytes, as the data pipeline reads books
        with atomic_file(target, "wb") as f:  # an interrupted run leaves no half-written book
            f.write(text.encode("utf-8"))
        written.append(target)
    return written
