"""Data-parallel training (DDP) on the CPU: 2 gloo processes match one process on the same global batch."""

import json

import pytest
import torch.multiprocessing as mp
from conftest import DDP_RUN, ddp_worker, free_port, same_weights, scalars_by_step, weights

from stylometry.hardware.distributed import World, world_from_env
from stylometry.training.loop import train


@pytest.mark.slow  # two training processes
def test_two_gloo_processes_match_one_process(make_config, tmp_path):
    cfg = make_config(*DDP_RUN)  # conftest: the gpt2_smoke path on two of Baum's books, no dropout
    single, parallel = tmp_path / "single", tmp_path / "ddp"
    assert train(cfg, single) == "complete"
    mp.spawn(ddp_worker, args=(2, free_port(), cfg, parallel), nprocs=2, join=True)

    one, two = scalars_by_step(single), scalars_by_step(parallel)
    assert one.keys() == two.keys()  # rank 0 alone wrote: every scalar once
    assert {name for _, name in one} >= {"train/loss", "train/lr", "train/grad_norm", "val/loss", "val/perplexity"}
    for key, value in one.items():
        assert two[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert same_weights(weights(single / "checkpoint"), weights(parallel / "checkpoint"), atol=1e-5)
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
