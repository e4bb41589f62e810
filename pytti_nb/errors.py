"""Error types pytti_nb reports to the user; anything else escaping is a bug."""

import reprlib

QUOTE_LIMIT = 80  # characters of a user's value that an error message quotes
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxset, _REPR.maxtuple = 3, 6, 6, 6, 6
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = QUOTE_LIMIT


def shown(value, limit: int = QUOTE_LIMIT) -> str:
    """A repr of a user's value for a message: never longer than `limit`, '...' where cut."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails (an integer over Python's digit limit)
        text = f"<{type(value).__name__}>"
    return clipped(text, limit)


def clipped(text: str, limit: int) -> str:
    """Text of at most `limit` characters, '...' where cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reason(error: BaseException, limit: int = 200) -> str:
    """Why an OS call failed, in a few words (the OS's own, else the error's text), bounded."""
    return clipped(getattr(error, "strerror", None) or str(error) or type(error).__name__, limit)


def shown_path(path, limit: int = 200) -> str:
    """A path quoted for a message, shortened in the middle so its file name stays readable."""
    text = str(path)
    if len(text) > limit:
        keep = (limit - 3) // 2
        text = text[:keep] + "..." + text[-keep:]
    return repr(text)


class PyttiError(Exception):
    """Base for every error caused by user input or the environment."""

    def _render_traceback_(self):
        """How IPython shows it in a notebook: the message alone, in red, no traceback."""
        first, *rest = str(self).splitlines() or [type(self).__name__]
        return [f"\x1b[31merror: {first}", *(f"  {line}" for line in rest), "\x1b[0m"]


class SettingsError(PyttiError):
    """One or more settings are invalid; `problems` holds one line per problem (at most
    MAX_PROBLEMS of them, then a line saying how many more there are)."""

    MAX_PROBLEMS = 50

    def __init__(self, problems):
        problems = list(problems)
        if len(problems) > self.MAX_PROBLEMS:
            more = len(problems) - self.MAX_PROBLEMS
            problems = problems[: self.MAX_PROBLEMS] + [f"... and {more} more problem(s)"]
        self.problems = problems
        super().__init__("\n".join(self.problems))


class ModelUnavailable(PyttiError):
    """A model's weights are not on this machine and cannot be downloaded now (no network, or
    the download failed): the settings are sound, the machine lacks the model."""


class MissingModels(SettingsError):
    """Sound settings naming models this machine cannot have now; `problems` holds one line per
    model, saying how to get it or what to use offline."""


class PromptError(PyttiError):
    """A prompt or scene string is malformed."""


class ExpressionError(PyttiError):
    """An expression or keyframe schedule is malformed, unsafe or fails to evaluate."""


class PerceptorError(PyttiError):
    """A perceptor (CLIP model) spec is unknown or its weights cannot be loaded."""


class OutputError(PyttiError):
    """An output folder or file cannot be written or read."""


class RescuedRun(OutputError):
    """The run folder could not be written any more (Google Drive unmounted mid-render), and
    the render so far was saved in `run_dir` instead, to resume from there."""

    def __init__(self, message: str, run_dir):
        super().__init__(message)
        self.run_dir = run_dir


class MediaError(PyttiError):
    """A video or audio file cannot be read, or does not fit the run."""


class RenderHalted(PyttiError):
    """The render cannot go on (out of device memory at one cutout per batch, or steps that
    keep producing non-finite values); the state before the failing step is intact."""


class NotebookError(PyttiError):
    """The notebook's environment cannot run the studio (a widget library too old, Drive)."""
