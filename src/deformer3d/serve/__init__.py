"""Serving: an exported model applied to videos. Depends on ``deformer3d.models`` and ``deformer3d.data`` only,
never on the training engine.

- :mod:`~deformer3d.serve.predictor`: :class:`Predictor` (decode, sample, pose, model -> top-k) and ``predict``'s CLI.
- :mod:`~deformer3d.serve.figures`: explanation figures (frames + skeleton, top-k, deformable points, joint attention).
- :mod:`~deformer3d.serve.app`: the Streamlit page (``deformer3d serve``).
"""

from deformer3d.serve.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor"]
