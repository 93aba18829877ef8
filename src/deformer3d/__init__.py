"""deformer3d: action recognition from video with the cross-modal 3D deformable transformer."""

__version__ = "0.1.0"
