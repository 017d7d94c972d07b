"""Process-group set-up for training under ``torchrun``, and a one-process stand-in.

Under ``torchrun --nproc_per_node=N`` every process sees RANK, LOCAL_RANK and WORLD_SIZE in
its environment; ``join_process_group()`` then initializes torch.distributed (nccl when the
process has a GPU, gloo on CPU). Without those variables it returns a context for a plain
single process, and every collective below is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from edgekd.errors import ToolchainError


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # True when join_process_group() created the process group

    @property
    def is_main(self) -> bool:
        """Rank 0 logs and writes files; the other ranks only train."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over every rank."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def gather_objects(self, obj) -> list:
        """``obj`` from every rank, in rank order (picklable objects)."""
        if not self.distributed:
            return [obj]
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` on every rank (the other ranks pass anything, e.g. None): rank 0
        decides, so every rank takes the same early-stopping decision."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def leave(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def join_process_group(device: str | None = None) -> DistributedContext:
    """The context of this process: distributed under torchrun, single otherwise.

    ``device`` forces "cpu" or "cuda"; by default a GPU is used when one is present.
    """
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ToolchainError(f"--device {device}: this torch ({torch.__version__}) sees no "
                             "CUDA device; use --device cpu")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext(device=torch.device("cuda" if use_cuda else "cpu"))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistributedContext(rank=rank, world_size=world_size, device=target,
                              owns_group=owns_group)
