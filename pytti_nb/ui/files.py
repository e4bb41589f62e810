"""Settings in and out of the studio: save/load a file, drop in a PNG/YAML/JSON, copy and paste
YAML, and resume a stopped run from its folder. PyTTI's settings files and pasted settings are
recognised and converted, with the conversion's report in the message line."""

import base64
import errno
import hashlib
import html
import os
import tempfile
from pathlib import Path

import ipywidgets as widgets

from ..config.files import SETTINGS_SUFFIXES, read_settings_file, settings_from_text, settings_text
from ..config.output_choices import OUTPUT_CHOICES, output_choices_from_user
from ..config.settings import to_dict, to_yaml
from ..config.share import share_notebook
from ..errors import OutputError, PyttiError, SettingsError, shown, shown_path
from ..io.atomic import file_sha256
from ..io.bounded import MAX_FILE_BYTES
from ..io.run_folder import SNAPSHOTS_DIR
from ..io.user_files import write_user_file
from .compat import clear_upload, tip, uploaded

DEFAULT_SETTINGS_NAME = "pytti_settings.yaml"
MAX_NUMBERED = 10_000  # name(1) ... name(9999) tried for an upload
NOT_SAVED_HERE = "delete it first (Save replaces only a file it saved in this session)"
MAX_PNG_BYTES = 256 * 2**20  # a frame PNG is far smaller; its settings are in a text chunk


def write_snapshot(run_dir, snap, settings) -> Path:
    """Save a Snapshot as run_dir/snapshots/step_N.png with its settings (so it loads back),
    recorded as the run's in its folder (so an overwrite may delete it)."""
    from ..io.atomic import atomic_write_bytes
    from ..io.png_meta import png_bytes
    from ..io.run_folder import write_error
    from ..io.run_record import RunRecord

    folder = Path(run_dir) / SNAPSHOTS_DIR
    path = folder / f"step_{snap.step:06d}.png"
    metadata = {"settings": to_dict(settings), "seed": settings.seed, "step": snap.step}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if folder.is_symlink() or folder.resolve().parent != Path(run_dir).resolve():
            raise OutputError(
                f"{shown_path(folder)} is a link; snapshots are written only inside the run folder"
            )
        data = png_bytes(snap.image, metadata)
        atomic_write_bytes(path, data)
    except OSError as e:
        raise write_error("snapshot", path, e, run_dir) from e
    record = RunRecord.read(run_dir)
    if record is not None:
        record.add(path, data)
    return path


def save_new_file(folder, name: str, content: bytes) -> Path:
    """Write an upload into `folder` (made if needed; never a link) as a new file: `name`, else
    `stem(1).ext`, `stem(2).ext`... the first free name. The same bytes uploaded under the same
    name again reuse their file; no file is ever replaced. OSError saying what is wrong."""
    from ..io.atomic import atomic_create_bytes

    folder = Path(folder)
    if folder.is_symlink():
        raise OSError(
            errno.ELOOP,
            f"{shown_path(folder)} is a link; uploads are saved only in a real folder: "
            "remove the link (or choose another output folder)",
        )
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(content).hexdigest()
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(MAX_NUMBERED):
        path = folder / (name if n == 0 else f"{stem}({n}){suffix}")
        if path.is_file() and not path.is_symlink() and _digest(path) == digest:
            return path  # these very bytes: uploaded before
        try:
            atomic_create_bytes(path, bytes(content))
        except FileExistsError:
            continue
        return path
    raise OSError(errno.EEXIST, f"{shown_path(folder)} holds {MAX_NUMBERED} files named {name}")


def _digest(path: Path) -> str | None:
    """A file's SHA-256, or None when it cannot be read."""
    try:
        return file_sha256(path)
    except (OSError, ValueError):
        return None


def download_link(path: Path) -> str:
    """An HTML link that downloads a small file from the page itself (Colab, Jupyter, Voila)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    name = html.escape(Path(path).name)
    return (
        f"<a download='{name}' href='data:application/x-ipynb+json;base64,{data}'>"
        f"download {name}</a>"
    )


def settings_from_upload(name: str, content: bytes) -> dict:
    """Our settings mapping in an uploaded file (see upload_settings)."""
    return upload_settings(name, content)[0]


def upload_settings(
    name: str, content: bytes, *, allow_env: bool = False
) -> tuple[dict, list[str] | None]:
    """Our settings mapping in an uploaded PNG (written by pytti_nb), YAML, JSON or PyTTI file,
    and the notes of a PyTTI file's conversion (None for ours); a PyTTI file reads the
    environment only with `allow_env`."""
    suffix = Path(name).suffix.lower()
    if suffix not in SETTINGS_SUFFIXES:
        raise SettingsError(
            [
                f"{shown(name)}: cannot read settings from this file type; drop a PNG "
                f"made by pytti_nb, or a {', '.join(SETTINGS_SUFFIXES[:-1])} file"
            ]
        )
    limit = MAX_PNG_BYTES if suffix == ".png" else MAX_FILE_BYTES
    if len(content) > limit:
        raise SettingsError(
            [f"{shown(name)}: {len(content)} bytes; a settings file has at most {limit}"]
        )
    if suffix != ".png":
        try:
            text = bytes(content).decode("utf-8")
        except UnicodeDecodeError:
            raise SettingsError([f"{shown(name)}: not a text file (UTF-8)"]) from None
        return settings_from_text(text, source=shown(name), suffix=suffix, allow_env=allow_env)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(bytes(content))
        return read_settings_file(path, allow_env=allow_env)


def pasted_settings(
    text: str, current: dict, *, allow_env: bool = False
) -> tuple[dict, list[str] | None]:
    """Pasted settings over the current ones: ours ('name: value' YAML or JSON) change only the
    keys pasted; PyTTI's (detected) set every setting PyTTI has, with its defaults."""
    data, notes = settings_from_text(text, allow_env=allow_env)
    if notes is None and not data:
        raise SettingsError(
            ["pasted settings: expected 'name: value' lines, e.g. 'scenes: a red circle'"]
        )
    return {**current, **data}, notes


def needs_report(data: dict) -> list[str]:
    """What a render of loaded settings needs that this machine lacks (a model not downloaded,
    a media file not here) and what to do, as message lines; none for settings that do not plan
    yet (the panel and Render say why)."""
    from ..config.plan import plan_run
    from ..config.run_needs import missing_needs
    from ..config.settings import from_dict

    try:
        lines = missing_needs(plan_run(from_dict(data), check_models=False, check_files=False))
    except PyttiError:
        return []
    return (
        ["a render of these settings needs:", *(f"  - {line}" for line in lines)] if lines else []
    )


def conversion_report(name: str, notes) -> str:
    """The message line of a load: what was loaded and, for a PyTTI file, every note."""
    if notes is None:
        return name
    lines = [f"{name} (PyTTI settings, converted" + (":" if notes else " with no changes)")]
    return "\n".join(lines + [f"  - {note}" for note in notes] + ([")"] if notes else []))


class SettingsFiles:
    """The 'Settings and resume' section; calls the studio back through three callables."""

    def __init__(self, *, get_settings, apply_settings, resume, default_folder="."):
        self._get, self._apply, self._resume = get_settings, apply_settings, resume
        self._saved = {}  # the files Save wrote this session: real path -> SHA-256 of the text
        self.path = tip(
            widgets.Text(
                value=str(Path(default_folder) / DEFAULT_SETTINGS_NAME),
                description="settings file",
                layout=widgets.Layout(width="460px"),
            ),
            "A .yaml or .json file to save to, or a .yaml, .json or pytti_nb .png "
            "file to load from; PyTTI's .yaml and _settings.txt files are converted",
        )
        self.save_button = widgets.Button(description="Save", icon="save")
        self.load_button = widgets.Button(description="Load", icon="folder-open")
        self.upload = widgets.FileUpload(
            accept=",".join(SETTINGS_SUFFIXES), multiple=False, description="Drop a PNG/YAML/JSON"
        )
        self.yaml = tip(
            widgets.Textarea(
                description="copy settings", layout=widgets.Layout(width="600px", height="160px")
            ),
            "These settings as YAML: copy them to share, or paste settings here "
            "(ours, or PyTTI's YAML, JSON or printed SETTINGS) and press Apply",
        )
        self.apply_button = widgets.Button(description="Apply pasted", icon="paste")
        self.allow_env = tip(
            widgets.Checkbox(value=False, description="let PyTTI files read environment variables"),
            "A PyTTI file's ${oc.env:NAME} copies an environment variable (a token, a key) into "
            "the run's settings and every PNG; tick only for a file you trust",
        )
        self.share_button = tip(
            widgets.Button(description="Share as notebook", icon="share-alt"),
            "Save a copy of this notebook that opens with these settings (in Colab, Jupyter or "
            "Voila), under the output folder's shared/; the output folder is not shared",
        )
        self.download = widgets.HTML("")
        self.resume_path = tip(
            widgets.Text(description="run folder", layout=widgets.Layout(width="460px")),
            "The output folder of a stopped run (it holds checkpoint.pt)",
        )
        self.resume_button = tip(
            widgets.Button(description="Resume run", icon="play"),
            "continue the stopped run in this folder",
        )
        self.message = widgets.HTML("")
        for widget, css in (
            (self.upload, "pytti-upload"),
            (self.yaml, "pytti-settings-yaml"),
            (self.apply_button, "pytti-apply-yaml"),
            (self.share_button, "pytti-share"),
            (self.download, "pytti-share-link"),
            (self.resume_path, "pytti-resume-path"),
            (self.resume_button, "pytti-resume"),
            (self.message, "pytti-files-message"),
        ):
            widget.add_class(css)  # the browser tests find these widgets by their classes
        self.save_button.on_click(lambda _: self.save())
        self.load_button.on_click(lambda _: self.load())
        self.apply_button.on_click(lambda _: self.apply_yaml())
        self.share_button.on_click(lambda _: self.share())
        self.resume_button.on_click(lambda _: self.resume())
        self.upload.observe(lambda change: self.load_upload(), names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.path, self.save_button, self.load_button]),
                widgets.HBox([self.upload, self.allow_env]),
                widgets.HBox([self.yaml, self.apply_button]),
                widgets.HBox([self.share_button, self.download]),
                widgets.HBox([self.resume_path, self.resume_button]),
                self.message,
            ]
        )

    def refresh(self, settings) -> None:
        """Show these settings in the copy box."""
        self.yaml.value = to_yaml(settings)

    def save(self) -> None:
        """Write the current settings to the path box."""
        self._attempt(self._save)

    def _save(self) -> str:
        """Write the settings to a new file, or over one this studio saved (unchanged since);
        never over another file (a loaded PyTTI original, someone's settings)."""
        path = Path(self.path.value).expanduser()
        data = settings_text(self._get(), path).encode("utf-8")
        mine = self._saved.get(os.path.realpath(path))
        replace = mine is not None and _digest(path) == mine
        write_user_file(path, data, what="settings file", replace=replace, consent=NOT_SAVED_HERE)
        self._saved[os.path.realpath(path)] = hashlib.sha256(data).hexdigest()
        return f"saved {self.path.value}"

    def load(self) -> None:
        """Load settings from the path box (a file of ours or PyTTI's)."""
        name = self.path.value
        self._attempt(
            lambda: self._loaded(
                read_settings_file(Path(name).expanduser(), allow_env=self.allow_env.value),
                f"loaded {name}",
            )
        )

    def load_upload(self) -> None:
        """Load settings from the file just dropped on the upload button."""
        files = uploaded(self.upload)
        if not files:
            return
        name, content = files[0]
        allow_env = self.allow_env.value
        self._attempt(
            lambda: self._loaded(
                upload_settings(name, content, allow_env=allow_env), f"loaded {name}"
            )
        )
        clear_upload(self.upload)  # so dropping the same file again loads it again

    def apply_yaml(self) -> None:
        """Load the settings pasted in the copy box (ours or PyTTI's)."""
        self._attempt(
            lambda: self._loaded(
                pasted_settings(
                    self.yaml.value, to_dict(self._get()), allow_env=self.allow_env.value
                ),
                "applied the pasted settings",
            )
        )

    def _loaded(self, converted, what) -> str:
        """Show loaded settings in the panel, keeping this session's output folder and
        overwrite choice (a file never makes them); the message that says so."""
        data, notes = converted
        try:
            current = to_dict(self._get())
        except SettingsError:  # another field is invalid: the defaults' choices then
            current = {}
        user = {k: current[k] for k in OUTPUT_CHOICES if k in current}
        data, dropped = output_choices_from_user(data, what.split(" ", 1)[-1], user)
        self._apply(data)
        return "\n".join([conversion_report(what, notes), *dropped, *needs_report(data)])

    def share(self) -> None:
        """Write a notebook that opens with these settings, and offer it as a download."""
        self._attempt(self._share)

    def _share(self) -> str:
        """Write the shared notebook; the message that says where."""
        path = share_notebook(self._get())
        self.download.value = download_link(path)
        return (
            f"shared notebook saved as {path}: open it in Colab or Jupyter to render these settings"
        )

    def resume(self) -> None:
        """Resume the run in the run-folder box."""
        folder = self.resume_path.value.strip()
        if not folder:
            self._show("give the folder of a stopped run (e.g. out/default) to resume it", True)
            return
        self._attempt(lambda: self._resume_checked(folder))

    def _resume_checked(self, folder) -> str:
        """Resume the run in folder (the studio checks its checkpoint and says what is wrong)."""
        self._resume(folder)
        return f"resuming {folder}"

    def _attempt(self, action):
        """Run one action, showing the message it returns, or its error, in the message line."""
        try:
            message = action()
        except PyttiError as e:
            self._show(str(e), True)
        except OSError as e:
            self._show(f"{e.strerror or e}: {e.filename or ''}", True)
        else:
            self._show(message, False)

    def _show(self, text, is_error):
        """Show a message line, red for errors."""
        colour = "#b00020" if is_error else "#2e7d32"
        prefix = "error: " if is_error else ""
        self.message.value = (
            f"<span style='color:{colour};white-space:pre-wrap'>{html.escape(prefix + text)}</span>"
        )
