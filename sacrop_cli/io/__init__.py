"""Reading and writing files: atomic writes, inputs, images with metadata, storage, sidecars."""
