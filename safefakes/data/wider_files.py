"""The WIDER FACE file formats: annotation text, ground-truth .mat, predictions.

Three formats, each read and written here and nowhere else:

* ``wider_face_{train,val}_bbx_gt.txt`` (a split's ``annotations.txt``): an
  image path line, a face count, then ``x y w h blur expression illumination
  invalid occlusion pose`` per face. An image with no face still carries one
  line of ten zeros.
* The official val ground truth ``wider_{face,easy,medium,hard}_val.mat``:
  cell arrays ``event_list``, ``file_list``, ``face_bbx_list`` and, in the
  three subset files, ``gt_list`` with the 1-based indices of the kept faces.
* Prediction folders: ``<event>/<stem>.txt`` holding the image name, the count,
  then ``x y w h score`` lines; ours also hold ``detect_info.json``, how the
  predictions were made (checkpoint, options, the machines that trained and ran
  the detector), which the evaluation copies into ``map.json``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import scipy.io

from safefakes.data.images import atomic_path, write_text_atomic
from safefakes.errors import InputError

ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
SUBSETS = ("easy", "medium", "hard")
# The height proxy of the official subsets: a face is kept in a subset when its
# box is taller than this and it is not flagged invalid. On the real val ground
# truth it agrees with the official lists on 99.8 / 99.4 / 98.0 % of faces.
SUBSET_MIN_HEIGHT = {"easy": 50, "medium": 30, "hard": 10}
MAT_FILES = {"face": "wider_face_val.mat", **{s: f"wider_{s}_val.mat" for s in SUBSETS}}
_MAT_LABEL_KEYS = {
    "blur": "blur_label_list",
    "expression": "expression_label_list",
    "illumination": "illumination_label_list",
    "invalid": "invalid_label_list",
    "occlusion": "occlusion_label_list",
    "pose": "pose_label_list",
}


# --------------------------------------------------------------------------- #
# Annotations
# --------------------------------------------------------------------------- #
@dataclass
class ImageFaces:
    """One annotated image: its path relative to ``images/`` and its faces."""

    name: str  # "<event>/<stem>.jpg", with forward slashes
    boxes: np.ndarray  # (N, 4) int64 x, y, w, h
    attributes: np.ndarray = field(default=None)  # (N, 6) int64 in ATTRIBUTES order

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.int64).reshape(-1, 4)
        if self.attributes is None:
            self.attributes = np.zeros((len(self.boxes), len(ATTRIBUTES)), dtype=np.int64)
        self.attributes = np.asarray(self.attributes, dtype=np.int64).reshape(-1, len(ATTRIBUTES))
        if len(self.attributes) != len(self.boxes):
            raise ValueError(f"{self.name}: {len(self.boxes)} boxes but {len(self.attributes)} attribute rows")

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def event(self) -> str:
        return self.name.rsplit("/", 1)[0] if "/" in self.name else ""

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def attribute(self, name: str) -> np.ndarray:
        return self.attributes[:, ATTRIBUTES.index(name)]

    @property
    def invalid(self) -> np.ndarray:
        return self.attribute("invalid") != 0

    @property
    def degenerate(self) -> np.ndarray:
        """Boxes with zero or negative width or height (real WIDER has some)."""
        return (self.boxes[:, 2] <= 0) | (self.boxes[:, 3] <= 0)


#: Larger magnitudes are refused: numpy would clamp them silently (a sign of a corrupt file anyway).
_MAX_ABS = 2**62


def _parse_ints(fields: list[str], path: Path, lineno: int, what: str) -> list[int]:
    try:
        values = [int(f) for f in fields]  # the common case; the loop below explains the rest
    except ValueError:
        pass
    else:
        if any(abs(v) >= _MAX_ABS for v in values):
            raise InputError(path, f"number out of range for {what}: {' '.join(fields)!r}", line=lineno)
        return values
    out = []
    for f in fields:
        try:
            out.append(int(f))
        except ValueError:
            try:
                value = float(f)
            except ValueError:
                raise InputError(path, f"expected integers for {what}, found {f!r}", line=lineno) from None
            if not math.isfinite(value) or value != int(value) or abs(value) >= _MAX_ABS:
                raise InputError(path, f"expected integers for {what}, found {f!r}", line=lineno,
                                 hint=f"write each value as a whole number below {_MAX_ABS:.3g} in magnitude "
                                      "(box values in pixels)") from None
            out.append(int(value))
    return out


def parse_annotations(text: str, path: str | Path = "<annotations>") -> list[ImageFaces]:
    """Parse WIDER ``*_bbx_gt.txt`` text. Errors name the file and line."""
    path = Path(path)
    # Windows line ends and trailing spaces are common in the real files.
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    images = _parse_plain(lines)
    # Anything the fast path does not take (and every error) goes through the
    # line-by-line parser, which accepts the same files and names the bad line.
    return images if images is not None else _parse_checked(lines, path)


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def unsafe_name_problem(name: str) -> str | None:
    """Why an image name from a data file may not be used as a path under its folder, or None.

    Names in annotation files are data, not trusted paths: an absolute path or
    a ``..`` component would make a command read or write outside the folders
    the user named (an absolute name would even make ``anonymize`` write over
    that file).
    """
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return f"absolute image path {name!r}: image names are relative to the split's images/ folder"
    parts = name.split("/")
    if ".." in parts:
        return f"image path {name!r} climbs out of the split's images/ folder ('..')"
    if any(part in ("", ".") for part in parts) or "\0" in name:
        return f"image path {name!r} has an empty or '.' component"
    return None


_ZERO_LINE = "0 0 0 0 0 0 0 0 0 0"


def _image_key(name: str) -> str:
    """``<event>/<stem>``: how prediction files and the ground truth name an image (extension dropped)."""
    return os.path.splitext(name)[0]


def _parse_plain(lines: list[str]) -> list[ImageFaces] | None:
    """The common file, fast: single-space-separated integer face lines, parsed in one numpy call.

    Returns None as soon as anything is unusual (a float, a tab, a bad count,
    a duplicate, a short file...): ``_parse_checked`` then decides and explains.
    A file of WIDER train's size (12,880 images) parses in 0.26 s here against 0.55 s line by line.
    """
    records: list[tuple[str, int]] = []  # (name, face count)
    face_lines: list[str] = []
    seen: set[str] = set()  # event/stem keys: two names sharing one are refused by _parse_checked
    i, n = 0, len(lines)
    while i < n:
        name = lines[i].replace("\\", "/")
        key = _image_key(name)
        if not name.endswith(_IMAGE_SUFFIXES) or key in seen or i + 1 >= n or "/." in f"/{name}" \
                or name.startswith("/") or ":" in name or "//" in name:
            return None
        seen.add(key)
        count_text = lines[i + 1]
        if not count_text.isdigit():
            return None
        count = int(count_text)
        if count == 0:
            if i + 2 >= n or lines[i + 2] != _ZERO_LINE:
                return None
            i += 3
        else:
            block = lines[i + 2:i + 2 + count]
            if len(block) != count:
                return None
            face_lines.extend(block)
            i += 2 + count
        records.append((name, count))
    if not all(line.count(" ") == 9 for line in face_lines):
        return None  # not 10 single-space-separated fields on every face line
    try:
        values = np.fromstring(" ".join(face_lines), dtype=np.int64, sep=" ") if face_lines \
            else np.zeros(0, dtype=np.int64)
    except ValueError:
        return None  # a field that is not a plain integer
    if values.size != 10 * len(face_lines) or (values.size and np.abs(values).max() >= _MAX_ABS):
        return None  # an empty field, or a number numpy clamped
    rows = values.reshape(-1, 10)
    images, start = [], 0
    for name, count in records:
        block = rows[start:start + count]
        start += count
        images.append(ImageFaces(name, block[:, :4], block[:, 4:]))
    return images


def _parse_checked(lines: list[str], path: Path) -> list[ImageFaces]:
    """Line by line, with every check and its message (see ``parse_annotations``)."""
    images: list[ImageFaces] = []
    seen: dict[str, int] = {}
    seen_keys: dict[str, tuple[str, int]] = {}  # event/stem -> (name, line)
    i = 0
    n = len(lines)
    while i < n:
        name_line = i + 1
        name = lines[i].replace("\\", "/")
        if not name:
            raise InputError(path, "empty line where an image path was expected", line=name_line)
        if os.path.splitext(name)[1].lower() not in {".jpg", ".jpeg", ".png"}:
            raise InputError(path, f"expected an image path ending in .jpg or .png, found {name!r}",
                             line=name_line, hint="each record is: path line, count line, one line per face")
        problem = unsafe_name_problem(name)
        if problem:
            raise InputError(path, problem, line=name_line,
                             hint="write the image's path relative to images/, e.g. 0--Parade/0_Parade_1.jpg")
        if name in seen:
            raise InputError(path, f"image {name!r} listed twice (first on line {seen[name]})", line=name_line)
        key = _image_key(name)
        if key in seen_keys:
            first_name, first_line = seen_keys[key]
            raise InputError(
                path, f"images {first_name!r} (line {first_line}) and {name!r} (line {name_line}) share the "
                      f"event/stem {key!r}: prediction files and the ground truth are keyed by event/stem, so "
                      f"one image's boxes would overwrite the other's", line=name_line,
                hint="rename one of the two images (the file under images/ and its line in annotations.txt) "
                     "so that every event/stem is unique, or drop the duplicate")
        seen[name] = name_line
        seen_keys[key] = (name, name_line)
        if i + 1 >= n:
            raise InputError(path, f"file ends after image path {name!r}; expected a face count", line=name_line + 1)
        count_fields = lines[i + 1].split()
        if len(count_fields) != 1:
            raise InputError(path, f"expected a face count (one integer), found {lines[i + 1]!r}", line=i + 2)
        (count,) = _parse_ints(count_fields, path, i + 2, "the face count")
        if count < 0:
            raise InputError(path, f"negative face count {count}", line=i + 2)
        # A zero-face image still carries one line of zeros.
        n_rows = max(count, 1)
        rows = []
        for k in range(n_rows):
            lineno = i + 3 + k
            if i + 2 + k >= n:
                raise InputError(path, f"file ends inside the faces of {name!r}: count says {count}, "
                                       f"found {k}", line=lineno)
            fields = lines[i + 2 + k].split()
            if count == 0:
                if len(fields) < 4 or any(float(f) != 0 for f in fields if _is_number(f)) or \
                        not all(_is_number(f) for f in fields):
                    raise InputError(path, f"image {name!r} has count 0 and must be followed by one "
                                           f"line of zeros, found {lines[i + 2 + k]!r}", line=lineno)
                continue
            if len(fields) != 10:
                if len(fields) == 1 and Path(fields[0]).suffix.lower() in {".jpg", ".jpeg", ".png"}:
                    raise InputError(path, f"count line of {name!r} says {count} faces but only {k} "
                                           f"face lines follow", line=lineno)
                raise InputError(path, f"expected 10 fields (x y w h blur expression illumination "
                                       f"invalid occlusion pose), found {len(fields)}", line=lineno)
            rows.append(_parse_ints(fields, path, lineno, "a face line"))
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 10)
        images.append(ImageFaces(name, arr[:, :4], arr[:, 4:]))
        i += 2 + n_rows
    return images


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_annotations(path: str | Path) -> list[ImageFaces]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(path, "annotation file not found") from exc
    except IsADirectoryError as exc:
        raise InputError(path, "a folder where the annotation file should be",
                         hint="annotations.txt is a text file: image path, face count, one line per face") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc})") from exc
    return parse_annotations(text, path)


def format_annotations(images: Iterable[ImageFaces]) -> str:
    out: list[str] = []
    for img in images:
        out.append(img.name)
        out.append(str(len(img)))
        if len(img) == 0:
            out.append("0 0 0 0 0 0 0 0 0 0")
        for box, attrs in zip(img.boxes, img.attributes):
            out.append(" ".join(str(int(v)) for v in (*box, *attrs)))
    return "\n".join(out) + "\n"


def write_annotations(path: str | Path, images: Iterable[ImageFaces]) -> None:
    write_text_atomic(path, format_annotations(images))


# --------------------------------------------------------------------------- #
# Official ground-truth .mat files
# --------------------------------------------------------------------------- #
@dataclass
class GroundTruthImage:
    event: str
    stem: str  # file name without extension, as in file_list
    boxes: np.ndarray  # (N, 4) x, y, w, h
    kept: dict[str, np.ndarray]  # subset -> 0-based indices of kept faces
    attributes: np.ndarray | None = None  # (N, 6), when the .mat carries labels

    @property
    def key(self) -> str:
        return f"{self.event}/{self.stem}"


@dataclass
class GroundTruth:
    """The content of the four ``wider_*_val.mat`` files, flattened per image."""

    events: list[str]
    images: list[GroundTruthImage]

    @property
    def n_faces(self) -> int:
        return int(sum(len(im.boxes) for im in self.images))

    def n_kept(self, subset: str) -> int:
        return int(sum(len(im.kept[subset]) for im in self.images))


def _cell_str(cell: object) -> str:
    arr = np.asarray(cell)
    while arr.dtype == object:
        arr = np.asarray(arr.ravel()[0])
    return str(arr.ravel()[0]) if arr.size else ""


def _load_mat(path: Path, need: tuple[str, ...]) -> dict:
    if not path.exists():
        raise InputError(path, "ground-truth .mat file not found",
                         hint="a ground-truth folder holds wider_face_val.mat and wider_{easy,medium,hard}_val.mat")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for bad files
        raise InputError(path, f"cannot read MATLAB file ({exc})") from exc
    missing = [k for k in need if k not in mat]
    if missing:
        raise InputError(path, f"not a WIDER FACE ground-truth file: missing variable(s) {', '.join(missing)}",
                         hint=f"expected {', '.join(need)}")
    return mat


def _cells(mat: dict, key: str, path: Path, n: int | None = None) -> list:
    arr = mat[key]
    if arr.dtype != object:
        raise InputError(path, f"variable {key!r} is not a cell array")
    flat = list(arr.ravel())
    if n is not None and len(flat) != n:
        raise InputError(path, f"variable {key!r} has {len(flat)} cells, expected {n} (one per event/image)")
    return flat


def read_ground_truth(folder: str | Path) -> GroundTruth:
    """Read the four official .mat files of a ground-truth folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "ground-truth folder not found",
                         hint="pass a folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat "
                              "(eval_tools/ground_truth of WIDER FACE, or a synthetic val split)")
    base_keys = ("event_list", "file_list", "face_bbx_list")
    face_path = folder / MAT_FILES["face"]
    face = _load_mat(face_path, base_keys)
    events = [_cell_str(c) for c in _cells(face, "event_list", face_path)]
    file_cells = _cells(face, "file_list", face_path, len(events))
    box_cells = _cells(face, "face_bbx_list", face_path, len(events))
    label_cells = {a: _cells(face, k, face_path, len(events)) for a, k in _MAT_LABEL_KEYS.items() if k in face}

    images: list[GroundTruthImage] = []
    per_event_counts = []
    for e, event in enumerate(events):
        files = [_cell_str(c) for c in np.asarray(file_cells[e], dtype=object).ravel()]
        boxes = list(np.asarray(box_cells[e], dtype=object).ravel())
        if len(boxes) != len(files):
            raise InputError(face_path, f"event {event!r}: {len(files)} files but {len(boxes)} box lists")
        per_event_counts.append(len(files))
        for j, stem in enumerate(files):
            b = np.asarray(boxes[j], dtype=np.float64)
            if b.size and (b.ndim != 2 or b.shape[1] != 4):
                raise InputError(face_path, f"{event}/{stem}: boxes have shape {b.shape}, expected (N, 4)")
            b = b.reshape(-1, 4)
            attrs = None
            if len(label_cells) == len(ATTRIBUTES):
                cols = [np.asarray(np.asarray(label_cells[a][e], dtype=object).ravel()[j]).reshape(-1)
                        for a in ATTRIBUTES]
                if all(len(c) == len(b) for c in cols):
                    attrs = np.stack(cols, axis=1).astype(np.int64) if len(b) else np.zeros((0, 6), np.int64)
            images.append(GroundTruthImage(event, stem, b, {}, attrs))

    for subset in SUBSETS:
        sub_path = folder / MAT_FILES[subset]
        sub = _load_mat(sub_path, ("event_list", "file_list", "gt_list"))
        sub_events = [_cell_str(c) for c in _cells(sub, "event_list", sub_path)]
        if sub_events != events:
            raise InputError(sub_path, f"event_list differs from {face_path.name}",
                             hint="all four .mat files must come from the same ground truth")
        gt_cells = _cells(sub, "gt_list", sub_path, len(events))
        k = 0
        for e, event in enumerate(events):
            per_image = list(np.asarray(gt_cells[e], dtype=object).ravel())
            if len(per_image) != per_event_counts[e]:
                raise InputError(sub_path, f"event {event!r}: gt_list has {len(per_image)} images, "
                                           f"expected {per_event_counts[e]}")
            for j in range(per_event_counts[e]):
                idx = np.asarray(per_image[j], dtype=np.int64).reshape(-1) - 1
                im = images[k + j]
                if idx.size and (idx.min() < 0 or idx.max() >= len(im.boxes)):
                    raise InputError(sub_path, f"{im.key}: gt_list index out of range 1..{len(im.boxes)}",
                                     hint="gt_list indices are 1-based")
                im.kept[subset] = idx
            k += per_event_counts[e]
    return GroundTruth(events, images)


def _obj_column(items: list) -> np.ndarray:
    arr = np.empty((len(items), 1), dtype=object)
    for i, it in enumerate(items):
        arr[i, 0] = it
    return arr


def write_ground_truth(folder: str | Path, gt: GroundTruth) -> None:
    """Write the four .mat files with the official structure (1-based gt_list)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_event: dict[str, list[GroundTruthImage]] = {e: [] for e in gt.events}
    for im in gt.images:
        if im.event not in by_event:
            raise ValueError(f"image {im.key} has an event missing from events")
        by_event[im.event].append(im)
    events = gt.events
    base = {
        "event_list": _obj_column([np.array([e]) for e in events]),
        "file_list": _obj_column([_obj_column([np.array([im.stem]) for im in by_event[e]]) for e in events]),
        "face_bbx_list": _obj_column([
            _obj_column([np.asarray(im.boxes, dtype=np.float64).reshape(-1, 4) for im in by_event[e]])
            for e in events]),
    }
    for a, key in _MAT_LABEL_KEYS.items():
        col = ATTRIBUTES.index(a)
        base[key] = _obj_column([
            _obj_column([
                (im.attributes[:, col] if im.attributes is not None else np.zeros(len(im.boxes)))
                .astype(np.uint8).reshape(-1, 1) for im in by_event[e]])
            for e in events])
    _save_mat(folder / MAT_FILES["face"], base)
    for subset in SUBSETS:
        data = dict(base)
        data["gt_list"] = _obj_column([
            _obj_column([(np.asarray(im.kept[subset], dtype=np.int64) + 1).astype(np.float64).reshape(-1, 1)
                         for im in by_event[e]])
            for e in events])
        _save_mat(folder / MAT_FILES[subset], data)


# scipy writes the current time into the 116-byte text header of a MAT file;
# a fixed header keeps the same ground truth byte-identical across runs.
_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by safefakes".ljust(116, b" ")


def _save_mat(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            scipy.io.savemat(fh, data, do_compression=True)
        with open(tmp, "r+b") as fh:
            fh.write(_MAT_HEADER)


# --------------------------------------------------------------------------- #
# Prediction folders
# --------------------------------------------------------------------------- #
def prediction_path(folder: str | Path, event: str, stem: str) -> Path:
    """``folder/<event>/<stem>.txt``; names that would leave ``folder`` are refused."""
    problem = unsafe_name_problem(f"{event}/{stem}" if event else stem) if stem and "/" not in stem \
        else f"image name {stem!r} is not a single path component"
    if problem:
        raise InputError(Path(folder), f"no prediction file written: {problem}",
                         hint="prediction files must stay inside the prediction folder")
    return Path(folder) / event / f"{stem}.txt"


def parse_prediction(text: str, path: str | Path) -> tuple[str, np.ndarray]:
    """Parse one prediction file -> (image name, (N, 5) float64 x y w h score).

    Malformed lines, NaN or infinite values and a count that disagrees with
    the lines that follow are errors naming file and line. A negative width or
    height is read as it is: the official ground truth holds one, and the
    official tool scores such boxes (they overlap nothing).
    """
    path = Path(path)
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) < 2:
        raise InputError(path, "expected an image name line and a count line",
                         line=len(lines) + 1, hint="format: name, count, then one 'x y w h score' line per box")
    name = lines[0]
    try:
        count = int(lines[1])
    except ValueError:
        raise InputError(path, f"expected the number of boxes, found {lines[1]!r}", line=2) from None
    body = lines[2:]
    if count < 0:
        raise InputError(path, f"negative box count {count}", line=2)
    if len(body) != count:
        raise InputError(path, f"count line says {count} boxes but {len(body)} box lines follow", line=2,
                         hint="fix the count or the box lines")
    out = np.empty((count, 5), dtype=np.float64)
    for k, ln in enumerate(body):
        lineno = k + 3
        fields = ln.split()
        if len(fields) != 5:
            raise InputError(path, f"expected 5 fields 'x y w h score', found {len(fields)}: {ln!r}", line=lineno)
        try:
            vals = [float(f) for f in fields]
        except ValueError:
            raise InputError(path, f"expected numbers, found {ln!r}", line=lineno) from None
        if not all(math.isfinite(v) for v in vals):
            raise InputError(path, f"NaN or infinite value in {ln!r}", line=lineno,
                             hint="drop the box or give it a finite score")
        if any(abs(v) >= _MAX_ABS for v in vals[:4]):
            # 1e308 is finite, but x + w overflows to inf and every overlap with it is NaN.
            raise InputError(path, f"box coordinates out of range in {ln!r}: each of x y w h must be below "
                                   f"{_MAX_ABS:.3g} in magnitude", line=lineno,
                             hint="drop the box or give it its pixel coordinates")
        out[k] = vals
    return name, out


def read_prediction(path: str | Path) -> tuple[str, np.ndarray]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text ({exc})") from exc
    return parse_prediction(text, path)


def read_predictions(folder: str | Path) -> dict[str, np.ndarray]:
    """All ``<event>/<stem>.txt`` files of a folder, keyed ``"<event>/<stem>"``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "prediction folder not found")
    out: dict[str, np.ndarray] = {}
    for event_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(event_dir.glob("*.txt")):
            out[f"{event_dir.name}/{f.stem}"] = read_prediction(f)[1]
    return out


def format_prediction(name: str, dets: np.ndarray) -> str:
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
    order = np.argsort(-dets[:, 4], kind="stable")
    lines = [name, str(len(dets))]
    lines += [f"{x:.1f} {y:.1f} {w:.1f} {h:.1f} {s:.6f}" for x, y, w, h, s in dets[order]]
    return "\n".join(lines) + "\n"


def write_prediction(folder: str | Path, event: str, stem: str, dets: np.ndarray) -> Path:
    """Write one image's boxes (x y w h score), sorted by score descending."""
    path = prediction_path(folder, event, stem)
    write_text_atomic(path, format_prediction(stem, dets))
    return path


def write_predictions(folder: str | Path, predictions: Mapping[str, np.ndarray]) -> None:
    for key, dets in predictions.items():
        event, stem = key.rsplit("/", 1)
        write_prediction(folder, event, stem, dets)


#: A prediction folder's record of how it was made (written by ``safefakes detect``).
PREDICTION_INFO = "detect_info.json"


def read_prediction_info(folder: str | Path) -> dict:
    """A prediction folder's ``detect_info.json``; {} where there is none (predictions of another tool)."""
    path = Path(folder) / PREDICTION_INFO
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"invalid JSON ({exc})", hint="delete the prediction folder and detect again") from exc
    if not isinstance(info, dict):
        raise InputError(path, "expected a JSON object", hint="delete the prediction folder and detect again")
    return info


__all__ = [
    "ATTRIBUTES", "SUBSETS", "SUBSET_MIN_HEIGHT", "MAT_FILES",
    "ImageFaces", "parse_annotations", "read_annotations", "format_annotations", "write_annotations",
    "GroundTruthImage", "GroundTruth", "read_ground_truth", "write_ground_truth",
    "unsafe_name_problem", "prediction_path", "parse_prediction", "read_prediction", "read_predictions",
    "format_prediction", "write_prediction", "write_predictions", "PREDICTION_INFO", "read_prediction_info",
]
