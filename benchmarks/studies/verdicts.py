"""Plain-language verdicts: does the paper's claim hold on SynthActions, and is the deciding gap larger than the
seed spread?"""

from __future__ import annotations

from typing import Any

from benchmarks.studies.catalogue import FULL


def _row(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(r for r in rows if r["label"] == label)


def _resolved(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two rows' medians differ by more than either row's seed spread (half its min..max range)."""
    return abs(a["top1_median"] - b["top1_median"]) > max(a["top1_spread"], b["top1_spread"])


def _claim(holds: bool, resolved: bool) -> str:
    if holds:
        return "**holds**" if resolved else "**holds only nominally** (the deciding gap is within the seed spread)"
    return "**does not hold**" if resolved else "**does not hold**, though the deciding gap is within the seed spread"


def _pct(r: dict[str, Any]) -> str:
    return f"{r['top1_median']:.1f}% (±{r['top1_spread']:.1f})"


def ablation_verdict(rows: list[dict[str, Any]]) -> list[str]:
    full = _row(rows, FULL)
    others = sorted((r for r in rows if r is not full), key=lambda r: -r["top1_median"])
    removals = sorted((r for r in rows if r["label"].startswith("w/o")), key=lambda r: r["top1_median"])
    deform = next(r for r in removals if "deformable" in r["label"])
    best_other = others[0]
    holds = full["top1_median"] >= best_other["top1_median"]
    lines = [f"Full model best: {_claim(holds, _resolved(full, best_other))} — full model {_pct(full)}, best other "
             f"variant '{best_other['label']}' {_pct(best_other)}."]
    holds2 = removals[0] is deform
    rival = removals[1] if holds2 else removals[0]  # the runner-up drop, or the removal that dropped more
    drops = ", ".join(f"{r['label'][4:]} {full['top1_median'] - r['top1_median']:+.1f} points" for r in removals)
    lines.append(f"Without 3D deformable attention the largest drop among the removals: "
                 f"{_claim(holds2, _resolved(deform, rival))} — drops vs full: {drops}.")
    if holds2 and not _resolved(full, deform):
        lines.append(f"But removing 3D deformable attention costs {full['top1_median'] - deform['top1_median']:.1f} "
                     "points, within the seed spread of the two rows: no measurable drop at this budget.")
    return lines


def tokens_verdict(rows: list[dict[str, Any]]) -> list[str]:
    c, s, n = rows[:3]
    holds = c["top1_median"] > s["top1_median"] > n["top1_median"]
    # the deciding gaps: both steps when the order holds, otherwise the steps that break it
    pairs = [(c, s), (s, n)] if holds else [
        p for p in ((c, s), (s, n)) if p[0]["top1_median"] <= p[1]["top1_median"]]
    resolved = all(_resolved(a, b) for a, b in pairs)
    lines = [f"cross > single > none: {_claim(holds, resolved)} — cross {_pct(c)}, single {_pct(s)}, "
             f"none {_pct(n)}."]
    if not holds:
        runner_up = max((s, n), key=lambda r: r["top1_median"])
        best = c["top1_median"] >= runner_up["top1_median"]
        lines.append(f"Cross-modal tokens best of the three: {_claim(best, _resolved(c, runner_up))}.")
    return lines


def attention_verdict(rows: list[dict[str, Any]]) -> list[str]:
    full = _row(rows, FULL)
    lines = []
    for r in rows:
        if r is full:
            continue
        diff = r["top1_median"] - full["top1_median"]
        cost = r.get("gflops", float("nan")) / full.get("gflops", float("nan"))
        lines.append(f"{r['label']}: {r['top1_median']:.1f}% vs {_pct(full)} for the full model "
                     f"({diff:+.1f} points; {cost:.2f}x its FLOPs at this clip size).")
    lines.append("One seed per full-attention variant: a difference within the full model's seed spread is not a "
                 "difference. The paper's point is cost (see the scaling suite); on these small clips full attention "
                 "is affordable, so this table asks only whether the cheaper modules lose accuracy.")
    return lines


def windows_verdict(rows: list[dict[str, Any]]) -> list[str]:
    best = max(rows, key=lambda r: r["top1_median"])
    worst = min(rows, key=lambda r: r["top1_median"])
    ref = _row(rows, "window 4, stride 2")
    return [f"Best: {best['label']} {best['top1_median']:.1f}%; worst: {worst['label']} {worst['top1_median']:.1f}%; "
            f"our default (window 4, stride 2) {ref['top1_median']:.1f}%. One seed per cell: differences of a few "
            "points are within run-to-run noise (see the ablation's seed spread)."]


def frames_verdict(rows: list[dict[str, Any]]) -> list[str]:
    xs = [r["x"] for r in rows]
    ys = [r["top1_median"] for r in rows]
    monotone = all(b >= a for a, b in zip(ys, ys[1:], strict=False))
    lines = ["Top-1 by training frames: " + ", ".join(f"{x}: {y:.1f}%" for x, y in zip(xs, ys, strict=True))
             + f" — more frames {'always help' if monotone else 'do not help monotonically'} at this budget."]
    return lines + sweep_lines(rows)


def sweep_lines(rows: list[dict[str, Any]]) -> list[str]:
    """'Trained with T frames, tested with ...' for every finished run that has a test-frame sweep (Fig. A1)."""
    lines = []
    for r in rows:
        sweep = [] if r["missing"] else (r["runs"][0].get("frame_sweep") or [])
        if sweep:
            lines.append(f"Trained with {r['x']} frames, tested with " + ", ".join(
                f"{s['num_frames']}: {s['top1']:.1f}%" for s in sweep) + ".")
    return lines


def verdict_or_missing(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """The study's verdict, or a plain statement of which variants have not been run yet."""
    missing = [r["label"] for r in rows if r["missing"]]
    if missing:
        lines = [f"**Not determined yet**: {len(missing)} of {len(rows)} variants have no finished run "
                 f"({'; '.join(missing)}). Run `python -m benchmarks --suite {name}` to train them (finished runs are "
                 "cached and reused)."]
        return lines + (sweep_lines(rows) if name == "frames" else [])
    return VERDICTS[name](rows)


VERDICTS = {"ablation": ablation_verdict, "attention": attention_verdict, "tokens": tokens_verdict,
            "windows": windows_verdict,
            "frames": frames_verdict}
