"""The web page (Streamlit): upload a video, see the top-5 actions and where the model looked.

    deformer3d serve --model runs/demo/model [--model other_model_dir ...]   # http://127.0.0.1:8501

:func:`serve` starts ``streamlit run`` on this file, bound to 127.0.0.1 unless told otherwise; the model folders
reach the page through ``$DEFORMER3D_MODEL_DIRS`` (``os.pathsep``-separated) and the upload limit through
``$DEFORMER3D_MAX_UPLOAD_MB`` (Streamlit's own ``server.maxUploadSize`` is set too, so the browser refuses a bigger
file before sending it). The page itself is the ``main()`` below: everything goes through
:class:`deformer3d.serve.predictor.Predictor`, the same code as ``deformer3d predict``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

MODEL_DIRS_ENV = "DEFORMER3D_MODEL_DIRS"
MAX_UPLOAD_ENV = "DEFORMER3D_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 200


# ---- launching ------------------------------------------------------------------------------------------------------
def serve(model_dirs: list[Path], host: str = "127.0.0.1", port: int = 8501, max_upload_mb: int = 200,
          wait: bool = True) -> subprocess.Popen | int:
    """Run the page with ``streamlit run``. ``wait=False`` returns the process (tests, notebooks)."""
    from rich.console import Console

    from deformer3d.errors import UserError
    from deformer3d.serve.process import check_port, start_server, supervise

    dirs = [Path(d).expanduser().resolve() for d in model_dirs]
    if not dirs:
        raise UserError("serve: give at least one --model DIR (an exported model folder)")
    missing = [str(d) for d in dirs if not d.is_dir()]
    if len(missing) == len(dirs):
        raise UserError(f"serve: no model folder exists: {', '.join(missing)} (export one with `deformer3d export`)")
    if max_upload_mb < 1:
        raise UserError(f"--max-upload-mb {max_upload_mb}: must be >= 1")
    env = {**os.environ, MODEL_DIRS_ENV: os.pathsep.join(map(str, dirs)), MAX_UPLOAD_ENV: str(max_upload_mb)}
    env.setdefault("HF_HUB_OFFLINE", "1")
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(Path(__file__).resolve()),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--server.maxUploadSize", str(max_upload_mb), "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false", "--client.toolbarMode", "viewer",
    ]
    check_port(host, port)  # out of range or taken: a clear error now, not a child that dies later
    console = Console(stderr=True)
    console.print(f"serving {len(dirs)} model(s) on http://{host}:{port}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]note:[/] bound to {host}: the page is reachable from other machines")
    proc = start_server(cmd, env)
    if not wait:
        return proc
    # SIGTERM / SIGINT stop the page; a child that dies before listening is a failed start (serve/process.py)
    return supervise(proc, host, port)


def configured_model_dirs() -> list[Path]:
    """Model folders for the page: ``$DEFORMER3D_MODEL_DIRS``, or ``--model DIR`` after ``--`` on the command line;
    with neither, the bundled models."""
    raw = [d for d in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if d]
    args = sys.argv[1:]
    raw += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--model"]
    if not raw:  # no model named: the bundled ones (the Penn Action skeleton model recognises real people)
        from deformer3d.pretrained import bundled_models

        return list(bundled_models().values())
    return [Path(d) for d in dict.fromkeys(raw)]


def max_upload_bytes() -> int:
    try:
        return int(float(os.environ.get(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB)) * 1024 * 1024)
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB * 1024 * 1024


# ---- the page -----------------------------------------------------------------------------------------------------
def _load_predictor(model_dir: str):
    from deformer3d.serve.predictor import Predictor

    return Predictor(model_dir)


def pick_model(dirs: list[Path], wanted: int, load) -> tuple[object | None, int | None, list[str]]:
    """Load ``dirs[wanted]``; when it fails, the next folder that loads. -> (predictor, index used, problems)."""
    problems = []
    for i in [wanted] + [j for j in range(len(dirs)) if j != wanted]:
        try:
            return load(str(dirs[i])), i, problems
        except Exception as exc:  # noqa: BLE001 - any failure to load means: warn and fall back
            problems.append(f"model '{dirs[i].name}' ({dirs[i]}) could not be loaded: {exc}")
    return None, None, problems


def main() -> None:
    import matplotlib.pyplot as plt
    import streamlit as st

    from deformer3d.data.video import VIDEO_SUFFIXES
    from deformer3d.errors import UserError
    from deformer3d.serve.figures import explanation_figures

    st.set_page_config(page_title="deformer3d · action recognition", page_icon="🎬", layout="wide")
    st.title("deformer3d · action recognition")
    st.caption("Upload a video: the model samples a few frames, finds the person's skeleton when it needs it, and "
               "shows its five best guesses and where it looked.")

    load = st.cache_resource(show_spinner="Loading the model…")(_load_predictor)
    dirs = configured_model_dirs()
    if not dirs:
        st.error(f"No model configured. Start the page with `deformer3d serve --model DIR` (or set {MODEL_DIRS_ENV}).")
        return
    with st.sidebar:
        st.header("Model")
        wanted = st.selectbox("exported model", range(len(dirs)), format_func=lambda i: f"{dirs[i].name}  ({dirs[i]})")
        explain = st.toggle("show where the model looked", value=True)
        persons = int(st.number_input("people to follow", min_value=1, max_value=4, value=1,
                                      help="more than 1: detect and track people, a label and a timeline each"))
    predictor, used, problems = pick_model(dirs, wanted, load)
    for problem in problems:
        st.warning(problem, icon="⚠️")
    if predictor is None:
        st.error("None of the configured models could be loaded; see the warnings above.")
        return
    if used != wanted:
        st.warning(f"Using '{dirs[used].name}' instead.", icon="↪️")
    with st.sidebar:
        st.write(predictor.describe())
        st.caption(f"uploads up to {max_upload_bytes() // 2**20} MB · " + ", ".join(s.lstrip('.') for s in VIDEO_SUFFIXES))

    upload = st.file_uploader("Video", accept_multiple_files=False, help="a video file (mp4, avi, mkv, mov, webm …)")
    if upload is None:
        st.info("Upload a video to see the model's prediction.")
        return
    data = upload.getvalue()
    if len(data) > max_upload_bytes():
        st.error(f"{upload.name} is {len(data) / 2**20:.1f} MB; the limit is {max_upload_bytes() // 2**20} MB. "
                 "Cut or compress the video.")
        return
    if Path(upload.name).suffix.lower() not in VIDEO_SUFFIXES:
        st.error(f"{upload.name} is not a video file (expected one of {', '.join(VIDEO_SUFFIXES)}).")
        return

    key = (str(dirs[used]), hashlib.sha1(data).hexdigest(), explain)
    cache = st.session_state.setdefault("predictions", {})
    if key not in cache:
        try:
            with st.spinner("Decoding, finding the pose and predicting…"):
                cache.clear()  # keep one result per session: the arrays are not small
                cache[key] = predictor.predict(data, explain=explain, name=upload.name)
        except UserError as exc:
            st.error(f"Could not use {upload.name}: {exc}")
            return
    result = cache[key]
    for warning in result.warnings:  # e.g. no person found: the numbers below rest on no pose
        st.warning(warning, icon="⚠️")

    figs = explanation_figures(result, frames_cols=4)
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.subheader("Top 5")
        for rank, (label, p) in enumerate(result.top_k, 1):
            st.progress(min(max(p, 0.0), 1.0), text=f"{rank}. **{label}** — {p:.1%}")
        t = result.timings
        st.caption(f"{result.model_name} · frames {', '.join(map(str, result.frame_inds))} of {result.total_frames} · "
                   + " · ".join(f"{k} {v:.2f}s" for k, v in t.items()))
    with right:
        st.subheader("Sampled frames" + (" and skeleton" if result.pose is not None else ""))
        st.pyplot(figs["frames"], clear_figure=True)
    if explain:
        st.subheader("Where the model looked")
        shown = False
        if "deformable" in figs:
            st.markdown("**3D deformable attention** — the points the model sampled in each frame, coloured by the "
                        "attention they received (paper, fig. 5)")
            st.pyplot(figs["deformable"], clear_figure=True)
            shown = True
        if "joints" in figs:
            st.markdown("**Joint attention** — how much attention each joint received per frame (paper, fig. 6)")
            st.pyplot(figs["joints"], clear_figure=True)
            shown = True
        if "attention" in figs:
            st.markdown(f"**{result.model_name} attention** — the class token's attention to each frame's patches "
                        "in the last layer")
            st.pyplot(figs["attention"], clear_figure=True)
            shown = True
        if not shown:
            st.info(f"{result.model_name} gives no explanation figures.")
    for fig in figs.values():
        plt.close(fig)
    # longer than one window (or several people): the timeline of segments, per person when asked
    from deformer3d.serve.timeline_page import timeline_section

    timeline_section(st, predictor, data, upload.name, persons, cache_key=str(dirs[used]))


if __name__ == "__main__":
    main()
