# Helpers shared by the rule files (grid, paths, config look-ups, code versions).
import hashlib
from itertools import product
from pathlib import Path

RESULTS = config["results"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
SOURCE_ROOT = Path(workflow.basedir) / "safefakes"

CONVENTIONAL = ["original", "blur", "blackout", "pixelate", "fullblur"]
GANS = ["deepprivacy", "ciagan", "sun2018"]

# Grid-point folders, Paramspace style: the path says what it holds. A point
# folder holds the anonymized train split, its audit and image metrics; one
# subfolder per detector length and, below it, one per replicate training
# (the detector's seed) holds the detector, predictions and map.json.
POINT = f"{RESULTS}/runs/anonymizer~{{anonymizer}}/faces~{{faces}}/anon_iters~{{anon_iters}}"
RUN = f"{POINT}/det_iters~{{det_iters}}/seed~{{seed}}"
# The same, for log and benchmark paths.
RUN_NAME = "runs/anonymizer~{anonymizer}/faces~{faces}/anon_iters~{anon_iters}/det_iters~{det_iters}/seed~{seed}"
GAN_MODEL = f"{RESULTS}/anonymizers/{{gan}}/faces~{{faces}}/anon_iters~{{anon_iters}}"


def data_dir(split):
    """Folder of a detector split ('train', 'val') or the synthetic 'crops'."""
    return f"{RESULTS}/data/{config['data']['source']}/{split}"


def code_version(*modules):
    """A hash of the source files of safefakes modules (files or packages).

    Snakemake does not see code imported from a package; a rule that passes
    this as a param reruns when the code it runs changes.
    """
    digest = hashlib.sha256()
    for module in modules:
        path = SOURCE_ROOT / module
        files = (
            sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        )
        if not files or not all(f.exists() for f in files):
            raise ValueError(f"code_version: no source for safefakes/{module}")
        for f in files:
            digest.update(str(f.relative_to(SOURCE_ROOT)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def method_config(method):
    blocks = config["anonymizers"]
    if method not in blocks:
        raise ValueError(
            f"config: anonymizers.{method} is missing, but an experiment uses it; "
            f"add a block for it (see config.yaml)"
        )
    return blocks[method]


def method_defaults(method):
    """(faces, anon_iters) of a method's default model; conventional methods have none."""
    if method in GANS:
        block = method_config(method)
        return block["faces"], block["anon_iters"]
    method_config(method)
    return 0, 0


def crop_set(faces):
    for entry in config["crop_sets"]:
        if entry["faces"] == int(faces):
            return entry
    sizes = ", ".join(str(e["faces"]) for e in config["crop_sets"])
    raise ValueError(
        f"config: no crop_sets entry with faces: {faces} (have {sizes}); "
        f"add one or change the experiment/anonymizer that asks for it"
    )


def grid():
    """Every (anonymizer, faces, anon_iters, det_iters, seed) that some experiment asks for.

    An experiment's `seeds` are replicate detector trainings of each of its
    grid points (the detector's seed; the anonymized split is the same).
    """
    points = set()
    for name, exp in config["experiments"].items():
        for method in exp["methods"]:
            faces0, iters0 = method_defaults(method)
            if method in GANS:
                faces = exp.get("faces", [faces0])
                iters = exp.get("anon_iters", [iters0])
                for f in faces:
                    crop_set(f)
            else:
                faces, iters = [0], [0]
            for f, a, d, s in product(
                faces, iters, exp["det_iters"], exp.get("seeds", [0])
            ):
                points.add((method, int(f), int(a), int(d), int(s)))
    return sorted(points)


def anonymized_points():
    """The distinct anonymized train splits of the grid (the original excluded)."""
    return sorted({(m, f, a) for m, f, a, *_ in grid() if m != "original"})


def point_dir(m, f, a):
    return POINT.format(anonymizer=m, faces=f, anon_iters=a)


def run_dir(m, f, a, d, s):
    return RUN.format(anonymizer=m, faces=f, anon_iters=a, det_iters=d, seed=s)


def detector_inputs(wildcards):
    """The detector's training split at a grid point (the original, or an audited anonymized copy)."""
    if wildcards.anonymizer == "original":
        return {"split": data_dir("train")}
    point = point_dir(wildcards.anonymizer, wildcards.faces, wildcards.anon_iters)
    return {"split": f"{point}/train", "audit": f"{point}/audit.json"}


def gan_models():
    """(gan, faces, anon_iters) of every GAN model the study trains."""
    points = {(m, f, a) for m, f, a in anonymized_points() if m in GANS}
    points |= {(m, *method_defaults(m)) for m in example_methods() if m in GANS}
    return sorted(points)


def gan_training_inputs(wildcards):
    """The crop set, and the final checkpoint of the next shorter training of the same
    GAN on the same faces when the study has one: the longer run continues it (the
    GANs' schedules do not depend on the run length, so Fig. 9's lengths are one run).
    """
    inputs = {"crops": crops_dir(wildcards.faces)}
    shorter = [
        a
        for m, f, a in gan_models()
        if m == wildcards.gan
        and f == int(wildcards.faces)
        and a < int(wildcards.anon_iters)
    ]
    if shorter:
        inputs["start"] = gan_model(wildcards.gan, wildcards.faces, max(shorter))
    return inputs


def gan_work_dir(wildcards):
    """Checkpoints of a GAN training in progress (resumed after an interruption)."""
    model = gan_model(wildcards.gan, wildcards.faces, wildcards.anon_iters)
    return str(Path(model).with_name("work"))


def detector_work_dir(wildcards):
    """Checkpoints of a detector training in progress (resumed after an interruption)."""
    run = run_dir(
        wildcards.anonymizer,
        wildcards.faces,
        wildcards.anon_iters,
        wildcards.det_iters,
        wildcards.seed,
    )
    return str(Path(run, "detector_work"))


def crops_dir(faces):
    """The crop set a GAN with a training set of `faces` learns from."""
    source = crop_set(faces)["source"]
    if source == "synthetic":
        return data_dir("crops")
    return f"{RESULTS}/crops/{source}"


def crop_source(source):
    """The crop_sets entry that configures an imported source (one path per source)."""
    entries = [e for e in config["crop_sets"] if e["source"] == source]
    paths = {e.get("path") for e in entries}
    if len(paths) != 1:
        raise ValueError(
            f"config: crop_sets with source {source} must share one path, got {sorted(map(str, paths))}"
        )
    return entries[0]


def gan_model(method, faces, anon_iters):
    folder = GAN_MODEL.format(gan=method, faces=faces, anon_iters=anon_iters)
    return f"{folder}/model.pt"


def gan_code(method):
    """Code of a GAN's branch: its own module plus the shared GAN machinery."""
    shared = [
        f"anonymizers/gan/{m}"
        for m in (
            "__init__",
            "geometry",
            "blocks",
            "dataset",
            "training",
            "train",
            "anonymizer",
            "presets",
            "landmarks",
            "identity",
        )
    ]
    return code_version(
        f"anonymizers/gan/{method}",
        *shared,
        "anonymizers/base",
        "data/crops",
        "data/images",
        "data/split",
        "keypoints",
    )


def anonymizer_code(method):
    if method in GANS:
        engine = code_version("anonymizers/apply", "anonymizers/base")
        return f"{engine}-{gan_code(method)}"
    return code_version(
        "anonymizers/apply",
        "anonymizers/base",
        "anonymizers/regions",
        "anonymizers/conventional",
    )


def leakage_inputs(wildcards):
    """The synthetic set's identity recognizer, trained once (real photos use dlib's)."""
    if config["data"]["source"] == "synthetic":
        return {"recognizer": f"{RESULTS}/leakage/recognizer.pt"}
    return {}


def all_map_files():
    return [f"{run_dir(*point)}/map.json" for point in grid()]


def all_prediction_dirs():
    return [f"{run_dir(*point)}/predictions" for point in grid()]


def all_metric_files():
    return [f"{point_dir(*point)}/image_metrics.json" for point in anonymized_points()]


def example_methods():
    """method -> its config block, for every method of the grid."""
    return {m: method_config(m) for m in sorted({m for m, *_ in grid()})}


def example_models():
    """The default model of every GAN in the grid."""
    return {
        m: gan_model(m, *method_defaults(m)) for m in example_methods() if m in GANS
    }


def check_paths():
    """Stop before any job when a configured input path does not exist (names the config key)."""
    problems = []
    if config["data"]["source"] == "widerface":
        root = config["data"]["widerface"]["root"]
        if not root or not Path(root).is_dir():
            problems.append(
                f"data.widerface.root: {root!r} is not a folder (it must hold WIDER_train, "
                "WIDER_val, wider_face_split and eval_tools/ground_truth)"
            )
    used_faces = {f for m, f, *_ in grid() if m in GANS}
    for i, entry in enumerate(config["crop_sets"]):
        if entry["faces"] in used_faces and entry["source"] in (
            "fdf",
            "celeba",
            "pipa",
        ):
            if not entry.get("path") or not Path(entry["path"]).exists():
                problems.append(
                    f"crop_sets[{i}].path: {entry.get('path')!r} does not exist ({entry['source']})"
                )
    weights = [("detector.backbone_weights", config["detector"]["backbone_weights"])]
    weights += [
        ("metrics.lpips_weights", config["metrics"]["lpips_weights"]),
        ("metrics.inception_weights", config["metrics"]["inception_weights"]),
    ]
    weights += [
        (f"anonymizers.{m}.keypoint_weights", b.get("keypoint_weights"))
        for m, b in config["anonymizers"].items()
        if m in GANS
    ]
    for key, path in weights:
        if path and not Path(path).is_file():
            problems.append(f"{key}: weights file {path!r} not found")
    if (
        not config["detector"]["backbone_weights"]
        and not config["detector"]["allow_random_init"]
    ):
        problems.append(
            "detector.backbone_weights is not set: give the ImageNet VGG-16 file, "
            "or set detector.allow_random_init: true"
        )
    if problems:
        raise ValueError("config paths:\n  " + "\n  ".join(problems))


check_paths()
