"""Data-parallel training (DDP) on the CPU: 2 gloo processes match one process on the same global batch."""

import csv
import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from conftest import CORPUS
from safetensors.torch import load_file

from stylometry.hardware.distributed import World, process_group, world_from_env
from stylometry.training.loop import train

# Two books of Baum's, the gpt2_smoke path; no dropout, so both runs draw nothing at random but the windows.
DDP_RUN = [
    "experiment=gpt2_smoke",
    f"data.root={CORPUS / 'baum'}",
    "data.files=[22566.txt,26624.txt]",
    "data.name=baum",
    "device=cpu",
    "stop_criteria.max_steps=4",
    "schedule.eval_every_steps=2",
    "schedule.checkpoint_every_steps=2",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, cfg, run_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size),
    )
    world = world_from_env()
    assert world == World(rank=rank, size=world_size, local_rank=rank, local_size=world_size)
    with process_group(cfg.device, world) as placement:
        assert train(cfg, run_dir, placement, world) == "complete"


def scalars(run_dir):
    with open(run_dir / "scalars.csv", newline="") as f:
        return {(int(r["step"]), r["name"]): float(r["value"]) for r in csv.DictReader(f)}


def test_two_gloo_processes_match_one_process(make_config, tmp_path):
    cfg = make_config(*DDP_RUN)
    single, parallel = tmp_path / "single", tmp_path / "ddp"
    assert train(cfg, single) == "complete"
    mp.spawn(_worker, args=(2, _free_port(), cfg, parallel), nprocs=2, join=True)

    one, two = scalars(single), scalars(parallel)
    assert one.keys() == two.keys()  # rank 0 alone wrote: every scalar once
    assert {name for _, name in one} >= {"train/loss", "train/lr", "train/grad_norm", "val/loss", "val/perplexity"}
    for key, value in one.items():
        assert two[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    a, b = load_file(single / "checkpoint/model.safetensors"), load_file(parallel / "checkpoint/model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    status = json.loads((parallel / "status.json").read_text())
    assert (status["state"], status["step"]) == ("complete", 4)
    assert json.loads((parallel / "manifest.json").read_text())["processes"] == 2
    assert (parallel / "checkpoint.best" / "model.safetensors").exists()


def test_the_world_comes_from_torchrun_or_is_one_process():
    assert world_from_env({}) == World()
    assert world_from_env({"WORLD_SIZE": "1", "RANK": "0"}) == World()
    env = {"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"}
    assert world_from_env(env) == World(rank=5, size=8, local_rank=1, local_size=4)
    assert not world_from_env(env).is_main


def test_a_batch_that_does_not_split_over_the_processes_is_named(make_config, tmp_path):
    from stylometry.config.schema import ConfigError

    cfg = make_config(*DDP_RUN, "data.batch_size=3", "optimizer.batch_tokens=null")
    with pytest.raises(ConfigError, match="data.batch_size=3 must be a multiple of the job's 2 processes"):
        train(cfg, tmp_path / "run", world=World(rank=1, size=2))
