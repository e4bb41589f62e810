"""Animation: camera motion between frames (2D affine, 3D with depth) and the frame references
that stabilisation losses compare against."""
