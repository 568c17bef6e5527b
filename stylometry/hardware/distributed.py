"""Data-parallel training of one model over several processes (DDP): the GPUs of a node, or several nodes.

    torchrun --nproc_per_node 8 -m stylometry.train experiment=gpt2_small data.root=/my/texts
    python -m stylometry.train -m experiment=gpt2_small data.root=/my/texts hydra/launcher=slurm \
        hydra.launcher.nodes=2 hydra.launcher.tasks_per_node=8 hydra.launcher.gpus_per_node=8

The processes come from torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or from
submitit's SLURM tasks (`tasks_per_node`: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the node list),
which `submitit.helpers.TorchDistributedEnvironment` turns into the same variables. Each process
takes a shard of every global batch (`data.batch_size` windows), DDP averages the gradients, and
only rank 0 writes into the run dir. Backend: nccl on CUDA (GPU = LOCAL_RANK), gloo on the CPU.
"""

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import List

import torch
import torch.distributed as dist

from stylometry.config.schema import DeviceConfig
from stylometry.hardware.device import Placement, choose_placement, cpu_threads, detect, usable_cores


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env(env=os.environ) -> World:
    """This process's place among the job's processes: torchrun's variables, else submitit's SLURM tasks."""
    if int(env.get("WORLD_SIZE", 1)) > 1:
        return World(
            rank=int(env["RANK"]),
            size=int(env["WORLD_SIZE"]),
            local_rank=int(env.get("LOCAL_RANK", 0)),
            local_size=int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])),
        )
    if env.get("SUBMITIT_EXECUTOR") == "slurm" and int(env.get("SLURM_NTASKS", 1)) > 1:
        from submitit.helpers import TorchDistributedEnvironment

        # Exports MASTER_ADDR (the job's first node), MASTER_PORT (from the job id), RANK, WORLD_SIZE, ...
        # CUDA_VISIBLE_DEVICES is left alone: the GPU is chosen by LOCAL_RANK below.
        slurm = TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        return World(
            rank=slurm.rank, size=slurm.world_size, local_rank=slurm.local_rank, local_size=slurm.local_world_size
        )
    return World()


def current_world() -> World:
    """The process group this process is in (initialised by `process_group`), or a world of one."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=local_rank, local_size=local_size)


@contextlib.contextmanager
def process_group(cfg: DeviceConfig, world: World):
    """Joins the job's process group; yields this process's placement (its GPU, or the CPU with its threads)."""
    hardware = detect()
    # One GPU per process: the LOCAL_RANK-th, or the only one this process sees (a scheduler's per-task GPU).
    placement = choose_placement(cfg, hardware, gpu_index=0 if hardware.cuda_count <= 1 else world.local_rank)
    if placement.device.startswith("cuda"):
        torch.cuda.set_device(torch.device(placement.device))
        backend = "nccl"
    else:
        torch.set_num_threads(cpu_threads(cfg.num_threads, world.local_size, usable_cores()))
        backend = "gloo"
    # A long evaluation or checkpoint on rank 0 keeps the others waiting at the next collective.
    dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=datetime.timedelta(hours=2))
    try:
        yield placement
    finally:
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, world: World, placement: Placement) -> torch.nn.Module:
    """DistributedDataParallel over the processes (gradients averaged in backward); the module itself alone."""
    if world.size == 1:
        return module
    device_ids = [torch.device(placement.device).index] if placement.device.startswith("cuda") else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def no_sync(module: torch.nn.Module, accumulating: bool):
    """Skips DDP's gradient all-reduce on the batches before the last of an accumulated step."""
    if accumulating and isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.no_sync()
    return contextlib.nullcontext()


def all_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    """The sum over processes (the value itself in a world of one); every process gets it."""
    if world.size == 1:
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value


def any_process(flag: bool, world: World, device) -> bool:
    """True on every process if it is true on any: decisions (stop, pause) must agree."""
    if world.size == 1:
        return flag
    return bool(all_sum(torch.tensor(float(flag), device=device), world).item() > 0)


def gather_rng_states(world: World) -> List[dict]:
    """Every process's torch RNG states (dropout draws), so a resumed job continues each process's stream."""
    mine = {
        "cpu": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }
    if world.size == 1:
        return [mine]
    states = [None] * world.size
    dist.all_gather_object(states, mine)
    return states


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()
