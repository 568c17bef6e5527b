"""Which runs are one study: the rule `attribute` refuses a mixed study dir by, and `analyze` splits a folder by.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/letter   # refuses a mix
    python -m stylometry.analyze multirun --out analysis/all                                # analyses each apart

Runs can be compared (pooled, or set against each other as one study's models) when they agree on every facet
below, in this order: one variant, one tokenizer, one study name, one corpus (status.json's corpus_sha256), one
experiment, one set of settings (config_sha256: the identity but author, seed and files), and one model shape and
evaluation. A run that does not record a facet (a run older than it) is compatible with any value of it; where the
recorded values differ, such a run cannot be placed. Both commands name the first facet the runs differ in, in
the same words: `<where> mixes corpora (corpus_sha256): <each value and its runs>`.
"""

from dataclasses import dataclass
from typing import Callable, Hashable, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Facet:
    key: str  # what the caller's value_of looks up
    words: str  # what runs of different values are a mix of: `mixes corpora (corpus_sha256)`
    tag: str  # the word of a split group's label: `corpus 1a2b3c4d`


FACETS = (
    Facet("variant", "variants", "variant"),
    Facet("tokenizer", "tokenizers", "tokenizer"),
    Facet("study", "studies", "study"),
    Facet("corpus_sha256", "corpora (corpus_sha256)", "corpus"),
    Facet("experiment", "experiments", "experiment"),
    Facet("config_sha256", "settings (config_sha256)", "config"),
    Facet("evaluation", "models or evaluation settings", "evaluation"),
)
FACET = {facet.key: facet for facet in FACETS}

# A run's value of a facet: (its label in words, what is compared), or None where the run does not record it.
Value = Optional[Tuple[str, Hashable]]


@dataclass
class Mix:
    """Runs that are not one study: the first facet they differ in, each recorded value's runs, the unplaceable."""

    facet: Facet
    groups: list  # [(label, [run, ...])], one per value, in the order met
    unrecorded: list  # runs that record no value of the facet

    def sentence(self, where: str, describe: Callable[[str, list], str]) -> str:
        """`<where> mixes <facet>: <group>; <group>`, each group as describe(label, runs) says it."""
        return f"{where} mixes {self.facet.words}: " + "; ".join(describe(label, runs) for label, runs in self.groups)


def first_mix(runs: Sequence, value_of: Callable[[object, str], Value], facets=FACETS) -> Optional[Mix]:
    """The first of `facets` on which the runs differ, or None: they are one study (as far as they record)."""
    for facet in facets:
        groups: dict = {}
        unrecorded = []
        for run in runs:
            value = value_of(run, facet.key)
            if value is None:
                unrecorded.append(run)
            else:
                groups.setdefault(value[1], (value[0], []))[1].append(run)
        if len(groups) > 1:
            return Mix(facet, list(groups.values()), unrecorded)
    return None


def runs_text(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"
