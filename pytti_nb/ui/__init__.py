"""The notebook studio: an ipywidgets app over the engine (see studio.build_studio)."""

from .studio import Studio, build_studio

__all__ = ["Studio", "build_studio"]
