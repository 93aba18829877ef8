"""Per-window class probabilities -> a few labelled segments (start, end, label, confidence).

    segs = to_segments(starts, ends, probs, labels, min_duration=2.0)

Sliding windows overlap, so each window stands for the slice of time nearest to its centre (half a stride either
side; the first and last windows reach the video's ends). Probabilities are averaged over ``smooth`` neighbouring
windows (a moving average: a single odd window does not split an action), each window takes a class, runs of one
class become a segment, and segments shorter than ``min_duration`` are merged into the longer neighbour (a
repetition boundary or a glance at the camera is not an action of its own). With ``switch_penalty`` 0 each window
takes its most probable class; above 0 the classes are the most probable sequence when every change of class costs
that many nats of log-probability (Viterbi decoding): a change needs the new class to win over several windows, so a
stretch where the top class flips between look-alikes every window (a lifter walking to the bar, the top of each
repetition) stays with the action around it, while a real change of action still starts where the evidence turns. A segment's confidence
is the mean probability of its label over its windows, after smoothing.

Windows where nobody was seen (``seen`` False: a title card, an empty room, the person out of frame) say nothing
about the action; they vote for :data:`NO_PERSON` instead of a class, so a long gap becomes a segment of its own and
a short one merges into its neighbours like any other short run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

NO_PERSON = "(no person)"  # the label of a stretch where the model saw nobody
# nats per change of class on the timeline: on the development clips (README, timeline) 4-8 give the same segments
# for the bundled model, 16 -> 6 on the workout video where each window's own top class gives 16
SWITCH_PENALTY = 6.0


@dataclass
class Segment:
    """One action over ``[start, end)`` seconds; ``confidence`` in [0, 1]; ``track`` = person id (or None)."""

    start: float
    end: float
    label: str
    confidence: float
    track: int | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start"], d["end"], d["confidence"] = round(self.start, 3), round(self.end, 3), round(self.confidence, 4)
        return d


def window_slices(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` window starts / ends -> the slice each window stands for: from the midpoint between its centre
    and the previous window's centre to the midpoint with the next one (the ends reach the first start and the
    last end). The slices tile ``[starts[0], ends[-1]]`` without gaps or overlaps."""
    centres = (np.asarray(starts, float) + np.asarray(ends, float)) / 2
    mids = (centres[1:] + centres[:-1]) / 2
    lo = np.concatenate([[float(starts[0])], mids])
    hi = np.concatenate([mids, [float(ends[-1])]])
    return lo, hi


def moving_average(probs: np.ndarray, smooth: int) -> np.ndarray:
    """``(N, K)`` -> ``(N, K)`` averaged over ``smooth`` windows centred on each (fewer at the ends)."""
    probs = np.asarray(probs, float)
    if smooth <= 1 or len(probs) < 2:
        return probs
    half = smooth // 2
    csum = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0)])
    idx = np.arange(len(probs))
    lo, hi = np.clip(idx - half, 0, len(probs)), np.clip(idx + half + 1, 0, len(probs))
    return (csum[hi] - csum[lo]) / (hi - lo)[:, None]


def most_probable_path(probs: np.ndarray, switch_penalty: float) -> np.ndarray:
    """``(N, K)`` probabilities -> ``(N,)`` classes maximising the summed log-probability minus ``switch_penalty``
    per change of class (Viterbi over K states, every change equally likely)."""
    logp = np.log(np.clip(np.asarray(probs, float), 1e-6, None))
    n, k = logp.shape
    score, back = logp[0].copy(), np.zeros((n, k), int)
    for i in range(1, n):
        best = int(score.argmax())
        stay = score >= score[best] - switch_penalty  # staying beats the best switch (ties stay)
        back[i] = np.where(stay, np.arange(k), best)
        score = np.where(stay, score, score[best] - switch_penalty) + logp[i]
    path = np.empty(n, int)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def to_segments(
    starts: np.ndarray, ends: np.ndarray, probs: np.ndarray, labels: list[str], min_duration: float = 0.0,
    smooth: int = 3, track: int | None = None, seen: np.ndarray | None = None, switch_penalty: float = 0.0,
) -> list[Segment]:
    """Windows ``[starts[i], ends[i])`` with class probabilities ``probs (N, K)`` -> segments in time order;
    ``seen (N,)`` bool: False where nobody was seen (those windows vote for :data:`NO_PERSON`);
    ``switch_penalty``: nats per change of class (0 = each window's most probable class)."""
    if len(probs) == 0:
        return []
    probs = np.asarray(probs, float)
    if seen is not None:
        seen = np.asarray(seen, bool)[:, None]
        probs = np.concatenate([np.where(seen, probs, 0.0), (~seen).astype(float)], axis=1)
        labels = [*labels, NO_PERSON]
    probs = moving_average(probs, smooth)
    lo, hi = window_slices(starts, ends)
    best = most_probable_path(probs, switch_penalty) if switch_penalty > 0 else probs.argmax(1)
    # runs of one class: [first window, last window] index pairs
    cuts = np.flatnonzero(np.diff(best)) + 1
    runs = [[int(a), int(b) - 1] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(best)], strict=True)]
    klass = [int(best[a]) for a, _ in runs]

    def length(i: int) -> float:
        return hi[runs[i][1]] - lo[runs[i][0]]

    # merge the shortest too-short run into its longer neighbour until none is left (or one run remains)
    while len(runs) > 1:
        short = [i for i in range(len(runs)) if length(i) < min_duration]
        if not short:
            break
        i = min(short, key=length)
        nbrs = [j for j in (i - 1, i + 1) if 0 <= j < len(runs)]
        j = max(nbrs, key=length)
        a, b = min(runs[i][0], runs[j][0]), max(runs[i][1], runs[j][1])
        keep = klass[j]
        for k in sorted((i, j), reverse=True):
            del runs[k], klass[k]
        pos = min(i, j)
        runs.insert(pos, [a, b])
        klass.insert(pos, keep)
        # neighbours of the same class now touch: join them
        merged_runs, merged_klass = [], []
        for r, c in zip(runs, klass, strict=True):
            if merged_klass and merged_klass[-1] == c:
                merged_runs[-1][1] = r[1]
            else:
                merged_runs.append(list(r))
                merged_klass.append(c)
        runs, klass = merged_runs, merged_klass
    return [
        Segment(float(lo[a]), float(hi[b]), labels[c], float(probs[a : b + 1, c].mean()), track)
        for (a, b), c in zip(runs, klass, strict=True)
    ]
