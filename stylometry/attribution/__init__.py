"""Any text attributed with a trained study: every complete model's loss on it, and a verdict over seeds.

python -m stylometry.attribute multirun/corpus/paper letter.txt --out attribution/letter

pipeline.py   from a study dir and texts to the result (all but writing): attribute(Request)
texts.py      the texts: found, read as the study's models read their books, and which seeds may score each
scoring.py    every model's loss on every text and excerpt: models in turn, or in parallel processes
verdicts.py   per text and excerpt: the author with the lowest mean loss, tested against the runner-up
held_out.py   the study's own held-out books attributed, and accuracy against excerpt length
result.py     the Attribution: the study, the texts, the scores and the tables made from them
report.py     the CSVs, report.md and the figures written whole; the lines the command prints
figures.py    a text's losses and excerpts, the held-out accuracy curve
"""
