"""Data-parallel training on PyTorch's own engine: torchrun, process groups, DistributedDataParallel.

``torchrun --nproc_per_node=N -m seqtk run recipe.yaml`` starts N copies of seqtk and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; this module reads
them, joins the process group (gloo on CPU, NCCL on CUDA) and gives the trainer the few
collective operations it needs. Without those variables everything here is a no-op, so a
plain ``seqtk run`` never touches ``torch.distributed``.

Why updates go through a "run this closure inside forward" module: DDP synchronises the
gradients of work done inside its wrapped module's ``forward``, but seqtk's plugins talk
to generators through other methods (``sample``, ``pretrain_loss``, ``rollouts``) and
estimators call the discriminator several times per update (real, fake, the WGAN-GP
interpolates). Running the trainer's whole loss computation as the forward of a thin
wrapper keeps plugins unaware of DDP, gives DDP exactly one forward per update, and lets
its unused-parameter search start from the loss itself, so it is exact whatever mix of
methods produced it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import torch
from torch import nn

from seqtk.core.errors import FailedOnAnotherRank, SeqtkError

T = TypeVar("T")

#: How often a worker checks that its torchrun launcher is still alive.
ORPHAN_CHECK_S = 0.2

#: Seconds a rank waits in a collective before giving up (rank 0 alone evaluates, so the
#: others wait for it): default 30 minutes; raise it for very long evaluations.
TIMEOUT_ENV = "SEQTK_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Distributed:
    """Where this process sits in a torchrun job; rank 0 of world 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run directory, logs, samples and checkpoints."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Distributed":
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" not in env or "RANK" not in env:
            return cls()
        try:
            rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0"))
        except ValueError:
            raise SeqtkError(
                f"RANK={env.get('RANK')!r}, WORLD_SIZE={env.get('WORLD_SIZE')!r}, LOCAL_RANK={env.get('LOCAL_RANK')!r}: "
                "expected integers as torchrun sets them; launch with torchrun or unset these variables"
            ) from None
        if not 0 <= rank < world:
            raise SeqtkError(f"RANK={rank} is outside WORLD_SIZE={world}; launch with torchrun or unset these variables")
        return cls(rank, world, local, launched=True)

    # ------------------------------------------------------------------ lifecycle

    def device(self, device: torch.device) -> torch.device:
        """The device this rank trains on: its own GPU (``cuda:LOCAL_RANK``) when the recipe asks for CUDA."""
        if self.launched and device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise SeqtkError(
                    f"LOCAL_RANK={self.local_rank} but this node has {torch.cuda.device_count()} CUDA device(s): "
                    "start at most one process per GPU (torchrun --nproc_per_node)"
                )
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def start(self, device: torch.device) -> None:
        """Join the process group (once per process): NCCL for CUDA, gloo for CPU."""
        if not self.launched or torch.distributed.is_initialized():
            return
        exit_when_orphaned(self.rank)
        backend = "nccl" if device.type == "cuda" else "gloo"
        timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
        kwargs: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
        torch.distributed.init_process_group(backend, rank=self.rank, world_size=self.world_size, timeout=timeout, **kwargs)

    @staticmethod
    def stop() -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    # ------------------------------------------------------------------ collectives

    @property
    def active(self) -> bool:
        return self.launched and torch.distributed.is_initialized()

    def synced(self, module: nn.Module, device: torch.device) -> "SyncedUpdates":
        return SyncedUpdates(module, device if self.active else None)

    def mean_and_any(self, values: dict[str, float], flag: bool, device: torch.device) -> tuple[dict[str, float], bool]:
        """``values`` averaged over the ranks, and whether ``flag`` is set on any rank, in one all-reduce.

        Every rank must pass the same keys (they run the same phase of the same loop).
        """
        if not self.active:
            return values, flag
        keys = list(values)
        tensor = torch.tensor([*(values[k] for k in keys), 1.0 if flag else 0.0], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(tensor)
        *sums, flags = tensor.tolist()
        return {k: total / self.world_size for k, total in zip(keys, sums)}, flags > 0

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order, on rank 0 (other ranks get an empty list)."""
        if not self.active:
            return [value]
        gathered: list[Any] = [None] * self.world_size if self.is_main else []
        torch.distributed.gather_object(value, gathered if self.is_main else None, dst=0)
        return gathered

    def from_main(self, compute: Callable[[], T]) -> T:
        """Run ``compute`` on rank 0 only and hand its result (or its refusal) to every rank.

        For what only rank 0 can or should do, such as reading the run directory, which
        another node may not even see. A ``SeqtkError`` on rank 0 is raised there and as
        ``FailedOnAnotherRank`` elsewhere, so all ranks stop together and the message is
        printed once.
        """
        if not self.active:
            return compute()
        payload: list[Any] = [None]
        if self.is_main:
            try:
                payload[0] = ("ok", compute())
            except SeqtkError as exc:
                payload[0] = ("error", exc.exit_code)
                torch.distributed.broadcast_object_list(payload, src=0)
                raise
        torch.distributed.broadcast_object_list(payload, src=0)
        status, value = payload[0]
        if status == "error":
            raise FailedOnAnotherRank(value)
        return value  # type: ignore[no-any-return]

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


class _ForwardRunsClosure(nn.Module):
    """Owns ``module``'s parameters for DDP; its forward runs whatever computation it is given."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, compute: Callable[[], Any]) -> Any:
        return compute()


class SyncedUpdates:
    """Runs a loss computation so that the backward pass averages ``module``'s gradients over ranks.

    Single process: calls the computation directly. Under torchrun: runs it as the forward
    of a ``DistributedDataParallel`` wrapper around ``module`` (whose construction also
    copies rank 0's parameters to every rank), so ``loss.backward()`` all-reduces exactly
    the gradients of the parameters the loss used.
    """

    def __init__(self, module: nn.Module, device: torch.device | None) -> None:
        self.module = module
        self._ddp: nn.Module | None = None
        # DDP refuses a module with nothing to train (a fixed generator, say); so does this.
        if device is not None and any(p.requires_grad for p in module.parameters()):
            from torch.nn.parallel import DistributedDataParallel

            self._ddp = DistributedDataParallel(
                _ForwardRunsClosure(module),
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=True,
            )

    def __call__(self, compute: Callable[[], T]) -> T:
        if self._ddp is None:
            return compute()
        return self._ddp(compute)  # type: ignore[no-any-return]


@contextlib.contextmanager
def process_group(dist: Distributed, device: torch.device) -> Iterator[None]:
    """Joined for the duration of a run, left afterwards (also on errors)."""
    dist.start(device)
    try:
        yield
    finally:
        dist.stop()


def exit_when_orphaned(rank: int, interval: float = ORPHAN_CHECK_S) -> threading.Thread:
    """Kill this worker, as the rest of the job was, when its launcher dies.

    torchrun starts each worker in a session of its own, so a ``kill -9`` of torchrun (or of
    its process group) leaves the workers running on their own: they would go on writing
    the run directory while a ``--resume`` of the same run starts beside them. A daemon
    thread notices the launcher is gone (this process's parent changed) within
    ``interval`` seconds and SIGKILLs the worker; checkpoints are written atomically, so
    the resume finds the newest complete one.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        print(f"seqtk: rank {rank}: the torchrun launcher (pid {parent}) is gone; stopping this worker", file=sys.stderr, flush=True)
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))  # no SIGKILL on Windows

    thread = threading.Thread(target=watch, name="seqtk-orphan-watch", daemon=True)
    thread.start()
    return thread
