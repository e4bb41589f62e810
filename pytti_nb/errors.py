"""Error types pytti_nb reports to the user; anything else escaping is a bug."""


class PyttiError(Exception):
    """Base for every error caused by user input or the environment."""


class SettingsError(PyttiError):
    """One or more settings are invalid; `problems` holds one line per problem."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PromptError(PyttiError):
    """A prompt or scene string is malformed."""


class ExpressionError(PyttiError):
    """An expression or keyframe schedule is malformed, unsafe or fails to evaluate."""


class PerceptorError(PyttiError):
    """A perceptor (CLIP model) spec is unknown or its weights cannot be loaded."""


class OutputError(PyttiError):
    """An output folder or file cannot be written or read."""


class MediaError(PyttiError):
    """A video or audio file cannot be read, or does not fit the run."""
