"""What the notebook's setup cell does after the package is installed: Colab's widget manager
and Drive, the widget library's version, the GPU report, and the default output folder."""

import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import clipped

DRIVE_MOUNT = Path("/content/drive")
DRIVE_FOLDER = ("MyDrive", "pytti_nb")  # renders go to My Drive/pytti_nb when Drive is mounted
LOCAL_OUTPUT = "out"


@dataclass(frozen=True)
class NotebookEnv:
    """Where the notebook runs and where its renders go."""

    colab: bool
    device_report: str
    output_root: str
    drive: bool = False  # renders go to Google Drive


def in_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


def prepare_notebook(*, mount_drive: bool = True, notebook_dir=None) -> NotebookEnv:
    """Check the widget library, enable Colab's widgets (and Drive when asked), report the
    device, pick the output folder; say each thing that went wrong in one line."""
    from . import compat  # noqa: F401  (refuses an ipywidgets older than 7.7, saying what to do)

    colab = in_colab()
    if colab:
        from google.colab import output

        output.enable_custom_widget_manager()  # ipyevents and other third-party widgets
        if mount_drive:
            problem = mount_google_drive()
            if problem:
                print(problem)
    root = default_output_root(colab, notebook_dir)
    env = NotebookEnv(colab, device_report(), root, drive=root == str(drive_output()))
    print(env.device_report)
    print(f"Renders are saved under {env.output_root}")
    return env


def drive_output() -> Path:
    """The folder on Google Drive that renders go to."""
    return DRIVE_MOUNT.joinpath(*DRIVE_FOLDER)


def drive_mounted() -> bool:
    """True when Google Drive is mounted where Colab mounts it."""
    return (DRIVE_MOUNT / DRIVE_FOLDER[0]).is_dir()


def mount_google_drive() -> str | None:
    """Mount Google Drive (Colab asks the person for access); None, or why it is not mounted."""
    if drive_mounted():
        return None
    from google.colab import drive

    try:
        drive.mount(str(DRIVE_MOUNT))
    except Exception as e:  # refused access, a timeout: Colab raises several kinds
        why = clipped(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, 120)
        return (
            f"Google Drive is not mounted ({why}): renders stay on this runtime, which Colab "
            "deletes when it ends, so download them, or run this cell again to mount Drive"
        )
    return None if drive_mounted() else "Google Drive did not appear after mounting"


def default_output_root(colab: bool, notebook_dir=None) -> str:
    """Google Drive when it is mounted on Colab, else out/ next to the notebook."""
    if colab and drive_mounted():
        return str(drive_output())
    # Jupyter, Voila and nbclient start the kernel in the notebook's folder.
    return str(Path(notebook_dir or Path.cwd()) / LOCAL_OUTPUT)


def device_report() -> str:
    """One line naming the GPU, or saying plainly that the CPU is slow."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return f"GPU: {props.name} ({props.total_memory / 2**30:.0f} GiB); renders run on it."
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "GPU: Apple MPS; renders run on it."
    return (
        "No GPU found: rendering on the CPU is slow (minutes even for small images). "
        "On Colab choose Runtime > Change runtime type > GPU; the offline demo perceptor "
        "is fine on a CPU."
    )
