"""The web page's timeline section: an upload longer than one window gets its segments over time, and with
"people to follow" > 1 each tracked person gets their own label and timeline (the same
:func:`~deformer3d.serve.timeline.run_timeline` as ``predict --timeline``)."""

from __future__ import annotations

import hashlib

from deformer3d.errors import UserError
from deformer3d.serve.frames import FrameSampler
from deformer3d.serve.timeline import plan_windows, run_timeline, track_top_k
from deformer3d.serve.timeline_figure import timeline_figure


def needs_timeline(predictor, data: bytes, persons: int) -> bool:
    """Several people, or a video longer than one of the model's windows."""
    if persons > 1:
        return True
    with FrameSampler(data, 1.0) as probe:
        duration = probe.info.duration if probe.info else 0.0
    return duration > plan_windows(predictor.data_cfg).window_s


def timeline_section(st, predictor, data: bytes, name: str, persons: int = 1, cache_key: str = "") -> None:
    """Render the section with Streamlit module ``st`` (nothing for a short single-person upload)."""
    try:
        if not needs_timeline(predictor, data, persons):
            return
    except UserError:
        return  # the prediction above has already said what is wrong with the file
    key = (cache_key, hashlib.sha1(data).hexdigest(), persons)
    cache = st.session_state.setdefault("timelines", {})
    if key not in cache:
        bar = st.progress(0.0, text="Timeline: sliding windows over the video…")

        def progress(done: float, total: float) -> None:
            if total:
                bar.progress(min(done / total, 1.0), text=f"Timeline: {done:.0f} of {total:.0f} s")

        try:
            tl = run_timeline(predictor, data, persons=persons, progress=progress, name=name)
        except UserError as exc:
            bar.empty()
            st.error(f"No timeline for {name}: {exc}")
            return
        bar.empty()
        cache.clear()  # one timeline per session
        cache[key] = tl
    tl = cache[key]
    st.subheader("Timeline" + (" per person" if persons > 1 else ""))
    st.caption(f"windows of {tl.plan.window_s:.2g} s every {tl.plan.stride_s:.2g} s over {tl.duration:.1f} s; "
               f"{tl.duration / max(tl.timings['wall'], 1e-6):.1f}x real time")
    if persons > 1:
        best = track_top_k(tl, 3)
        if not best:
            st.warning("Nobody was followed through a whole window.", icon="⚠️")
        for track, labels in best.items():
            centre = tl.windows[track].centre()
            where = "" if centre is None else f" (at {centre[0]:.0%} across, {centre[1]:.0%} down)"
            st.markdown(f"**person {track}**{where}: " + ", ".join(f"{n} {p:.0%}" for n, p in labels))
    st.pyplot(timeline_figure(tl), clear_figure=True)
    st.dataframe([s.to_dict() for s in tl.segments], hide_index=True)
