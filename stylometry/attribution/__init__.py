"""Any text attributed with a trained study: every complete model's loss on it, and a verdict over seeds.

python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/letter

pipeline.py   from a study dir and texts to the result (all but writing): attribute(Request)
texts.py      the texts: found, read as the study's models read their books, and which seeds may score each
scoring.py    every model's loss on every text and excerpt: models in turn, or in parallel processes
verdicts.py   per text and excerpt: the author with the lowest mean loss, tested against the runner-up
held_out.py   the study's own held-out books attributed, and accuracy against excerpt length
trust.py      the study's held-out accuracy at a text's length, beside its verdict
open_set.py   "none of the candidates" where the LR is not calibrated: the open-set bound, from the held-out books
verification.py  each candidate's calibrated likelihood ratio (and LR(A vs B)), its metrics on the held-out trials
none_of_them.py  "none of the candidates" from the LR, at a threshold that holds the stated false rejection
impostors.py  General Impostors on Delta's words: the verification baseline, on the same trials
kept.py       what the held-out books give, kept in the token cache for the next attribution
baselines.py  naive Bayes and Burrows' Delta beside each verdict
rolling.py    which candidate leads along a text, and where that changes
result.py     the Attribution: the study, the texts, the scores and the tables made from them
report.py     the CSVs, report.md and the figures written whole; the lines the command prints
verdict_table.py  the verdicts' and likelihood ratios' tables, built once for report.md and report.html
html_report.py    report.html
figures.py    a text's losses, excerpts and rolling leader, the held-out accuracy curve, the Tippett plot
"""
