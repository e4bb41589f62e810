"""Upload a video, a sound or an image into the studio: saved beside the renders, and the
setting that reads it (video_path, input_audio or init_image) pointed at the saved file."""

import html
import re
from pathlib import Path

import ipywidgets as widgets

from ..config.schema import schema, schema_by_name
from ..media.video import VIDEO_EXTENSIONS
from .compat import clear_upload, uploaded
from .files import save_new_file

AUDIO_EXTENSIONS = (".wav", ".mp3", ".ogg", ".flac", ".m4a", ".aac", ".opus")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# The suffixes of each kind of upload (a GIF plays as a video, but an upload of one is ambiguous).
UPLOAD_SUFFIXES = {
    "video": tuple(s for s in VIDEO_EXTENSIONS if s != ".gif"),
    "audio": AUDIO_EXTENSIONS,
    "image": IMAGE_EXTENSIONS,
}
UPLOADS_DIR = "uploads"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()-]+")


def setting_for(name: str) -> str | None:
    """Which setting reads a file of this name (the schema's upload), e.g. video_path, or None."""
    suffix = Path(name).suffix.lower()
    for info in schema():
        if info.upload and suffix in UPLOAD_SUFFIXES[info.upload]:
            return info.name
    return None


def _hint(setting: str) -> str:
    """Where to choose the one value a setting's control needs to show, e.g. ' (choose Video
    Source on the Animation tab)'; '' when it shows in several modes or always."""
    by_name = schema_by_name()
    for name, allowed in by_name[setting].visible_when.items():
        if len(allowed) == 1:
            return f" (choose {allowed[0]} on the {by_name[name].group} tab)"
    return ""


def save_upload(folder, name: str, content: bytes) -> Path:
    """Write an uploaded file into folder/uploads under a safe version of its name, as a new
    file (numbered when the name is taken; see save_new_file)."""
    safe = _UNSAFE.sub("_", Path(name).name).strip(" .") or "upload"
    return save_new_file(Path(folder).expanduser() / UPLOADS_DIR, safe, content)


class MediaUpload:
    """A button that takes a video, a sound or an image and points its setting at it."""

    def __init__(self, *, folder, set_value):
        self._folder, self._set = folder, set_value  # callables: the output root; panel setter
        accept = ",".join((*VIDEO_EXTENSIONS, *AUDIO_EXTENSIONS, *IMAGE_EXTENSIONS))
        self.upload = widgets.FileUpload(
            accept=accept, multiple=False, description="Upload video / sound / image"
        )
        self.upload.layout.width = "260px"
        self.upload.add_class("pytti-media-upload")
        self.message = widgets.HTML("")
        self.message.add_class("pytti-media-message")
        self.upload.observe(lambda change: self.take(), names="value")
        self.widget = widgets.HBox([self.upload, self.message])

    def take(self) -> None:
        """Save the file just uploaded and set the setting that reads it."""
        files = uploaded(self.upload)
        if not files:
            return
        name, content = files[0]
        setting = setting_for(name)
        if setting is None:
            self._show(f"{name}: not a video, sound or image this studio reads", True)
        else:
            try:
                path = save_upload(self._folder(), name, content)
            except OSError as e:
                self._show(f"cannot save {name}: {e.strerror or e}", True)
            else:
                self._set(setting, str(path))
                self._show(f"{setting} is now {path}{_hint(setting)}", False)
        clear_upload(self.upload)  # so the same file can be uploaded again

    def _show(self, text, is_error):
        """A one-line message, red for errors."""
        colour = "#b00020" if is_error else "#2e7d32"
        self.message.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"
