# ---
# jupyter:
#   jupytext:
#     formats: ipynb,notebook_src//py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # pytti-nb studio
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/pytti-nb/pytti-nb/blob/main/pyttitools.ipynb)
#
# Make images and animations by describing them. pytti-nb optimises a picture until CLIP,
# looking at random crops of it, agrees with your prompts; for an animation, pick 2D or 3D on
# the **Animation** tab and the camera moves the picture between frames.
#
# **How to start:** run every cell (*Run → Run All Cells*, or *Runtime → Run all* on Colab;
# served by Voila, the cells have already run).
# The studio appears at the bottom: type a prompt in **scenes**, press **Render** and watch the
# image form. **Pause** and **Stop** work at any time (Stop saves everything); prompts, weights and
# stops edited while it renders take effect at the next step. Hover over a setting to read what
# it does; **Show all settings** reveals the advanced ones. **Share as notebook** (under
# *Settings files*) saves a copy of this notebook that opens with your settings: send it, or open
# it in Colab from Drive.
#
# Without network access the default CLIP model cannot be downloaded: the studio then offers
# the small offline **demo** perceptor, which knows coloured shapes
# (try `a red circle on a black background`).

# %%
# @title Setup: install pytti-nb on Colab, mount Drive, report the GPU
PACKAGE_SOURCE = "git+https://github.com/pytti-nb/pytti-nb@main"  # @param {type:"string"}
MOUNT_DRIVE = True  # @param {type:"boolean"}
import importlib.util, subprocess, sys
from IPython.core.error import UsageError  # IPython shows it as one line, without a traceback
if "google.colab" in sys.modules and importlib.util.find_spec("pytti_nb") is None:
    print(f"Installing pytti-nb from {PACKAGE_SOURCE} (about a minute; pip adds only what Colab lacks)")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"pytti-nb[notebook] @ {PACKAGE_SOURCE}"], capture_output=True, text=True)
    if pip.returncode: raise UsageError(f"pytti-nb could not be installed from PACKAGE_SOURCE {PACKAGE_SOURCE!r}: set PACKAGE_SOURCE in this cell's form to a pytti-nb repository or wheel this runtime can reach (a git+https:// URL, a wheel's URL, or file:///path), then run the cell again; to read pip's own words, run !pip install \"pytti-nb[notebook] @ {PACKAGE_SOURCE}\"")
from pytti_nb.ui.setup import prepare_notebook
env = prepare_notebook(mount_drive=MOUNT_DRIVE)

# %% tags=["parameters"]
settings_file = ""
settings_yaml = ""
render_on_start = False
output_root = ""

# %% [markdown]
# `settings_file` may name a `.yaml`/`.json` settings file or any PNG pytti-nb made;
# `settings_yaml` holds settings as YAML text (a notebook made with **Share as notebook** carries
# its settings here; they are read like a settings file, never run as code);
# `render_on_start = True` renders once while the notebook runs (for headless runs with
# papermill or nbclient); an empty `output_root` means Google Drive on Colab when it is
# mounted, else `out/` next to this notebook.

# %%
from IPython.display import display
from pytti_nb.ui import build_studio
studio = build_studio(settings_file, output_root or env.output_root, settings_text=settings_yaml)
display(studio)
if render_on_start:
    print(studio.render_now().message)

# %% [markdown]
# ## Without widgets (optional)
#
# The same render from code, with a text progress bar: set `RUN_WITHOUT_WIDGETS = True` and run
# the cell. It renders the settings the studio shows.

# %%
RUN_WITHOUT_WIDGETS = False
if RUN_WITHOUT_WIDGETS:
    from pytti_nb.run import prepare_run, run_to_completion
    job = prepare_run(settings=studio.settings())
    result = run_to_completion(job, models=studio.models)
    print(f"{result.saves} image(s) in {job.run_dir}", result.video or "")
