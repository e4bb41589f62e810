"""A small sweep from the studio's current settings: a few seeds, or one setting's values."""

import contextlib
from pathlib import Path

from ..config.settings import to_dict
from ..errors import SettingsError, shown
from ..io.run_folder import claim_run_dir
from .runner import run_sweep
from .spec import parse_sweep


def quick_sweep(
    settings,
    *,
    seeds=None,
    vary=None,
    out=None,
    address=None,
    pool=None,
    check_models=True,
    should_stop=lambda: False,
    report=None,
) -> bytes:
    """Render variations of `settings` on Ray and return the contact sheet as PNG bytes.

    seeds: a count (the settings' seed and the next ones; one drawn when it is empty) or a
    list of seeds. vary: (setting name, [values]). With both, every value with every seed.
    Renders go to `out`, by default a new folder `<output_root>/<file_namespace>-sweep`
    (`-sweep(1)`, ... when taken), held locked while the sweep runs. A `pool` (pool.start_pool) kept by the studio renders with
    its models still loaded from the last sweep; without one, workers are started for this
    sweep (and a Ray instance, shut down at the end, unless the studio holds one).
    """
    data = {"base": to_dict(settings)}
    if vary is not None:
        if not (isinstance(vary, (tuple, list)) and len(vary) == 2):
            raise SettingsError([f"vary: {shown(vary)}: give (setting name, [values])"])
        name, values = vary
        data["grid"] = {name: list(values) if isinstance(values, (list, tuple)) else values}
    if seeds is not None:
        data["seeds"] = list(seeds) if isinstance(seeds, (list, tuple)) else seeds
    lock = None
    if out is None:
        root = Path(settings.output_root).expanduser()
        out, lock, _ = claim_run_dir(root, f"{settings.file_namespace}-sweep", False)
    try:
        spec = parse_sweep(data, source="studio sweep", out=out)
        result = run_sweep(
            spec,
            address=address,
            pool=pool,
            check_models=check_models,
            should_stop=should_stop,
            report=report,
            out_locked=lock is not None,
        )
    finally:
        if lock is not None:
            lock.release()
            with contextlib.suppress(OSError):
                out.rmdir()  # only when the sweep was refused before writing anything
    return result.sheet_png
