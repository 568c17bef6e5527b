"""An attribution's result: the study, the texts, every score, and the tables made from them.

    python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/a    # written by report.py

Made by pipeline.attribute, written by report.write_outputs.
"""

from dataclasses import dataclass, field

import pandas as pd

from stylometry.analysis.normalized import LOSS
from stylometry.attribution.open_set import FALSE_REJECTION
from stylometry.attribution.texts import Text
from stylometry.runs.study import Study


@dataclass
class Attribution:
    study: Study
    texts: list[Text]
    excerpt_lengths: list[int]
    alpha: float
    max_tokens: int | None
    scored: dict  # scoring.score_all's result: the scores table, the time, where the models ran
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    excerpts: pd.DataFrame = field(default_factory=pd.DataFrame)
    held_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    held_out_accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)
    unscored: list[Text] = field(default_factory=list)  # texts every seed's models trained on
    score: str = LOSS  # what the verdicts compare (stylometry.analysis.normalized)
    false_rejection: float = FALSE_REJECTION  # the open set's bound (attribution/open_set.py)
    # With the normalized score: each model's mean loss on its seed's reference books (reference.csv).
    references: pd.DataFrame = field(default_factory=pd.DataFrame)
    # With --baselines: each seed's naive Bayes and Burrows' Delta verdict on each text (baselines.csv).
    baseline_votes: pd.DataFrame = field(default_factory=pd.DataFrame)
    # With --rolling (attribution/rolling.py): a row per text and window (rolling.csv), where the leader changes
    # (change_points.csv), and each text cut into passages by their leader (passages.csv).
    rolling: pd.DataFrame = field(default_factory=pd.DataFrame)
    change_points: pd.DataFrame = field(default_factory=pd.DataFrame)
    passages: pd.DataFrame = field(default_factory=pd.DataFrame)
    window: int | None = None  # the rolling window and stride, in tokens
    # With --held-out --rolling: each stitched text's switches and the change points found (switches.csv), and the
    # rule's figures (attribution/rolling.py: rolling_accuracy).
    switches: pd.DataFrame = field(default_factory=pd.DataFrame)
    rolling_summary: dict = field(default_factory=dict)
    # With --held-out and excerpts: the open-set rule measured with each author left out (open_set_rates.csv).
    open_set_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    stride: int | None = None
    # The likelihood ratio (attribution/verification.py): each text's for each candidate (verification.csv), the
    # calibration it was read through (verification_calibration.csv); with --held-out its trials, cross-validated
    # (verification_trials.csv), and their metrics per length (verification.csv); or why there is none.
    verification: pd.DataFrame = field(default_factory=pd.DataFrame)
    verification_calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    verification_trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    verification_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    verification_note: str = ""
    # What a study whose held-out books are not known cannot answer (runs/study.py: Study.no_held_out_books).
    unavailable: list[str] = field(default_factory=list)

    @property
    def scores(self) -> pd.DataFrame:
        return self.scored["scores"]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The CSVs to write: file stem -> table."""
        tables = {"scores": self.scores}
        if not self.references.empty:
            tables["reference"] = self.references
        if not self.baseline_votes.empty:
            tables["baselines"] = self.baseline_votes
        if self.held_out.empty:
            tables["verdicts"] = self.verdicts
            if self.excerpt_lengths:
                tables["excerpts"] = self.excerpts
            if not self.rolling.empty:
                tables["rolling"] = self.rolling
                tables["change_points"] = self.change_points
                tables["passages"] = self.passages
            if not self.verification.empty:
                tables["verification"] = self.verification
        else:
            tables["held_out"] = self.held_out
            tables["held_out_accuracy"] = self.held_out_accuracy
            if not self.open_set_rates.empty:
                tables["open_set_rates"] = self.open_set_rates
            if not self.verification_metrics.empty:
                tables["verification"] = self.verification_metrics
                tables["verification_trials"] = self.verification_trials
            if not self.rolling.empty:
                tables["rolling"] = self.rolling
                tables["change_points"] = self.change_points
                tables["switches"] = self.switches
        if not self.verification_calibration.empty:
            tables["verification_calibration"] = self.verification_calibration
        return tables
