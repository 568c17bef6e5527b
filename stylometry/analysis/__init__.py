"""From a sweep's run dirs to the study's results: tables, statistics, figures and a report (docs/analysis.md).

python -m stylometry.analyze multirun/corpus/paper --out analysis/paper

load.py       run dirs (ours, or the study's published models/) -> one tidy table of losses, in groups
              that never mix studies, corpora or settings
stats.py      attribution, confusion matrix, Welch t-tests, the contested book: DataFrames in, out
normalized.py the normalized score, for the study's books and new texts alike
ablation.py   the study's ablation statistics: the mean-t test, variants compared, the mean-t curve and
              its crossing, the fairness cut
tables.py     every table of an analysis, in one call
baselines.py  naive Bayes and Burrows' Delta on each model's own training text and the seed's books
figures.py    the study's figures, drawn with matplotlib's object API (no pyplot state)
report.py     report.md: the tables above in words, readable on its own (report.html renders it: html_report.py)
outputs.py    one analysis from the inputs to its files: the CSVs, the figures, report.md
"""
