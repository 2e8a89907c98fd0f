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
import shlex
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from builders import make_split
from PIL import Image, ImageOps

from safefakes import cli
from safefakes.anonymizers.registry import build_anonymizer
from safefakes.audit.photos import audit_folder, box_iou, is_folder_run
from safefakes.commands import anonymize as anonymize_command
from safefakes.data.anonymized import PHOTO_RECORDS as RECORDS
from safefakes.data.anonymized import read_manifest
from safefakes.data.images import decode_photo, read_image
from safefakes.errors import InputError, SafeFakesError
from safefakes.photos import face_finder
from safefakes.photos import folder as folder_module
from safefakes.photos.face_finder import FaceFinder, find_faces
from safefakes.photos.folder import (
    anonymize_folder,
    anonymize_photo,
    collect_inputs,
    default_photo_workers,
    preview_folder,
)
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
    assert report.n_images == 1
    assert [r["image"] for r in read_manifest(out / RECORDS / "manifest.csv")] == ["hopper.bmp"]
    # The manifest named where earlier versions wrote it is read from the records folder.
    assert read_manifest(out / "manifest.csv") == read_manifest(out / RECORDS / "manifest.csv")
    # A glob; the output may even sit inside the input root when files are named.
    out = photos / "anonymized"
    report = anonymize_folder(str(photos / "**" / "*.[jw][pe]*"), out, build_anonymizer("pixelate"), workers=1,
                              progress=False)
    names = sorted({r["image"] for r in read_manifest(out / RECORDS / "manifest.csv")})
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
    rows = read_manifest(out / RECORDS / "manifest.csv")
    assert sorted(r["image"] for r in rows) == ["astronaut.jpg", "people/hopper.png"]  # one face each
    assert all(0.4 <= float(r["score"]) <= 1 for r in rows)
    run = json.loads((out / RECORDS / "anonymization.json").read_text())
    assert run["face_finder"] == {"detector": "centerface", "threshold": 0.4, "upsample": 0, "max_side": 1280,
                                  "weights_sha256": CENTERFACE.sha256}
    for row in rows:
        before, after = read_image(root / row["image"]), read_image(out / row["image"])
        assert _face_changed(before, after, (row["x"], row["y"], row["w"], row["h"])) > 10, row["image"]
    assert (out / "coffee.png").read_bytes() == (root / "coffee.png").read_bytes()  # no face: copied as is
    # The audit looks with its own finder (dlib's CNN and CenterFace below the run's threshold): no face survives.
    report = audit_folder(root, out)
    assert report.passed and report.face_finder["centerface"]["threshold"] == 0.2 and len(report.faces) == 2


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
    row = read_manifest(out / RECORDS / "manifest.csv")[0]
    after = read_image(out / "rotated.jpg")
    x, y, w, h = row["x"], row["y"], row["w"], row["h"]
    assert after[y:y + h, x:x + w].mean() < 8  # black where the upright face is
    kept = tmp_path / "kept"
    anonymize_folder(root, kept, build_anonymizer("blackout"), keep_metadata=True, workers=1, progress=False)
    with Image.open(kept / "rotated.jpg") as img:
        exif = img.getexif()
        assert exif.get(EXIF_MAKE) == "TestCam" and exif.get(EXIF_ORIENTATION) == 1
        assert img.size == (hopper.shape[1], hopper.shape[0])


def _is_red(pixel: np.ndarray) -> bool:
    pixel = pixel.astype(int)
    return pixel[0] > 180 and pixel[1:].max() < 90


def test_dry_run_outlines_the_region_that_will_change_beside_the_output(photos, tmp_path):
    out = tmp_path / "out"
    args = _parser().parse_args(["anonymize-images", str(photos), str(out), "--dry-run"])
    assert args.method == "blur"  # a default method: the dry run needs none given
    assert args.func(args) == 0
    assert not out.exists()  # the output is not touched: the real run can follow into it
    preview_dir = tmp_path / "out-preview"
    detections = json.loads((preview_dir / "detections.json").read_text())
    assert detections["anonymizer"]["method"] == "blur" and detections["anonymizer"]["mask_scale"] == 1.6
    faces = detections["images"]["astronaut.jpg"]
    assert len(faces) >= 1 and set(faces[0]) == {"x", "y", "w", "h", "score"}
    preview = read_image(preview_dir / "astronaut.jpg.jpg")
    x, y, w, h = (faces[0][k] for k in "xywh")
    cx, cy = x + w // 2, y + h / 2
    # The 1.6x ellipse is outlined (its top 0.8 h above the centre), not the detector's box.
    top = round(cy - 0.8 * h)
    assert any(_is_red(preview[row, cx]) for row in range(top - 3, top + 4))
    assert not any(_is_red(preview[row, cx]) for row in range(y - 2, y + 3))
    # With --region box --mask-scale 1 the region is the box itself.
    boxed = tmp_path / "boxed"
    args = _parser().parse_args(["anonymize-images", str(photos / "astronaut.jpg"), str(boxed), "--dry-run",
                                 "--region", "box", "--mask-scale", "1", "--method", "pixelate"])
    assert args.func(args) == 0
    preview = read_image(tmp_path / "boxed-preview/astronaut.jpg.jpg")
    assert any(_is_red(preview[row, cx]) for row in range(y - 2, y + 3))
    # --preview-dir puts it elsewhere; a folder holding other files is refused, not emptied.
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    args = _parser().parse_args(["anonymize-images", str(photos), str(out), "--dry-run", "--preview-dir",
                                 str(elsewhere)])
    with pytest.raises(SafeFakesError, match="preview folder .*mine is not empty"):
        args.func(args)
    assert [p.name for p in elsewhere.iterdir()] == ["keep.txt"]


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
    hashes = out / RECORDS / "input_hashes.csv"
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


# --------------------------------------------------------------------------- #
# The recipe as a user types it (issue 29)
# --------------------------------------------------------------------------- #
#: The photo recipe this version supports, as the README should print it.
RECIPE = """
safefakes anonymize-images photos/ out/ --dry-run   # previews in out-preview/: check the outlined faces
safefakes anonymize-images photos/ out/             # blur by default; or files, or 'photos/**/*.jpg'
safefakes audit photos/ out/ --reid                 # exit 1 if a face's detail survives or dlib still knows it
safefakes anonymize-images photo.jpg anon.jpg      # one photo to one file (or -o anon.jpg)
"""


def _readme_recipe() -> str:
    """The first bash block of the README's section "Anonymizing your own photos"."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Anonymizing your own photos", 1)
    assert len(section) == 2, "README.md has no section 'Anonymizing your own photos'"
    return section[1].split("```bash", 1)[1].split("```", 1)[0]


def _run_recipe(recipe: str) -> list[list[str]]:
    commands = [shlex.split(line, comments=True) for line in recipe.splitlines()]
    commands = [argv for argv in commands if argv]
    for argv in commands:
        assert argv[0] == "safefakes", argv
        assert cli.main(argv[1:]) == 0, " ".join(argv)
    return commands


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def recipe_dir(tmp_path, monkeypatch, astronaut, hopper, centerface_weights):
    """photos/ (and photo.jpg beside it) as a user has them, in the folder where the user types the recipe."""
    _save(tmp_path / "photos/astronaut.jpg", astronaut, quality=95)
    _save(tmp_path / "photos/people/hopper.png", hopper)
    _save(tmp_path / "photo.jpg", hopper, quality=95)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow  # two runs of dlib's recognizer
@pytest.mark.parametrize("recipe", ["readme", "new"])
def test_the_photo_recipe_runs_as_written(recipe_dir, recipe):
    commands = _run_recipe(_readme_recipe() if recipe == "readme" else RECIPE)
    out = recipe_dir / "out"
    # The output holds the photos and, in .safefakes/, the run's records; the previews are beside it.
    files = sorted(_listing(out))
    assert [name for name in files if not name.startswith(".safefakes/")] == ["astronaut.jpg", "people/hopper.png"]
    assert {".safefakes/anonymization.done", ".safefakes/anonymization.json", ".safefakes/input_hashes.csv",
            ".safefakes/manifest.csv"} <= set(files)
    assert (recipe_dir / "out-preview/detections.json").is_file()
    # A dry run after the real run drops nothing into the finished folder.
    before = _listing(out)
    dry = next(argv for argv in commands if "--dry-run" in argv)
    assert cli.main(dry[1:]) == 0
    assert _listing(out) == before
    if recipe == "new":
        with Image.open(recipe_dir / "anon.jpg") as img:
            assert img.format == "JPEG"
        before, after = read_image(recipe_dir / "photo.jpg"), read_image(recipe_dir / "anon.jpg")
        assert _face_changed(before, after, _hog(before)[0]) > 10


def test_an_output_folder_that_is_not_empty_is_refused_in_words_for_photos(recipe_dir, capsys):
    (recipe_dir / "out").mkdir()
    (recipe_dir / "out/notes.txt").write_text("mine")
    assert cli.main(["anonymize-images", "photos/", "out/", "--workers", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "out is not empty (it holds notes.txt)" in err and "anonymized photos" in err and "split" not in err


def test_a_dry_run_of_an_earlier_version_in_the_output_is_cleared_by_the_real_run(recipe_dir, capsys):
    # Earlier versions wrote the dry run into OUTPUT: preview/ and detections.json.
    assert cli.main(["anonymize-images", "photos/", "out/", "--dry-run", "--preview-dir", "out"]) == 0
    assert (recipe_dir / "out/detections.json").exists()
    shutil.move(recipe_dir / "out/astronaut.jpg.jpg", recipe_dir / "preview.tmp")
    (recipe_dir / "out/preview").mkdir()
    shutil.move(recipe_dir / "preview.tmp", recipe_dir / "out/preview/astronaut.jpg.jpg")
    shutil.move(recipe_dir / "out/people", recipe_dir / "out/preview/people")
    assert cli.main(["anonymize-images", "photos/", "out/", "--workers", "1", "--no-progress"]) == 0
    assert sorted(p.name for p in (recipe_dir / "out").iterdir()) == [".safefakes", "astronaut.jpg", "people"]


# --------------------------------------------------------------------------- #
# One photo to one file
# --------------------------------------------------------------------------- #
def test_one_photo_to_a_file_named_by_the_output_or_by_o(recipe_dir):
    assert cli.main(["anonymize-images", "photos/astronaut.jpg", "anon.jpg"]) == 0
    assert (recipe_dir / "anon.jpg").is_file()
    folder = recipe_dir / "folder_run"
    assert cli.main(["anonymize-images", "photos/astronaut.jpg", str(folder), "--workers", "1", "--no-progress"]) == 0
    # The same pixels as a folder run of the same photo; no records beside the file.
    assert (recipe_dir / "anon.jpg").read_bytes() == (folder / "astronaut.jpg").read_bytes()
    assert sorted(p.name for p in recipe_dir.iterdir()) == ["anon.jpg", "folder_run", "photo.jpg", "photos"]
    # -o, and the output's suffix sets the format.
    assert cli.main(["anonymize-images", "-o", "anon.png", "photos/people/hopper.png", "--method", "pixelate"]) == 0
    with Image.open(recipe_dir / "anon.png") as img:
        assert img.format == "PNG"
    before, after = read_image(recipe_dir / "photos/people/hopper.png"), read_image(recipe_dir / "anon.png")
    assert _face_changed(before, after, _hog(before)[0]) > 10
    # A photo file cannot hold a folder of photos; the input is never the output.
    assert cli.main(["anonymize-images", "photos/", "anon2.jpg"]) == 2
    assert not (recipe_dir / "anon2.jpg").exists()
    with pytest.raises(SafeFakesError, match="is the input photo"):
        anonymize_photo(recipe_dir / "photos/astronaut.jpg", recipe_dir / "photos/astronaut.jpg",
                        build_anonymizer("blur"))


def test_no_output_given_is_a_usage_error(recipe_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["anonymize-images", "photos/astronaut.jpg"])
    assert exc.value.code == 2 and "no OUTPUT given" in capsys.readouterr().err


def test_a_grey_photo_comes_back_grey(tmp_path, centerface_weights):
    camera = sample_photo("camera")[..., 0]
    root = tmp_path / "photos"
    root.mkdir()
    Image.fromarray(camera).save(root / "camera.png")
    Image.fromarray(camera).save(root / "camera.jpg", quality=95)
    out = tmp_path / "out"
    report = anonymize_folder(root, out, build_anonymizer("blur"), workers=1, progress=False)
    assert report.status_counts.get("anonymized", 0) == 2
    for name in ("camera.png", "camera.jpg"):
        with Image.open(out / name) as img:
            assert img.mode == "L", name
        assert (out / name).stat().st_size < 1.2 * (root / name).stat().st_size, name
    anonymize_photo(root / "camera.png", tmp_path / "one.png", build_anonymizer("pixelate"))
    with Image.open(tmp_path / "one.png") as img:
        assert img.mode == "L"


# --------------------------------------------------------------------------- #
# Records in .safefakes/, and outputs of the old layout
# --------------------------------------------------------------------------- #
def test_outputs_of_the_old_layout_are_still_audited_and_not_mixed_into(portraits, tmp_path):
    out = tmp_path / "out"
    anonymize_folder(portraits, out, build_anonymizer("blackout"), workers=1, progress=False)
    for path in (out / RECORDS).iterdir():  # records beside the photos, as earlier versions wrote them
        shutil.move(path, out / path.name)
    (out / RECORDS).rmdir()
    assert is_folder_run(out)
    assert audit_folder(portraits, out).passed
    with pytest.raises(SafeFakesError, match="earlier version"):
        anonymize_folder(portraits, out, build_anonymizer("blackout"), workers=1, progress=False)


# --------------------------------------------------------------------------- #
# Errors that say what to do
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("command", ["anonymize", "anonymize-images"])
def test_a_gan_method_without_a_usable_checkpoint_is_a_clear_error(recipe_dir, capsys, command):
    make_split(recipe_dir / "split", {"0--A/a0.jpg": [[20, 16, 40, 48]]})
    source = "split" if command == "anonymize" else "photos/"
    assert cli.main([command, source, "out", "--method", "deepprivacy"]) == 2
    err = capsys.readouterr().err
    assert "needs its checkpoint: add --checkpoint FILE" in err and "train-anonymizer" in err
    assert cli.main([command, source, "out", "--method", "ciagan", "--checkpoint", "nope.pt"]) == 2
    err = capsys.readouterr().err
    assert "nope.pt: GAN checkpoint not found" in err and "config key" not in err
    assert not (recipe_dir / "out").exists()


def test_audit_blames_the_folder_that_is_missing(recipe_dir, capsys):
    assert cli.main(["audit", "photos/", "typo/"]) == 2
    err = capsys.readouterr().err
    assert "typo: ANONYMIZED folder not found" in err and "photos" not in err.split("(")[0]
    assert cli.main(["audit", "typo/", "photos/"]) == 2
    assert "typo: ORIGINAL folder not found" in capsys.readouterr().err
    # A folder that holds no run (the dry run's previews) is the one blamed, not the photos.
    assert cli.main(["anonymize-images", "photos/", "out/", "--dry-run"]) == 0
    capsys.readouterr()
    assert cli.main(["audit", "photos/", "out-preview/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("safefakes audit: error: out-preview: holds no finished anonymize-images run"), err


def test_anonymize_on_a_folder_of_photos_points_to_anonymize_images(recipe_dir, capsys):
    assert cli.main(["anonymize", "photos/", "out/", "--method", "blur"]) == 2
    err = capsys.readouterr().err
    assert "a folder of photos, not a split" in err and "safefakes anonymize-images photos OUTPUT" in err


def test_threshold_outside_the_detectors_scores_is_refused(recipe_dir, capsys):
    assert cli.main(["anonymize-images", "photos/", "out/", "--threshold", "1.5"]) == 2
    assert "threshold 1.5 is outside 0-1" in capsys.readouterr().err
    assert not (recipe_dir / "out").exists()
    with pytest.raises(SystemExit):
        cli.main(["anonymize-images", "photos/", "out/", "--threshold", "nan"])
    # dlib's HOG takes a negative threshold (finds more faces).
    assert cli.main(["anonymize-images", "photos/astronaut.jpg", "out/", "--detector", "hog", "--threshold",
                     "-0.5", "--dry-run"]) == 0


def test_blackout_value_has_a_flag(recipe_dir):
    assert cli.main(["anonymize-images", "photos/astronaut.jpg", "grey.png", "--method", "blackout", "--value",
                     "128", "--region", "box", "--mask-scale", "1"]) == 0
    before, after = read_image(recipe_dir / "photos/astronaut.jpg"), read_image(recipe_dir / "grey.png")
    x, y, w, h = FaceFinder()(before)[0][0]
    assert np.all(after[y + 2:y + h - 2, x + 2:x + w - 2] == 128)


def test_a_run_killed_before_its_first_record_is_rerun_into_the_same_folder(portraits, tmp_path):
    out = tmp_path / "out"
    (out / RECORDS).mkdir(parents=True)  # killed between making the records folder and writing into it
    report = anonymize_folder(portraits, out, build_anonymizer("blur"), workers=1, progress=False)
    assert report.complete


def test_output_equal_to_the_input_folder_is_refused_naming_it(photos, tmp_path):
    """Issue 28: output = input said "no photos found" (the output folder is excluded from the inputs)."""
    with pytest.raises(InputError, match="output folder is the input folder") as info:
        anonymize_folder(photos, photos, build_anonymizer("blur"), workers=1, progress=False)
    assert str(photos) in str(info.value) and "photos-anonymized" in str(info.value)
    with pytest.raises(InputError, match="holds the input folder"):
        anonymize_folder(photos / "trip", photos, build_anonymizer("blur"), workers=1, progress=False)
    assert not (photos / RECORDS).exists()


def test_hidden_photos_are_skipped_and_counted(photos, tmp_path, caplog, hopper):
    """Dot-files and photos in dot-folders are not read, and the warning says how many and which."""
    _save(photos / ".hidden.jpg", hopper, quality=90)
    _save(photos / ".thumbs/hopper.jpg", hopper, quality=90)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        report = anonymize_folder(photos, out, build_anonymizer("blackout"), workers=1, progress=False)
    assert report.n_images == 4
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "skipped 2 hidden file(s)" in warning and ".hidden.jpg" in warning and ".thumbs" in warning
    assert not (out / ".hidden.jpg").exists() and not (out / ".thumbs").exists()
    # A hidden photo named as INPUT is read.
    found = collect_inputs([photos / ".hidden.jpg"])
    assert found.names == [".hidden.jpg"] and not found.hidden


@pytest.mark.parametrize("kind", ["rgba", "palette", "la"])
def test_transparent_photos_keep_their_alpha_with_the_face_anonymized(tmp_path, hopper, kind):
    """Issue 28: RGBA and palette-transparency photos lost their alpha when they held a face."""
    h, w = hopper.shape[:2]
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:40] = 0
    alpha[-40:] = 128
    root = tmp_path / "in"
    root.mkdir()
    if kind == "rgba":
        Image.fromarray(np.dstack([hopper, alpha])).save(root / "face.png")
    elif kind == "la":
        grey = np.asarray(Image.fromarray(hopper).convert("L"))
        Image.fromarray(np.dstack([grey, alpha])).save(root / "face.png")
    else:
        img = Image.fromarray(hopper).quantize(64)
        img.info["transparency"] = 0
        img.save(root / "face.png", transparency=0)
    Image.fromarray(np.dstack([hopper, alpha])).save(root / "face.webp", lossless=True)
    out = tmp_path / "out"
    anonymize_folder(root, out, build_anonymizer("blackout"), detector="hog", workers=1, progress=False)
    for name in ("face.png", "face.webp"):
        src, dst = Image.open(root / name), Image.open(out / name)
        want = np.asarray(src.convert("RGBA"))[..., 3]
        assert dst.mode in ("RGBA", "LA"), (name, dst.mode)
        np.testing.assert_array_equal(np.asarray(dst.convert("RGBA"))[..., 3], want)
        before, after = decode_photo((root / name).read_bytes()), decode_photo((out / name).read_bytes())
        box = _hog(before)[0]
        assert _face_changed(before, after, box) > 10, name
        x, y, bw, bh = box  # outside the face, what shows is the original's (to rounding)
        keep = np.ones(before.shape[:2], bool)
        keep[max(0, y - bh):y + 2 * bh, max(0, x - bw):x + 2 * bw] = False
        if name.endswith(".png"):  # lossless
            assert np.abs(after.astype(int) - before)[keep].max() <= 2
    # The single-photo path keeps it too.
    anonymize_photo(root / "face.png", tmp_path / "one.png", build_anonymizer("blackout"), detector="hog")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png").convert("RGBA"))[..., 3],
                          np.asarray(Image.open(root / "face.png").convert("RGBA"))[..., 3])


def test_a_photo_whose_name_is_not_utf8_is_skipped_naming_it(photos, tmp_path, caplog, hopper):
    """Issue 28 sweep: a name with a Latin-1 byte ended the run in a UnicodeEncodeError traceback."""
    import os

    Image.fromarray(hopper).save(os.fsencode(photos) + b"/caf\xe9.jpg", format="JPEG", quality=90)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        report = anonymize_folder(photos, out, build_anonymizer("blackout"), workers=1, progress=False)
    assert report.n_images == 4
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "caf\\xe9.jpg (its name is not UTF-8 text: rename it" in warning, warning
    assert not any(b"caf" in name for name in os.listdir(os.fsencode(out)))
