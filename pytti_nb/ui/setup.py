"""What the notebook's setup cell does after the package is installed: Colab's widget manager
and Drive, the GPU report, and the default output folder."""

import sys
from dataclasses import dataclass
from pathlib import Path

DRIVE_MOUNT = Path("/content/drive")
DRIVE_OUTPUT = DRIVE_MOUNT / "MyDrive" / "pytti_nb"
LOCAL_OUTPUT = "out"


@dataclass(frozen=True)
class NotebookEnv:
    """Where the notebook runs and where its renders go."""

    colab: bool
    device_report: str
    output_root: str


def in_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


def prepare_notebook(*, mount_drive: bool = True, notebook_dir=None) -> NotebookEnv:
    """Enable Colab's widgets (and Drive when asked), report the device, pick the output folder."""
    colab = in_colab()
    if colab:
        from google.colab import output

        output.enable_custom_widget_manager()  # ipyevents and other third-party widgets
        if mount_drive and not (DRIVE_MOUNT / "MyDrive").is_dir():
            from google.colab import drive

            drive.mount(str(DRIVE_MOUNT))
    env = NotebookEnv(colab, device_report(), default_output_root(colab, notebook_dir))
    print(env.device_report)
    print(f"Renders are saved under {env.output_root}")
    return env


def default_output_root(colab: bool, notebook_dir=None) -> str:
    """Google Drive when it is mounted on Colab, else out/ next to the notebook."""
    if colab and (DRIVE_MOUNT / "MyDrive").is_dir():
        return str(DRIVE_OUTPUT)
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
