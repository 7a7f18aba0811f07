"""Process group set-up for torchrun (DistributedDataParallel); a no-op for one process."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


class Dist:
    """Rank / world size from torchrun's environment; a no-op wrapper for a single process."""

    def __init__(self, device_arg: str | None):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        want_cuda = torch.cuda.is_available() and (device_arg is None or device_arg.startswith("cuda"))
        if self.world > 1:
            if want_cuda:
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            else:
                self.device = torch.device("cpu")
            dist.init_process_group("nccl" if want_cuda else "gloo")
        else:
            self.device = torch.device(device_arg) if device_arg else torch.device("cuda" if want_cuda else "cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, values: list[float]) -> list[float]:
        """Average scalars over processes (identity with one process)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return (t / self.world).tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
