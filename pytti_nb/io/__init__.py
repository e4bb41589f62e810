"""Files: bounded reading, atomic writes, user images, PNG metadata, checkpoints, run folders and their outputs, versions recorded with them."""
