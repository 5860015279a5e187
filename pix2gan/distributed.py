"""Several processes (``torchrun``): gradient averaging, collective decisions, only rank 0 writes.

Gradients are averaged with one ``all_reduce`` per optimizer step over the flattened gradients, the same arithmetic
as ``DistributedDataParallel`` (a mean of the per-rank gradients), done by hand as stylegan2-ada-pytorch does:
the D phase runs several forwards per backward, the gradient penalty differentiates through D twice, and the G phase
uses D frozen; a plain all-reduce after each backward is exact for all of them, where DDP's hooks need care.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from pix2gan.checkpoint import load_checkpoint
from pix2gan.errors import Pix2GanError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    run_id: str = ""  # torchrun's TORCHELASTIC_RUN_ID: the same for every restart of one torchrun

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def average_gradients(self, params) -> None:
        """Replace every gradient by its mean over the ranks (one all_reduce of the flattened gradients)."""
        if not self.enabled:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def any(self, flag: bool, device: torch.device | str = "cpu") -> bool:
        """True on every rank when ``flag`` is true on at least one."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank."""
        if self.enabled:
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, 0)

    def gather(self, obj) -> list:
        """``obj`` from every rank, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def check_in_sync(self, *modules: nn.Module) -> None:
        """Raise if any rank's weights differ from rank 0's (a cheap checksum, compared exactly)."""
        if not self.enabled:
            return
        sums = [float(sum(p.detach().double().sum() for p in m.parameters())) for m in modules if m is not None]
        everyone = self.gather(sums)
        if any(s != everyone[0] for s in everyone):
            raise Pix2GanError(f"ranks hold different weights (checksums {everyone}); training stopped")


def setup(device: str) -> Dist:
    """A :class:`Dist` from torchrun's environment, the process group started (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        _import_before_the_group()
        dist.init_process_group("nccl" if use_cuda else "gloo", store=_attempt_store(world), rank=rank,
                                world_size=world)
    return Dist(rank, world, local_rank, os.environ.get("TORCHELASTIC_RUN_ID", ""))


def _import_before_the_group() -> None:
    """Import ``torch.distributed.nn`` before the process group exists.

    Ten of its functions take ``group=group.WORLD`` as a default, evaluated at import: imported after
    ``init_process_group`` (fused Adam's first use imports it through torch._dynamo), they hold the group for
    good, ``destroy_process_group`` then frees nothing, and gloo's worker threads live on into interpreter
    shutdown, where one that drops its last collective's tensors aborts the process ("terminate called without an
    active exception", SIGABRT after a finished run). Imported first, the defaults hold None."""
    import torch.distributed.nn  # noqa: F401


def _attempt_store(world: int) -> dist.Store | None:
    """Under torchrun, the agent's store seen through a prefix of this attempt's number; else None (torch's own
    rendezvous from the environment).

    torchrun's agent keeps one store for all its restarts and the process group's keys are not named by the
    attempt (pytorch/pytorch#135712): a restarted rank could read the address a dead rank of the earlier attempt
    wrote, and the restarted group then failed to connect or hung in gloo's connect. One torchrun counts its
    restarts for all its ranks, so the attempt number is the same on every rank of one attempt."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    agent = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False)
    return dist.PrefixStore(f"pix2gan/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", agent)


def restarted_with_checkpoint(checkpoint: Path) -> dict | None:
    """When torch's elastic agent has restarted this process group (``torchrun --max-restarts``) and ``checkpoint``
    was written by an earlier attempt of the same torchrun: ``{"restart": N, "step": S}``; else None (a checkpoint
    of another run is never resumed without ``--resume``)."""
    restart, run_id = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")), os.environ.get("TORCHELASTIC_RUN_ID")
    if restart < 1 or not run_id or not checkpoint.is_file():
        return None
    state = load_checkpoint(checkpoint, mmap=True)
    return {"restart": restart, "step": state["step"]} if state.get("elastic_run_id") == run_id else None


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
