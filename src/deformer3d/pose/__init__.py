"""Pose estimators for raw video (COCO-17 out), and ``extract_folder`` to write a pyskl pkl for a folder.

    from deformer3d.pose import build_pose_estimator
    with build_pose_estimator("mediapipe") as est:
        keypoints, scores = est.estimate(frames)     # (M, T, 17, 2) pixels, (M, T, 17)

Backends are chosen by name (:data:`deformer3d.pose.base.BACKENDS`); a backend's module is imported when its name
is first asked for, and MediaPipe's own import waits for the estimator's constructor.
"""

from __future__ import annotations

from deformer3d.pose.base import PoseEstimator, available_backends, build_pose_estimator, register_backend

__all__ = ["PoseEstimator", "available_backends", "build_pose_estimator", "register_backend"]
