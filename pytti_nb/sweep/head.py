"""A sweep's local Ray instance: `python -m pytti_nb.sweep.head OBJECT_STORE_BYTES [CPUS]`,
started by cluster.LocalRay in a process group of its own. It starts Ray, prints its address as
one JSON line, and waits for its stdin to close: when the sweep ends, or its process dies in any
way (even killed with SIGKILL). Then it shuts Ray down and kills what is left of its group (Ray's
agents would otherwise outlive a killed sweep for minutes)."""

import json
import os
import signal
import sys


def main(argv=None) -> None:
    """Start Ray, say where, and end it with the sweep."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep's Ctrl-C is the sweep's to handle
    try:
        from .cluster import QUIET, import_ray

        ray = import_ray()
        context = ray.init(
            address="local",
            include_dashboard=False,
            object_store_memory=int(argv[0]),
            num_cpus=int(argv[1]) if len(argv) > 1 else None,  # None: this machine's cores
            # Ray would start a worker per core for this process's own job, which runs nothing
            # (the sweep connects as another job): about 4 s of CPU each, for nothing
            _system_config={"prestart_worker_first_driver": False},
            **QUIET,
        )
        signal.signal(signal.SIGTERM, _exit)  # Ray's own handler would leave its agents
        info = {"address": context.address_info["gcs_address"], "pid": os.getpid()}
        info["session_dir"] = context.address_info.get("session_dir")
        print(json.dumps(info), flush=True)
        while sys.stdin.buffer.read(4096):
            pass
    except BaseException as e:  # LocalRay reports the last lines of stderr
        print(f"{type(e).__name__}: {e}", file=sys.stderr, flush=True)
    finally:
        try:
            if "ray" in sys.modules:
                sys.modules["ray"].shutdown()
        finally:
            if os.getpgid(0) == os.getpid():  # a group of its own, as LocalRay starts it
                os.killpg(0, signal.SIGKILL)  # this process too: nothing of it is left


def _exit(signum, frame):
    """End as when the sweep lets go: through main's cleanup."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
