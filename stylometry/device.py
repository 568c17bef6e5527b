"""Which device a job trains on, and in which precision.

The choice is a pure function of the config and of what the machine has, so it is unit-tested
with any simulated hardware; only `detect()` and `Placement.autocast()` touch torch's backends.
"""

import contextlib
from dataclasses import dataclass

import torch

from stylometry.config import ConfigError, DeviceConfig


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
