"""Which device a job trains on, and in which precision.

The choice is a pure function of the config and of what the machine has, so it is unit-tested
with any simulated hardware. In a sweep, each job leases a slot on a GPU (`GpuLease`: at most
`device.jobs_per_gpu` jobs per GPU, free GPUs first) or, with no GPU, takes its share of the cores.
"""

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import torch

from stylometry.config.schema import ConfigError, DeviceConfig


@dataclass(frozen=True)
class Hardware:
    cuda_count: int = 0
    mps: bool = False
    bf16: bool = False  # the CUDA device supports bf16


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu", "mps", "cuda:0", ...
    precision: str  # fp32 | bf16 | fp16

    @property
    def uses_grad_scaler(self) -> bool:
        return self.precision == "fp16"  # fp16 gradients underflow without loss scaling; bf16's do not

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.split(":")[0], dtype=dtype)


def detect() -> Hardware:
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Hardware(
        cuda_count=cuda_count,
        mps=bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        bf16=cuda_count > 0 and torch.cuda.is_bf16_supported(),
    )


def choose_placement(cfg: DeviceConfig, hardware: Hardware, gpu_index: int = 0) -> Placement:
    kind = cfg.type
    if kind == "auto":
        kind = "cuda" if hardware.cuda_count else "mps" if hardware.mps else "cpu"
    if kind == "cuda" and not hardware.cuda_count:
        raise ConfigError("device.type=cuda but torch sees no CUDA GPU: use device=auto or device=cpu")
    if kind == "mps" and not hardware.mps:
        raise ConfigError("device.type=mps but torch sees no MPS device: use device=auto or device=cpu")
    if kind == "cuda" and not 0 <= gpu_index < hardware.cuda_count:
        raise ConfigError(f"GPU {gpu_index} does not exist ({hardware.cuda_count} visible)")

    precision = cfg.precision
    if precision == "auto":
        precision = ("bf16" if hardware.bf16 else "fp16") if kind == "cuda" else "fp32"
    if precision != "fp32" and kind != "cuda":
        raise ConfigError(f"device.precision={precision} is for CUDA; on {kind} use device.precision=fp32 (or auto)")
    if precision == "bf16" and not hardware.bf16:
        raise ConfigError("device.precision=bf16 but this GPU does not support bf16: use fp16 (or auto)")
    return Placement(device=f"cuda:{gpu_index}" if kind == "cuda" else kind, precision=precision)


def cpu_threads(num_threads: Optional[int], parallel_jobs: int, cores: int) -> int:
    """Threads for one job: the configured number, else this machine's cores shared by the jobs running at once."""
    if num_threads is not None:
        return num_threads
    return max(1, cores // max(1, parallel_jobs))  # N jobs x threads <= cores: oversubscribed BLAS threads crawl


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class GpuLease:
    """A slot on one GPU, held as an OS file lock: released when the job ends in any way, a kill included.

    Each GPU has `jobs_per_gpu` slot files in `lease_dir`, named by the GPU's UUID so that jobs
    seeing the GPUs under different indices (several schedulers, CUDA_VISIBLE_DEVICES) agree.
    A job takes a free slot on the GPU with the fewest jobs, and waits while every slot is held.
    """

    def __init__(self, lease_dir: Path, gpu_ids: List[str], jobs_per_gpu: int, poll_seconds: float = 2.0):
        self.lease_dir, self.gpu_ids, self.jobs_per_gpu, self.poll_seconds = (
            lease_dir,
            gpu_ids,
            jobs_per_gpu,
            poll_seconds,
        )
        self.handle = None
        self.gpu_index: Optional[int] = None

    def _slot(self, gpu: int, slot: int) -> Path:
        return self.lease_dir / f"gpu-{self.gpu_ids[gpu]}.slot{slot}.lock"

    def _held(self, gpu: int) -> int:
        held = 0
        for slot in range(self.jobs_per_gpu):
            with open(self._slot(gpu, slot), "a") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(probe, fcntl.LOCK_UN)
                except BlockingIOError:
                    held += 1
        return held

    def try_acquire(self) -> Optional[int]:
        self.lease_dir.mkdir(parents=True, exist_ok=True)
        for gpu in sorted(range(len(self.gpu_ids)), key=lambda g: (self._held(g), g)):
            for slot in range(self.jobs_per_gpu):
                handle = open(self._slot(gpu, slot), "a")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                self.handle, self.gpu_index = handle, gpu
                return gpu
        return None

    def __enter__(self) -> int:
        while self.try_acquire() is None:
            time.sleep(self.poll_seconds)
        return self.gpu_index

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file drops the lock
            self.handle, self.gpu_index = None, None

    def __exit__(self, *exc_info) -> None:
        self.release()


def gpu_ids() -> List[str]:
    ids = []
    for index in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        ids.append(str(uuid) if uuid is not None else str(index))
    return ids


@contextlib.contextmanager
def place_job(cfg: DeviceConfig, parallel_jobs: int, hardware: Optional[Hardware] = None):
    """Where this job runs: a leased GPU slot (released on exit), or the CPU with its share of threads."""
    hardware = hardware or detect()
    placement = choose_placement(cfg, hardware)
    if not placement.device.startswith("cuda"):
        torch.set_num_threads(cpu_threads(cfg.num_threads, parallel_jobs, usable_cores()))
        yield placement
        return
    with GpuLease(Path(cfg.lease_dir).expanduser(), gpu_ids(), cfg.jobs_per_gpu) as gpu_index:
        placement = choose_placement(cfg, hardware, gpu_index)
        # The job's process may be a reused worker: select the device now; CUDA_VISIBLE_DEVICES
        # set after torch initialised CUDA would do nothing.
        torch.cuda.set_device(gpu_index)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        yield placement
