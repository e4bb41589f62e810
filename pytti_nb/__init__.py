"""pytti_nb: CLIP-guided image and animation synthesis for notebooks and the command line."""

__version__ = "0.1.0"
