"""Training on several processes, GPUs or machines, started by torchrun.

    torchrun --nproc_per_node 4 -m dehaze.training.train gan --data data/train/clear ...
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --nproc_per_node 8 -m dehaze.training.train gan ...

Each process (rank) draws its own share of every step's samples, and gradients
are averaged over the ranks before each optimizer step, so every rank holds the
same weights. That is DistributedDataParallel's contract; the averaging is done
here, once per step on one flat buffer, because DDP's gradient hooks do not
support the double backward of the critic's gradient penalty. Rank 0 alone
writes checkpoints, samples, validation scores and exports.
"""

import os

import torch
import torch.distributed as dist


def start(device_name: str) -> torch.device:
    """Join the process group when torchrun started several ranks; returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return torch.device(device_name)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_gpu = torch.device(device_name).type == "cuda"
    dist.init_process_group("nccl" if on_gpu else "gloo")
    if on_gpu:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device(device_name)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def average_gradients(module: torch.nn.Module) -> None:
    """Replace every gradient of `module` by its mean over the ranks (a no-op on one process)."""
    if not dist.is_initialized():
        return
    gradients = [p.grad for p in module.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in gradients])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for gradient, averaged in zip(gradients, flat.split([g.numel() for g in gradients])):
        gradient.copy_(averaged.view_as(gradient))


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on any: keeps decisions such as stopping in step."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
