"""pyskl / mmaction2 skeleton annotations (``.pkl``), read safely and written.

Layout (pyskl): ``{"split": {name: [frame_dir, ...]}, "annotations": [ann, ...]}`` with each ``ann`` holding
``frame_dir`` (the sample id), ``label`` (int), ``img_shape (H, W)``, ``total_frames``, ``keypoint (M, T, V, 2)``
float pixels and ``keypoint_score (M, T, V)``. A bare list of annotations (mmaction2's older files) is accepted.
Optional keys we read: ``filename`` (video path relative to the root), ``fps``; top-level ``class_names`` and
``hflip`` (False when labels are not mirror-symmetric) are our additions, ignored by pyskl.

Reading never runs code from the file: :class:`SafeUnpickler` only rebuilds numpy arrays and plain containers, so a
pickle carrying a payload (``os.system`` ...) is refused with a :class:`DataFormatError`.
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from deformer3d.data.formats import SampleRecord, SplitData, class_names_from, pose_arrays, resolve_under
from deformer3d.errors import DataFormatError

# (module, name) pairs a pyskl / mmaction2 pkl legitimately needs: numpy array / dtype / scalar reconstruction
# (numpy 1 and 2 module names) and plain builtins.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles store array bytes through it
    ("collections", "OrderedDict"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "complex"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bytearray"),
    ("builtins", "bool"),
    ("builtins", "slice"),
    ("builtins", "range"),
}


# The most a pickle may build from a number instead of from its own bytes: ``bytearray(n)``, ``list(range(n))``, a
# numpy array of a given shape. Real annotation files build arrays from the data they carry (their
# reconstruction placeholders are empty); a 35-byte hostile pickle asking for 2 GiB is refused before allocating.
MAX_CONSTRUCTED_BYTES = 64 * 2**20


class SafeUnpickler(pickle.Unpickler):
    """Unpickler restricted to numpy arrays and builtin containers, and to objects no larger than their data:
    a constructor asked for more than :data:`MAX_CONSTRUCTED_BYTES` from a count alone is refused."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module == "numpy.dtypes" and name.endswith("DType")):
            found = super().find_class(module, name)
            return _guarded(found, name, self.source)
        raise DataFormatError(
            f"{self.source}: refusing to load '{module}.{name}' from the pickle; annotation files may only hold "
            "numpy arrays and plain Python containers (this file could run code when unpickled)"
        )


def _too_big(source: str, what: str, nbytes: float) -> DataFormatError:
    return DataFormatError(
        f"{source}: the pickle asks to build {what} of {nbytes / 2**20:,.0f} MiB from a size alone (the limit is "
        f"{MAX_CONSTRUCTED_BYTES // 2**20} MiB); real files carry the data they stand for, this one is malformed or hostile"
    )


def _array_bytes(shape: Any, dtype: Any) -> float:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    try:
        itemsize = max(1, np.dtype(dtype).itemsize)
    except (TypeError, ValueError):
        itemsize = 8
    return float(np.prod([max(0, int(d)) for d in dims], dtype=np.float64)) * itemsize


class _NdarrayGuard:
    """Stands for ``numpy.ndarray`` in the pickle: ``_reconstruct`` gets the real class, a direct call is checked."""

    def __init__(self, source: str):
        self.source = source

    def __call__(self, shape, dtype=float, *args, **kwargs):
        if _array_bytes(shape, dtype) > MAX_CONSTRUCTED_BYTES:
            raise _too_big(self.source, f"a {dtype} array of shape {shape}", _array_bytes(shape, dtype))
        return np.ndarray(shape, dtype, *args, **kwargs)


class _CheckedArray(np.ndarray):
    """What ``_reconstruct`` builds while loading: its ``__setstate__`` checks the state against the data it
    carries before numpy sees it (numpy trusts the shape of an object array's state and crashes on a short list).
    :func:`_plain` turns every one back into a plain ndarray once loading is done."""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise DataFormatError("malformed numpy array state in the pickle")
        shape, dtype, data = state[-4], state[-3], state[-1]
        try:
            dtype = np.dtype(dtype)
            count = int(np.prod([int(d) for d in ((shape,) if isinstance(shape, int) else shape)], dtype=np.float64))
        except (TypeError, ValueError, OverflowError):
            raise DataFormatError("malformed numpy array state in the pickle (shape / dtype)") from None
        size = len(data) if isinstance(data, (list, bytes, bytearray, str)) else -1
        if dtype.hasobject and (not isinstance(data, list) or size != count):
            raise DataFormatError(f"numpy object array state holds {size} items for shape {shape}")
        super().__setstate__(state)


def _plain(obj: Any) -> Any:
    """Replace the loading-time :class:`_CheckedArray` s by plain ndarrays, in place where containers allow."""
    if isinstance(obj, np.ndarray):
        return obj.view(np.ndarray) if type(obj) is _CheckedArray else obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _plain(v)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            obj[i] = _plain(v)
    elif isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    elif isinstance(obj, (set, frozenset)):
        return obj  # hashable members only: no arrays
    return obj


def _guarded(found: Any, name: str, source: str) -> Any:
    """``found`` itself when it cannot build more than its arguments hold, else a checking wrapper."""
    if found is np.ndarray:
        return _NdarrayGuard(source)
    if name == "_reconstruct":

        def reconstruct(subtype, shape, dtype):
            subtype = _CheckedArray if isinstance(subtype, _NdarrayGuard) or subtype is np.ndarray else subtype
            if _array_bytes(shape, dtype) > MAX_CONSTRUCTED_BYTES:
                raise _too_big(source, f"an array of shape {shape}", _array_bytes(shape, dtype))
            return found(subtype, shape, dtype)

        return reconstruct
    if found in (bytes, bytearray, list, tuple, set, frozenset, dict, OrderedDict):
        per_item = 1 if found in (bytes, bytearray) else 8

        def build(*args, **kwargs):
            for arg in args:
                count = arg if isinstance(arg, int) and found in (bytes, bytearray) else (
                    len(arg) if isinstance(arg, range) else 0)
                if count * per_item > MAX_CONSTRUCTED_BYTES:
                    raise _too_big(source, f"a {found.__name__}", count * per_item)
            return found(*args, **kwargs)

        return build
    return found


# ---- the same cap for unpicklers we cannot restrict from inside (torch's weights-only checkpoint loader) ----------
_SIZED_FROM_INT = {"bytes", "bytearray"}
_SIZED_FROM_ITERABLE = {"bytes", "bytearray", "list", "tuple", "set", "frozenset", "dict", "OrderedDict"}


class _Placeholder:
    """What a dry run builds instead of any object: accepts every state / item / append the pickle applies."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def add(self, value):
        pass


class _DryRun(pickle.Unpickler):
    """Runs a pickle with every global replaced by a class whose constructor only checks its arguments."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        source = self.source

        def new(cls, *args, **kwargs):
            if name == "range" and all(isinstance(a, int) for a in args) and 1 <= len(args) <= 3:
                return range(*args)  # lazy: the container built from it is what is checked
            for arg in args:
                count = arg if isinstance(arg, int) and name in _SIZED_FROM_INT else (
                    len(arg) if isinstance(arg, range) and name in _SIZED_FROM_ITERABLE else 0)
                if count * (1 if name in _SIZED_FROM_INT else 8) > MAX_CONSTRUCTED_BYTES:
                    raise _too_big(source, f"a {module}.{name}", count * (1 if name in _SIZED_FROM_INT else 8))
            if name in ("_reconstruct", "ndarray") and len(args) >= 2:
                shape, dtype = (args[1], args[2] if len(args) > 2 else "b") if name == "_reconstruct" else args[:2]
                try:
                    nbytes = _array_bytes(shape, dtype)
                except (TypeError, ValueError):
                    nbytes = 0
                if nbytes > MAX_CONSTRUCTED_BYTES:
                    raise _too_big(source, f"an array of shape {shape}", nbytes)
            return object.__new__(_Placeholder)

        return type(name, (_Placeholder,), {"__new__": new})

    def persistent_load(self, pid):
        return _Placeholder()


def check_pickle_sizes(data: bytes, source: str) -> None:
    """Refuse a pickle that would build more than :data:`MAX_CONSTRUCTED_BYTES` from a size alone
    (``bytearray(n)``, ``list(range(n))``, an array by shape): a dry run that builds nothing. For loaders whose
    own unpickler cannot be restricted (``torch.load(weights_only=True)`` rebuilds ``bytearray(n)``). A pickle
    that is not readable is left to the real loader to report."""
    try:
        _DryRun(io.BytesIO(data), source).load()
    except DataFormatError:
        raise
    except Exception:  # noqa: BLE001 - not a pickle the dry run understands: the real loader says why
        return


def check_checkpoint_sizes(path: str | Path) -> None:
    """:func:`check_pickle_sizes` on every pickle of a torch checkpoint (the ``*.pkl`` members of its zip)."""
    import zipfile

    path = Path(path)
    if not zipfile.is_zipfile(path):
        check_pickle_sizes(path.read_bytes(), str(path))  # the legacy format starts with a pickle
        return
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".pkl") and info.file_size <= 64 * MAX_CONSTRUCTED_BYTES:
                check_pickle_sizes(archive.read(info), str(path))


def safe_load_pickle(path: str | Path) -> Any:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read the annotation file ({exc})") from None
    try:
        return _plain(SafeUnpickler(io.BytesIO(data), str(path)).load())
    except DataFormatError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise DataFormatError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or not a pickle: many exception types
        raise DataFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def read_pyskl(path: str | Path) -> dict:
    """Load a pyskl pkl -> ``{"split": {...}, "annotations": [...], ...}`` (a bare list gets an empty split)."""
    path = Path(path)
    data = safe_load_pickle(path)
    if isinstance(data, list):
        data = {"split": {}, "annotations": data}
    if not isinstance(data, dict) or "annotations" not in data:
        raise DataFormatError(
            f"{path}: not a pyskl annotation file (expected a dict with 'split' and 'annotations', "
            f"got {type(data).__name__}{' with keys ' + ', '.join(map(str, data)) if isinstance(data, dict) else ''})"
        )
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "frame_dir" not in ann or "label" not in ann:
            raise DataFormatError(f"{path}: annotation #{i} lacks 'frame_dir' / 'label'")
    data.setdefault("split", {})
    return data


def _canonical(obj: Any) -> Any:
    """Rebuild containers with interned strings, so equal content pickles to equal bytes whatever the objects'
    history (pickle shares repeated objects by identity: annotations that came back from worker processes would
    otherwise pickle differently from ones built in-process)."""
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_canonical(v) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
        # unpickled arrays carry private dtype objects; the builtin one is shared (and memoised) by pickle
        return np.ascontiguousarray(obj).view(np.dtype(obj.dtype.str))
    return obj


def write_pyskl(path: str | Path, annotations: list[dict], split: dict[str, list[str]], **extra: Any) -> None:
    """Write a pyskl pkl (protocol 4, key order as given, canonical: the same content gives the same bytes)."""
    data = _canonical({"split": {k: list(v) for k, v in split.items()}, "annotations": annotations, **extra})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=4)


def annotation_pose(ann: dict, source: str):
    """``(keypoints (M, T, V, 2) float32, scores (M, T, V) float32)`` of one annotation; clear error if absent."""
    if "keypoint" not in ann or ann["keypoint"] is None:
        raise DataFormatError(
            f"{source}: sample '{ann.get('frame_dir')}' has no 'keypoint' array; this annotation holds no skeletons. "
            "Use an RGB-only model (model.modality=rgb) or extract poses first (deformer3d extract-poses)."
        )
    name = f"{source}: sample '{ann.get('frame_dir')}'"
    return pose_arrays(ann["keypoint"], ann.get("keypoint_score"), name)


def _find_video(root: Path, ann: dict, source: str) -> Path | None:
    if ann.get("filename"):
        return resolve_under(root, ann["filename"], what=f"{source}: filename of '{ann['frame_dir']}'")
    base = resolve_under(root, str(ann["frame_dir"]), what=f"{source}: frame_dir")
    if base.is_dir():
        return base
    for suffix in (".mp4", ".avi", ".mkv", ".webm", ".mov"):
        for cand in (base.with_name(base.name + suffix), root / "videos" / (base.name + suffix)):
            if cand.is_file():
                # resolved and checked like a 'filename': a symlink found here must not lead out of the root
                return resolve_under(root, cand.absolute(), what=f"{source}: video of '{ann['frame_dir']}'")
    return None


def records_from_pyskl(
    data: dict, split: str | None, root: Path, source: str, need_pose: bool
) -> list[SampleRecord]:
    anns = data["annotations"]
    if split is not None:
        if split not in data["split"]:
            raise DataFormatError(
                f"{source}: split '{split}' not found; the file has {', '.join(map(str, data['split'])) or 'no splits'} "
                "(set data.splits to map train/val/test to these names)"
            )
        wanted = set(data["split"][split])
        anns = [a for a in anns if a["frame_dir"] in wanted]
    records = []
    for ann in anns:
        kp = sc = None
        if need_pose or ann.get("keypoint") is not None:
            kp, sc = annotation_pose(ann, source)
        img_shape = tuple(int(x) for x in ann["img_shape"][:2]) if ann.get("img_shape") is not None else None
        total = ann.get("total_frames")
        if total is None and kp is not None:
            total = kp.shape[1]
        records.append(
            SampleRecord(
                id=str(ann["frame_dir"]),
                label=int(ann["label"]),
                video=_find_video(root, ann, source),
                keypoints=kp,
                scores=sc,
                total_frames=int(total) if total is not None else None,
                img_shape=img_shape,
                fps=float(ann["fps"]) if ann.get("fps") else None,
                extra={"annotation": source},  # named in messages about this sample's skeleton
            )
        )
    return records


def _class_names(data: dict, records_all: list[dict]) -> list[str]:
    if data.get("class_names"):
        return [str(c) for c in data["class_names"]]
    k = max((int(a["label"]) for a in records_all), default=-1) + 1
    return [f"class_{i}" for i in range(k)]


def annotation_path(cfg, default_ann: str = "") -> Path:
    """``cfg.ann_file`` (relative to ``cfg.root`` unless absolute), checked to exist."""
    root = Path(cfg.root or ".")
    ann_file = cfg.ann_file or default_ann
    if not ann_file:
        raise DataFormatError(
            "data.ann_file is empty: give the pyskl .pkl (relative to data.root or absolute)"
        )
    path = Path(ann_file) if Path(ann_file).is_absolute() else root / ann_file
    if not path.is_file():
        raise DataFormatError(f"annotation file not found: {path} (check data.root and data.ann_file)")
    return path


@functools.lru_cache(maxsize=2)
def _read_cached(path: str, mtime_ns: int, size: int) -> dict:
    return read_pyskl(path)


def read_pyskl_cached(path: Path) -> dict:
    """:func:`read_pyskl`, parsed once per file version (train / val / test datasets share one big pkl)."""
    st = path.stat()
    return _read_cached(str(path), st.st_mtime_ns, st.st_size)


def load_split(cfg, split: str, *, need_pose: bool = True, default_ann: str = "") -> SplitData:
    path = annotation_path(cfg, default_ann)
    data = read_pyskl_cached(path)
    records = records_from_pyskl(data, split, Path(cfg.root or "."), str(path), need_pose)
    names = class_names_from(cfg, _class_names(data, data["annotations"]))
    return SplitData(records, names, hflip=bool(data.get("hflip", True)))
