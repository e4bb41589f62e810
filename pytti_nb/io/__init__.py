"""Files: atomic writes, user images, checkpoints, run folders and their outputs, versions recorded with them."""
