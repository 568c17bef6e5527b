"""From a sweep's run dirs to the study's results: tables, statistics, figures and a report.

    python -m stylometry.analyze multirun/paper --out analysis/paper

    load.py     run dirs (ours, or the study's published models/) -> one tidy table of losses
    stats.py    attribution, confusion matrix, Welch t-tests, the contested book: DataFrames in, out
    figures.py  the study's figures, drawn with matplotlib's object API (no pyplot state)
    report.py   report.md: the tables above in words, readable on its own
"""
