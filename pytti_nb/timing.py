"""Optional per-stage timing of a step, for the benchmark; free when switched off."""

import time
from contextlib import contextmanager, nullcontext

import torch

_OFF = nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work: a GPU sync point, used only when timing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class StageTimer:
    """Accumulates seconds per named stage; when disabled every stage is a no-op context."""

    def __init__(self, device: torch.device, enabled: bool = False):
        self.device, self.enabled = device, enabled
        self.totals: dict[str, float] = {}

    def __call__(self, name: str):
        """Context that times one stage (syncing the GPU around it) when enabled."""
        return self._timed(name) if self.enabled else _OFF

    @contextmanager
    def _timed(self, name):
        synchronize(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start

    def reset(self) -> None:
        """Forget the accumulated times."""
        self.totals = {}


def no_timer(name: str):
    """A stage context that times nothing (the default where a StageTimer is optional)."""
    return _OFF
