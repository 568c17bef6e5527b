"""The learning rate's schedule and one optimizer step (clip, step, zero the gradients)."""

import math

import torch

from stylometry.config.schema import OptimizerConfig


def learning_rate(opt: OptimizerConfig, step: int) -> float:
    """Linear warmup over warmup_steps, then constant, or cosine decay to min_lr over decay_steps."""
    if step < opt.warmup_steps:
        return opt.lr * (step + 1) / opt.warmup_steps
    if opt.schedule == "constant":
        return opt.lr
    progress = min(1.0, (step - opt.warmup_steps) / opt.decay_steps)
    return opt.min_lr + 0.5 * (opt.lr - opt.min_lr) * (1.0 + math.cos(math.pi * progress))


def optimizer_step(model, optimizer, scaler, opt: OptimizerConfig, step: int, want_norm: bool):
    """Sets the step's learning rate, clips, steps, zeroes the gradients; returns (lr, gradient norm or None)."""
    lr = learning_rate(opt, step)
    for group in optimizer.param_groups:
        group["lr"] = lr
    grad_norm = None
    if opt.grad_clip is not None or want_norm:
        scaler.unscale_(optimizer)  # the norm of the true gradients, not of the fp16 loss-scaled ones
        if opt.grad_clip is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)  # the norm before clipping
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return lr, grad_norm
