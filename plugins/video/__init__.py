"""The video domain: short clips as sequences of frames (moving shapes, or the user's GIFs and PNG folders)."""
