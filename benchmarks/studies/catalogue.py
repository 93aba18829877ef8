"""The studies: their variants (config overrides), seeds and reference, and the SynthActions subset they use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# SynthActions for the studies: the demo's generator settings (32 px, 24..40 frames, full nuisances) with 120 clips
# per class, and six of the 14 classes -- an order pair (sit_down / stand_up), an object pair (drink / phone_call)
# and two plain actions -- so that every part of the model has something to do and a tiny model learns within a
# CPU budget of minutes. Per class 60 train / 10 val / 50 test clips: a test set of 300 clips (binomial standard
# error ~2.3 points at 80% accuracy).
DATA = {"clips": 1680, "seed": 0, "size": 32, "frames": [24, 40], "difficulty": 1.0,
        "classes": ["sit_down", "stand_up", "drink", "phone_call", "wave", "kick"], "split": [60, 10, 50]}
SUBSET_ANN = "synthactions_subset.pkl"  # the studies' class subset, beside the generated synthactions.pkl


@dataclass
class Variant:
    label: str
    overrides: list[str]
    seeds: list[int]
    x: Any = None  # the variant's value on the plot's x axis (windows / frames studies)


@dataclass
class Study:
    name: str
    title: str
    variants: list[Variant]
    reference: str  # label of the reference variant (the full model)
    extra_overrides: list[str] = field(default_factory=list)


FULL = "full model (deformable + joint stride + temporal stride)"


def studies() -> dict[str, Study]:
    # Seeds: three for the variants the paper's claims are about, one for the extra rows and the grid cells -- what
    # two single-threaded runs at a time fit into 20 minutes per study on a 2-core CPU (each table says so).
    three, one = [0, 1, 2], [0]
    return {
        "ablation": Study("ablation", "Attention-module ablation (paper Table 4)", [
            Variant(FULL, [], three),
            Variant("w/o 3D deformable attention", ["model.deformable=none"], three),
            Variant("w/o joint stride attention", ["model.joint_attention=none"], three),
            Variant("w/o temporal stride attention", ["model.temporal_attention=none"], three),
        ], FULL),
        "attention": Study("attention", "Deformable / stride attention vs full attention at equal budget "
                           "(the accuracy side of paper App. A1 / A2)", [
            Variant(FULL, [], three),
            Variant("full space-time attention instead of deformable", ["model.deformable=full"], one),
            Variant("full joint attention instead of stride", ["model.joint_attention=full"], one),
            Variant("full temporal attention instead of stride", ["model.temporal_attention=full"], one),
        ], FULL),
        "tokens": Study("tokens", "Cross-modal token configurations (paper Table 5)", [
            Variant("cross (M_CLS, M_RGB, M_pose)", [], three),
            Variant("single (one shared token)", ["model.modal_tokens=single"], three),
            Variant("none (mean of RGB and pose tokens)", ["model.modal_tokens=none"], three),
        ], "cross (M_CLS, M_RGB, M_pose)"),
        "windows": Study("windows", "Temporal window size x stride (paper Fig. 7a), 8 training frames", [
            Variant(f"window {w}, stride {st}", [f"model.temporal_window={w}", f"model.temporal_stride={st}"]
                    if (w, st) != (4, 2) else [], one, x=(w, st))
            for w, st in ((2, 1), (2, 2), (4, 1), (4, 2), (4, 4), (6, 1), (6, 2))
        ], "window 4, stride 2"),
        "frames": Study("frames", "Number of training frames (paper Fig. 7b) and test-frame sweep (Fig. A1)", [
            Variant(f"{t} training frames", [f"data.num_frames={t}"] if t != 8 else [],
                    one, x=t)
            for t in (4, 8, 12)
        ], "8 training frames", extra_overrides=["eval.frame_sweep=[2,4,6,8,10,12]"]),
    }
