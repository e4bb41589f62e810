"""Ray workers that render: one per GPU on a cluster with GPUs, else one per `cpus_per_render`
cores (each with that many torch threads, so renders sharing a machine never ask for more
threads than it has cores: on 2 cores, two single-threaded renders). Each worker is an actor
that keeps its models loaded across the renders it runs; a pool may serve several sweeps."""

import os

from ..errors import SettingsError
from .worker import RenderWorker

WORKER_RESTARTS = 1  # Ray restarts a worker whose process died this often


class RenderPool:
    """Started workers, with the machine and process of each."""

    def __init__(self, count: int, resources: dict, threads: int):
        """Start `count` workers, each holding `resources`, and wait until they are up."""
        import ray

        # two calls at once: a render, and a stop while it runs
        actor = ray.remote(max_concurrency=2, max_restarts=WORKER_RESTARTS)(RenderWorker)
        options = actor.options(**resources)
        self.actors = [options.remote(os.getcwd(), threads) for _ in range(count)]
        self.where = dict(
            zip(self.actors, ray.get([a.where.remote() for a in self.actors]), strict=True)
        )
        self.kind = "GPU" if resources.get("num_gpus") else f"{threads}-CPU"

    def __len__(self) -> int:
        """How many workers there are."""
        return len(self.actors)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ready(self) -> None:
        """Undo an earlier stop, before a new sweep."""
        import ray

        ray.get([a.ready.remote() for a in self.actors])

    def stop(self) -> None:
        """Ask every worker to end its render after the current step."""
        for a in self.actors:
            a.stop.remote()

    def close(self) -> None:
        """End the workers (and free their models)."""
        import ray

        for a in self.actors:
            ray.kill(a)


def start_pool(*, cpus_per_render: int = 1, count: int | None = None, devices=("auto",)):
    """Workers on the Ray cluster this process is connected to (see pool_shape)."""
    import ray

    biggest = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=0)
    if cpus_per_render > biggest:  # Ray would wait for such a worker forever
        raise SettingsError(
            [f"--cpus-per-render {cpus_per_render}: no machine of the cluster has that many "
             f"cores (the largest has {biggest:g})"]
        )  # fmt: skip
    count, held = pool_shape(ray.cluster_resources(), cpus_per_render, count, devices)
    return RenderPool(count, held, cpus_per_render)


def pool_shape(resources: dict, cpus_per_render: int, count=None, devices=("auto",)):
    """How many workers, at most `count`, and what each holds: one GPU where the cluster has
    GPUs and `devices` (the renders' device settings) allow them, else cpus_per_render cores."""
    gpus = int(resources.get("GPU", 0))
    if gpus and {str(d).strip().lower() for d in devices} <= {"auto", "cuda"}:
        return min(count or gpus, gpus), {"num_gpus": 1, "num_cpus": cpus_per_render}
    cpus = max(1, int(resources.get("CPU", 1)) // cpus_per_render)
    return min(count or cpus, cpus), {"num_cpus": cpus_per_render}
