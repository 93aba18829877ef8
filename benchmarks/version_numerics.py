"""Do two versions of the code compute the same demo training? Run this file under each version's ``src``
(it imports nothing from ``benchmarks``, so it also runs against commits from before that package existed):

    deformer3d synth /tmp/syn --clips 60 --size 32 --frames 24..40
    git worktree add /tmp/old bdd1c2f
    PYTHONPATH=/tmp/old/src python benchmarks/version_numerics.py dump /tmp/old/configs/synth_demo.yaml /tmp/old.pt
    python benchmarks/version_numerics.py dump configs/synth_demo.yaml /tmp/new.pt
    python benchmarks/version_numerics.py compare /tmp/old.pt /tmp/new.pt

``dump`` saves the first training / test items of the config's pipeline (data.root replaced by DATA, the same
torch seed per item) and, on the new version's training items, the model's logits and gradients in eval and train
mode (same initial weights: torch seed 0). ``compare`` prints the largest differences.
"""

from __future__ import annotations

import sys

import torch
from omegaconf import OmegaConf


def dump(config: str, out: str, data: str = "/tmp/syn", items: int = 6) -> None:
    from deformer3d.config import load_config
    from deformer3d.engine.datamodule import ActionDataModule
    from deformer3d.models import build_model

    cfg = load_config(config, [f"data.root={data}", "data.num_workers=0"])
    dm = ActionDataModule(cfg.data, need_video=True, need_pose=True)
    dm.setup("fit")
    res: dict[str, torch.Tensor] = {}
    for stage in ("train", "test"):
        ds = dm.dataset(stage)
        for i in range(items):
            torch.manual_seed(1234 + i)  # the training pipeline's draws come from torch's RNG
            res.update({f"item/{stage}{i}/{k}": v.clone() for k, v in ds[i].items() if torch.is_tensor(v)})
    video = torch.stack([res[f"item/train{i}/video"] for i in range(items)]).float()
    pose = torch.stack([res[f"item/train{i}/pose"] for i in range(items)]).float()
    model_cfg = cfg.model if isinstance(cfg.model, dict) else OmegaConf.to_container(cfg.model)
    torch.manual_seed(0)
    model = build_model(dict(model_cfg), num_classes=10)
    for mode in ("eval", "train"):
        getattr(model, mode)()
        model.zero_grad()
        torch.manual_seed(5)  # the same drop-path draws
        logits = model(video=video, pose=pose).logits
        logits.pow(2).sum().backward()
        res[f"{mode}/logits"] = logits.detach().clone()
        res.update({f"{mode}/grad/{k}": p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    torch.save(res, out)


def compare(a_path: str, b_path: str) -> None:
    a, b = torch.load(a_path), torch.load(b_path)
    if a.keys() != b.keys():
        print("keys differ:", sorted(set(a) ^ set(b))[:10])
    items = [k for k in a if k.startswith("item/") and k in b]
    differing = [k for k in items if a[k].shape != b[k].shape or not torch.equal(a[k], b[k])]
    print(f"pipeline items: {len(items) - len(differing)} of {len(items)} tensors identical", differing[:5])
    for mode in ("eval", "train"):
        logits = (a[f"{mode}/logits"] - b[f"{mode}/logits"]).abs().max().item()
        grads = [k for k in a if k.startswith(f"{mode}/grad/") and k in b]
        rel = max(((a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-12)).item() for k in grads)
        print(f"{mode}: logits max |diff| {logits:.3g}; gradients max relative diff {rel:.3g} over {len(grads)}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"dump": dump, "compare": compare}[command](*args)
