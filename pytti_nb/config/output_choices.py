"""The output choices (where a render writes, whether it may reuse a run folder): made only by
the person rendering, never by a settings file."""

from ..errors import shown
from .schema import Settings, names_where

# Where a render writes and whether it may reuse a run folder: only the person running it
# decides (--out, --set, the studio, the caller's own settings), never a file (see README).
OUTPUT_CHOICES = names_where(user_only=True)


def output_choices_from_user(data: dict, source: str, user=None) -> tuple[dict, list[str]]:
    """A file's settings mapping without the output choices (output_root, allow_overwrite),
    which only the person rendering makes; `user` holds theirs (the studio's current ones).
    Also a note for each one the file set that is not used."""
    if not isinstance(data, dict):
        return data, []
    user = user or {}
    kept = {k: v for k, v in data.items() if _bare_key(k) not in OUTPUT_CHOICES}
    notes = []
    for key, value in data.items():
        name = _bare_key(key)
        if name not in OUTPUT_CHOICES:
            continue
        used = user.get(name, getattr(Settings(), name))
        if str(value).lower() != str(used).lower():
            notes.append(
                f"{source}: {name} {shown(value)} is not used: where a render writes and whether "
                "it may reuse a run folder come only from your command (--out, --set), the "
                "studio or the defaults, never from a settings file"
            )
    return {**kept, **{k: user[k] for k in OUTPUT_CHOICES if k in user}}, notes


def _bare_key(key) -> str:
    """A key without Hydra's '+'/'++' prefixes (so '+allow_overwrite' counts too)."""
    return str(key).lstrip("+") if isinstance(key, str) else ""
