"""``safefakes anonymize-images`` and its audit, on real sample photos (tests/sample_photos.py).

Inputs as users give them (a folder, one file, a glob; JPEG, WebP, BMP, TIFF;
EXIF-rotated), the dry run, the warnings, the detector's bounds, and
``safefakes audit`` on the output catching a face left as it was. Runs with
the default detector (CenterFace) skip when its weights are not installed
(`make setup` installs them).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from safefakes.anonymizers.registry import build_anonymizer
from safefakes.commands import anonymize as anonymize_command
from safefakes.data.anonymized import read_manifest
from safefakes.data.images import decode_photo, read_image
from safefakes.engine import face_finder
from safefakes.engine import folder as folder_module
from safefakes.engine.face_finder import FaceFinder, find_faces
from safefakes.engine.folder import anonymize_folder, collect_inputs, default_photo_workers, preview_folder
from safefakes.engine.folder_audit import audit_folder, box_iou, is_folder_run
from safefakes.errors import InputError
from safefakes.weights import CENTERFACE
from tests.sample_photos import sample_photo

EXIF_ORIENTATION, EXIF_MAKE = 0x0112, 0x010F


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    anonymize_command.add_parser(parser.add_subparsers(dest="command"))
    return parser


def _save(path, image: np.ndarray, exif: dict | None = None, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {}
    if exif:
        block = Image.Exif()
        for tag, value in exif.items():
            block[tag] = value
        extra["exif"] = block.tobytes()
    Image.fromarray(image).save(path, **options, **extra)


def _hog(image):
    return find_faces(image, "hog", 0.0, 1)[0]


@pytest.fixture(scope="module")
def astronaut():
    return sample_photo("astronaut")


@pytest.fixture(scope="module")
def hopper():
    return sample_photo("grace_hopper")


@pytest.fixture()
def photos(tmp_path, astronaut, hopper, centerface_weights):
    """A folder of real photos in four formats, with a video and a note beside them."""
    root = tmp_path / "photos"
    _save(root / "astronaut.jpg", astronaut, quality=95)
    _save(root / "trip/hopper.webp", hopper, quality=95)
    _save(root / "trip/hopper.bmp", hopper)
    _save(root / "scans/astronaut.tiff", astronaut)
    (root / "trip/clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (root / "notes.txt").write_text("not a photo")
    return root


def _face_changed(before: np.ndarray, after: np.ndarray, box) -> float:
    x, y, w, h = box
    return float(np.abs(after[y:y + h, x:x + w].astype(int) - before[y:y + h, x:x + w]).mean())


def test_a_folder_in_four_formats_is_anonymized_and_written_back_in_kind(photos, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        report = anonymize_folder(photos, out, build_anonymizer("blur"), workers=1, progress=False)
    assert report.n_images == 4 and report.n_faces >= 4
    formats = {name: Image.open(out / name).format for name in
               ("astronaut.jpg", "trip/hopper.webp", "trip/hopper.bmp", "scans/astronaut.tiff")}
    assert formats == {"astronaut.jpg": "JPEG", "trip/hopper.webp": "WEBP", "trip/hopper.bmp": "BMP",
                       "scans/astronaut.tiff": "TIFF"}
    for name in formats:
        before, after = decode_photo((photos / name).read_bytes()), decode_photo((out / name).read_bytes())
        box = _hog(before)[0]
        assert _face_changed(before, after, box) > 10, name
    # The skipped files are named, each with why.
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "clip.mp4 (a video" in warning and "notes.txt (suffix '.txt'" in warning
    assert not (out / "trip/clip.mp4").exists() and not (out / "notes.txt").exists()


def test_single_file_and_glob_inputs(photos, tmp_path):
    out = tmp_path / "one"
    report = anonymize_folder(photos / "trip/hopper.bmp", out, build_anonymizer("blackout"), workers=1,
                              progress=False)
    assert report.n_images == 1 and [r["image"] for r in read_manifest(out / "manifest.csv")] == ["hopper.bmp"]
    # A glob; the output may even sit inside the input root when files are named.
    out = photos / "anonymized"
    report = anonymize_folder(str(photos / "**" / "*.[jw][pe]*"), out, build_anonymizer("pixelate"), workers=1,
                              progress=False)
    names = sorted({r["image"] for r in read_manifest(out / "manifest.csv")})
    assert names == ["astronaut.jpg", "trip/hopper.webp"]  # the root is the photos' deepest common folder
    assert (out / "trip/hopper.webp").exists()
    # Through the command line, several inputs then the output folder.
    args = _parser().parse_args(["anonymize-images", str(photos / "astronaut.jpg"), str(photos / "scans"),
                                 str(tmp_path / "cli"), "--method", "blur", "--workers", "1", "--no-progress"])
    assert args.func(args) == 0
    assert (tmp_path / "cli/astronaut.jpg").exists() and (tmp_path / "cli/scans/astronaut.tiff").exists()


def test_centerface_end_to_end_through_the_command(tmp_path, astronaut, hopper, centerface_weights):
    root = tmp_path / "photos"
    _save(root / "astronaut.jpg", astronaut, quality=95)
    _save(root / "people/hopper.png", hopper)
    _save(root / "coffee.png", sample_photo("coffee"))
    out = tmp_path / "out"
    args = _parser().parse_args(["anonymize-images", str(root), str(out), "--method", "blur", "--detector",
                                 "centerface", "--detector-weights", str(centerface_weights), "--workers", "2",
                                 "--no-progress"])
    assert args.func(args) == 0
    rows = read_manifest(out / "manifest.csv")
    assert sorted(r["image"] for r in rows) == ["astronaut.jpg", "people/hopper.png"]  # one face each
    assert all(0.4 <= float(r["score"]) <= 1 for r in rows)
    run = json.loads((out / "anonymization.json").read_text())
    assert run["face_finder"] == {"detector": "centerface", "threshold": 0.4, "upsample": 0, "max_side": 1280,
                                  "weights_sha256": CENTERFACE.sha256}
    for row in rows:
        before, after = read_image(root / row["image"]), read_image(out / row["image"])
        assert _face_changed(before, after, (row["x"], row["y"], row["w"], row["h"])) > 10, row["image"]
    assert (out / "coffee.png").read_bytes() == (root / "coffee.png").read_bytes()  # no face: copied as is
    # The audit re-detects with the run's own settings: no face is found again.
    report = audit_folder(root, out)
    assert report.passed and report.face_finder["detector"] == "centerface" and len(report.faces) == 2


def test_missing_inputs_are_errors_that_name_them(tmp_path):
    with pytest.raises(InputError, match="input not found"):
        collect_inputs(tmp_path / "nope")
    with pytest.raises(InputError, match="no file matches"):
        collect_inputs(str(tmp_path / "*.jpg"))


def test_exif_rotated_photo_is_found_upright_and_written_upright(tmp_path, hopper, centerface_weights):
    # Stored turned a quarter counter-clockwise; orientation 6 tells viewers to turn it back.
    root = tmp_path / "photos"
    _save(root / "rotated.jpg", np.ascontiguousarray(np.rot90(hopper, 1)), exif={EXIF_ORIENTATION: 6,
                                                                                 EXIF_MAKE: "TestCam"}, quality=95)
    assert len(_hog(read_image(root / "rotated.jpg"))) == 0  # the stored grid shows no upright face
    out = tmp_path / "out"
    report = anonymize_folder(root, out, build_anonymizer("blackout"), workers=1, progress=False)
    assert report.n_faces == 1
    with Image.open(out / "rotated.jpg") as img:
        assert img.size == (hopper.shape[1], hopper.shape[0])  # upright
        assert EXIF_ORIENTATION not in img.getexif()  # metadata dropped by default
    row = read_manifest(out / "manifest.csv")[0]
    after = read_image(out / "rotated.jpg")
    x, y, w, h = row["x"], row["y"], row["w"], row["h"]
    assert after[y:y + h, x:x + w].mean() < 8  # black where the upright face is
    kept = tmp_path / "kept"
    anonymize_folder(root, kept, build_anonymizer("blackout"), keep_metadata=True, workers=1, progress=False)
    with Image.open(kept / "rotated.jpg") as img:
        exif = img.getexif()
        assert exif.get(EXIF_MAKE) == "TestCam" and exif.get(EXIF_ORIENTATION) == 1
        assert img.size == (hopper.shape[1], hopper.shape[0])


def test_dry_run_writes_a_preview_and_the_detections_only(photos, tmp_path, astronaut):
    out = tmp_path / "preview_run"
    args = _parser().parse_args(["anonymize-images", str(photos), str(out), "--method", "blur", "--dry-run"])
    assert args.func(args) == 0
    detections = json.loads((out / "detections.json").read_text())
    faces = detections["images"]["astronaut.jpg"]
    assert len(faces) >= 1 and set(faces[0]) == {"x", "y", "w", "h", "score"}
    preview = read_image(out / "preview/astronaut.jpg.jpg")
    x, y, w = faces[0]["x"], faces[0]["y"], faces[0]["w"]
    edge = preview[y, x + w // 2].astype(int)
    assert edge[0] > 180 and edge[1:].max() < 80  # the box's top edge is drawn in red
    assert not (out / "astronaut.jpg").exists() and not (out / "manifest.csv").exists()


def test_a_warning_when_no_face_is_found(tmp_path, caplog, centerface_weights):
    root = tmp_path / "photos"
    _save(root / "coffee.png", sample_photo("coffee"))
    with caplog.at_level(logging.WARNING):
        report = anonymize_folder(root, tmp_path / "out", build_anonymizer("blur"), workers=1, progress=False)
        preview_folder(root, tmp_path / "dry")
    assert report.n_faces == 0
    warnings = [r.getMessage() for r in caplog.records if "no face found" in r.getMessage()]
    assert len(warnings) == 2 and "centerface detector at threshold 0.4" in warnings[0]
    assert "a lower --threshold (e.g. 0.2" in warnings[0]
    with caplog.at_level(logging.WARNING):
        preview_folder(root, tmp_path / "dry_hog", detector="hog")
    assert "--detector cnn" in caplog.records[-1].getMessage()


def test_large_photos_are_detected_on_a_bounded_copy(astronaut):
    big = cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    small_box = _hog(astronaut)[0]
    boxes, _ = find_faces(big, "hog", 0.0, 1, max_side=512)
    assert box_iou(boxes[:1], small_box[None] * 3)[0, 0] > 0.8  # scaled back to the big photo's pixels


def test_default_workers_fit_in_the_free_memory(monkeypatch):
    monkeypatch.setattr(folder_module, "default_workers", lambda: 16)
    free = 2 * 2**30
    monkeypatch.setattr(folder_module.os, "sysconf",
                        lambda name: free // 4096 if name == "SC_AVPHYS_PAGES" else 4096)
    assert default_photo_workers(FaceFinder("cnn")) == 1  # 1 GB a worker in 80 % of 2 GB
    assert default_photo_workers(FaceFinder("hog")) == 4  # 400 MB a worker
    # CenterFace's 700 MB: 2 workers (its weights are not needed for the sum).
    monkeypatch.setattr(face_finder, "resolve", lambda spec, path=None: path or "centerface.onnx")
    assert default_photo_workers(FaceFinder("centerface")) == 2
    assert FaceFinder("cnn", max_side=0).worker_memory > FaceFinder("cnn").worker_memory


@pytest.fixture()
def portraits(tmp_path, astronaut, hopper, centerface_weights):
    root = tmp_path / "portraits"
    _save(root / "astronaut.png", astronaut)
    _save(root / "people/hopper.jpg", hopper, quality=95)
    return root


@pytest.mark.slow  # dlib's recognizer on every face, four audits
def test_audit_passes_a_default_run_and_catches_a_face_left_as_it_was(portraits, tmp_path):
    out = tmp_path / "out"
    anonymize_folder(portraits, out, build_anonymizer("blur"), workers=1, progress=False)
    assert is_folder_run(out)
    report = audit_folder(portraits, out, reid=True)
    assert report.passed, report.format()
    assert report.n_images == 2 and len(report.faces) >= 2
    # One copy replaced by its original: the face is still found and recognised.
    shutil.copyfile(portraits / "people/hopper.jpg", out / "people/hopper.jpg")
    report = audit_folder(portraits, out, reid=True)
    assert not report.passed
    failing = report.failing_faces
    assert [f.image for f in failing] == ["people/hopper.jpg"] and failing[0].distance < 0.1
    assert "FAIL people/hopper.jpg" in report.format()
    # Without --reid a face still found fails too; through the command: exit 1.
    assert not audit_folder(portraits, out).passed
    args = _parser().parse_args(["audit", str(portraits), str(out), "--reid", "--json", str(tmp_path / "a.json")])
    assert args.func(args) == 1
    assert json.loads((tmp_path / "a.json").read_text())["passed"] is False


def test_audit_of_a_run_that_changed_nothing_fails(portraits, tmp_path):
    out = tmp_path / "out"
    anonymize_folder(portraits, out, build_anonymizer("original"), workers=1, progress=False)
    report = audit_folder(portraits, out, reid=True)
    assert not report.passed and len(report.failing_faces) == len(report.faces) >= 2


def test_audit_checks_the_records(portraits, tmp_path):
    out = tmp_path / "out"
    anonymize_folder(portraits, out, build_anonymizer("blackout"), workers=1, progress=False)
    (out / "astronaut.png").unlink()
    _save(portraits / "people/hopper.jpg", sample_photo("astronaut"), quality=90)  # a different original
    report = audit_folder(portraits, out)
    text = " ".join(report.problems)
    assert not report.passed and "anonymized copy is missing" in text and "differs from the photo the run read" in text
    with pytest.raises(InputError, match="not an anonymize-images output"):
        (tmp_path / "split").mkdir()
        (tmp_path / "split/anonymization.json").write_text(json.dumps({"kind": "split"}))
        audit_folder(portraits, tmp_path / "split")


def test_audit_refuses_names_that_leave_the_folder(portraits, tmp_path):
    out = tmp_path / "out"
    anonymize_folder(portraits, out, build_anonymizer("blackout"), workers=1, progress=False)
    hashes = out / "input_hashes.csv"
    hashes.write_text(hashes.read_text() + "../secret.jpg,00\n")
    report = audit_folder(portraits, out)
    assert any("../secret.jpg" in p and "refusing" in p for p in report.problems)


def test_decode_photo_applies_every_exif_orientation():
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        buf = io.BytesIO()
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        Image.fromarray(stored).save(buf, format="PNG", exif=exif.tobytes())
        expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))).convert("RGB"))
        np.testing.assert_array_equal(decode_photo(buf.getvalue()), expected, err_msg=str(orientation))


def test_audit_fails_on_a_photo_the_run_did_not_write_and_refuses_swapped_folders(portraits, tmp_path):
    out = tmp_path / "out"
    anonymize_folder(portraits, out, build_anonymizer("blackout"), workers=1, progress=False)
    (out / "notes.txt").write_text("not a photo: no finding")
    assert audit_folder(portraits, out).passed
    # An original copied in, beside the copies and in a folder of its own: no record accounts for it.
    shutil.copyfile(portraits / "people/hopper.jpg", out / "people/hopper_original.jpg")
    (out / "extra").mkdir()
    shutil.copyfile(portraits / "astronaut.png", out / "extra/astronaut.png")
    report = audit_folder(portraits, out)
    assert not report.passed and report.failing_faces == []
    unaccounted = [p for p in report.problems if "an image the run did not write" in p]
    assert len(unaccounted) == 2
    assert any(p.startswith(f"{out / 'people/hopper_original.jpg'}:") for p in unaccounted)
    assert any(p.startswith(f"{out / 'extra/astronaut.png'}:") for p in unaccounted)
    args = _parser().parse_args(["audit", str(portraits), str(out)])
    assert args.func(args) == 1
    # The two folders swapped: the output given as ORIGINAL is refused, naming its record.
    with pytest.raises(InputError, match="look swapped"):
        audit_folder(out, portraits)
    args = _parser().parse_args(["audit", str(out), str(portraits)])
    with pytest.raises(InputError, match="look swapped"):
        args.func(args)
