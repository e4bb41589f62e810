"""Step guards: out-of-memory retries with finer micro-batches, and non-finite steps skipped.

A step that runs out of device memory has changed nothing yet (the optimiser steps last), so
it is retried at once with the cutouts split into more micro-batches, from the same random
state. A step whose loss or gradients are not finite is not applied: on the CPU (and MPS)
the check is a plain read; on CUDA the optimiser always steps and every tensor it touched is
put back where the flag says so, on the device, so no step waits for the GPU.
"""

import torch

from ..errors import RenderHalted

NON_FINITE_LIMIT = 3  # consecutive skipped steps after which the run stops
_OOM_TYPES = tuple(
    t for t in (getattr(torch, "OutOfMemoryError", None), torch.cuda.OutOfMemoryError) if t
)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception is the device running out of memory (CUDA, MPS or CPU)."""
    if isinstance(error, _OOM_TYPES):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and "out of memory" in text


def finer_split(cutouts: int, current: int) -> int | None:
    """The next gradient_accumulation_steps to try: the least divisor of cutouts that at least
    doubles the current one (else the next larger divisor); None at one cutout per batch."""
    larger = [d for d in range(current + 1, cutouts + 1) if cutouts % d == 0]
    doubled = [d for d in larger if d >= 2 * current]
    return (doubled or larger or [None])[0]


def free_memory(device: torch.device) -> None:
    """Return cached blocks to the device after an out-of-memory error."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


class FiniteGuard:
    """Applies an optimiser step only when the step's loss and gradients are all finite."""

    def __init__(self, device: torch.device):
        self.sync_free = device.type == "cuda"
        self.run = torch.zeros((), dtype=torch.int64, device=device)  # consecutive skips
        self.skipped = torch.zeros((), dtype=torch.int64, device=device)  # all skips

    def step(self, optimizer, image, total: torch.Tensor) -> None:
        """optimizer.step() and image.update(), unless the loss or a gradient is not finite."""
        grads = [p.grad for p in image.parameters() if p.grad is not None]
        finite = torch.isfinite(total).all()
        for grad in grads:
            finite = finite & torch.isfinite(grad).all()
        self.run = torch.where(finite, 0, self.run + 1)
        self.skipped = self.skipped + (~finite).long()
        for grad in grads:  # a skipped step must not seed fresh moments with NaN
            grad.copy_(torch.where(finite, grad, 0.0))
        if not self.sync_free:
            if bool(finite):  # the CPU has nothing to wait for
                optimizer.step()
                image.update()
            return
        kept = _tensors(optimizer, image)
        before = [t.clone() for t in kept]
        optimizer.step()
        image.update()
        for tensor, old in zip(kept, before, strict=True):
            tensor.copy_(torch.where(finite, tensor, old))

    def check(self, losses: dict) -> None:
        """Raise RenderHalted after NON_FINITE_LIMIT skipped steps in a row (a sync: called at
        display points, and after every step on the CPU)."""
        if int(self.run) < NON_FINITE_LIMIT:
            return
        bad = [name for name, v in losses.items() if name != "total" and not torch.isfinite(v)]
        cause = (
            f"the loss {', '.join(repr(b) for b in bad)} is not finite: a weight, stop or "
            "expression may be far too large (e.g. 1e300) or divide by zero"
            if bad
            else "the gradients overflowed: lower learning_rate, or use precision: fp32"
        )
        raise RenderHalted(
            f"{int(self.run)} steps in a row gave non-finite values and were not applied; "
            f"{cause}. The image is as it was before them, and the checkpoint holds it."
        )

    def state_dict(self) -> dict:
        """The skip counters."""
        return {"run": int(self.run), "skipped": int(self.skipped)}

    def load_state_dict(self, state: dict) -> None:
        """Restore the skip counters."""
        self.run.fill_(int(state.get("run", 0)))
        self.skipped.fill_(int(state.get("skipped", 0)))


def _tensors(optimizer, image) -> list:
    """Every tensor an optimiser step and image.update() may change."""
    # only what changes: the constant buffers (Fourier's scale, the palette's ramp) are
    # not copied each step
    out = [p.data for p in image.parameters()] + image.updated_buffers()
    for state in optimizer.state.values():
        out += [v for v in state.values() if torch.is_tensor(v)]
    return out
