"""The folder models download into, from the models_cache_dir setting."""

from pathlib import Path


def cache_dir_of(settings) -> str | None:
    """The folder models download into (models_cache_dir with ~ expanded: a file may write it
    as ~/... so no machine's home is in it), or None for each library's own cache."""
    folder = settings.models_cache_dir
    return str(Path(folder).expanduser()) if folder else None
