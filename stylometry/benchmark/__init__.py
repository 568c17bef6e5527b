"""How fast a job trains and evaluates: the CPU benchmark and the GPU check, each figure measured in its own process.

python -m stylometry.bench model=tiny data.batch_size=8
python -m stylometry.bench --gpu-check

cpu_bench.py  the CPU benchmark: the workers in turn, and its figures (MFU, speed-up, evaluation's cost)
gpu_check.py  the GPU check: the cuda tests, jobs sharing a GPU, the largest batch, the grid's GPU-hours
workers.py    one measurement per process (`python -m stylometry.bench --worker <name>`), printed as JSON
driver.py     starting the workers and reading their results back
loops.py      what is measured: the study's loop as it was written (the study loop) and the trainer's (optimized)
timing.py     tokens/s over timed repetitions, and peak memory
overrides.py  the job measured: Hydra overrides of conf/train.yaml with the benchmark's defaults
"""
