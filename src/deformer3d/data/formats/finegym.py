"""FineGYM: pyskl's skeleton annotation (``gym_2d.pkl``: COCO-17 keypoints, splits ``train`` / ``val``).

Same file layout as any pyskl pkl (see ``formats.pyskl``); FineGYM has no separate test split, so a request for
``test`` reads ``val`` when the file has no ``test``. Class names: ``data.class_names`` (e.g. label_map_gym99.txt).
"""

from __future__ import annotations

from deformer3d.data.formats import SplitData, pyskl


def load_split(cfg, split: str, *, need_pose: bool = True) -> SplitData:
    if split == "test":
        path = pyskl.annotation_path(cfg)
        if "test" not in pyskl.read_pyskl_cached(path)["split"]:
            split = "val"
    return pyskl.load_split(cfg, split, need_pose=need_pose)
