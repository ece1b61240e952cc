"""The few torch.distributed calls the trainer makes: a ``torchrun`` world, and ALBEF's
all-gather of momentum features for the queues. A plain run is a world of one."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed() -> tuple[int, int, int]:
    """(world size, rank, local rank) from torchrun's WORLD_SIZE/RANK/LOCAL_RANK, joining the
    process group (NCCL on GPUs, gloo otherwise) when the world has more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    return world, rank, int(os.environ.get("LOCAL_RANK", "0"))


def all_gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """ALBEF's concat_all_gather: the queue receives every rank's momentum features."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)
