# Helpers shared by the rule files (grid, paths, config look-ups, code versions).
from functools import lru_cache
from pathlib import Path

from safefakes.anonymizers.registry import METHODS, method_entry
from safefakes.code_version import code_version
from safefakes.settings import ConfigError
from safefakes.study_config import check_anonymizer_blocks, check_study_settings
from safefakes import study_grid

RESULTS = config["results"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
SCRIPTS = Path(workflow.basedir) / "workflow_scripts"

check_anonymizer_blocks(
    config, Path(workflow.basedir) / "schemas" / "config.schema.yaml"
)
# Every job's settings, built from the config as the jobs build them (and the
# steps' defaults filled in): a wrong key or value fails before any job, together
# with the missing paths that check_paths (below) finds.
try:
    check_study_settings(config)
    SETTINGS_ERROR = None
except ConfigError as error:
    SETTINGS_ERROR = error
# The one list of methods is the registry (METHODS); a config block named
# <method>_<variant> adds a variant of one (safefakes.study_grid).
CONVENTIONAL = study_grid.conventional_methods(config)
GANS = study_grid.gan_methods(config)
# Splits anonymized by other tools (kind "external"), named in the config.
EXTERNALS = study_grid.externals(config)
# The keypoint layouts of the GANs: an imported crop set is made once per layout.
KEYPOINT_LAYOUTS = study_grid.keypoint_layouts()

# Grid-point folders, Paramspace style: the path says what it holds. A point
# folder holds the anonymized train split, its audit and image metrics; one
# subfolder per detector length and, below it, one per replicate training
# (the detector's seed) holds the detector, predictions and map.json.
POINT = f"{RESULTS}/runs/anonymizer~{{anonymizer}}/faces~{{faces}}/anon_iters~{{anon_iters}}"
RUN = f"{POINT}/det_iters~{{det_iters}}/seed~{{seed}}"
# The same, for log and benchmark paths.
RUN_NAME = "runs/anonymizer~{anonymizer}/faces~{faces}/anon_iters~{anon_iters}/det_iters~{det_iters}/seed~{seed}"
POINT_NAME = "runs/anonymizer~{anonymizer}/faces~{faces}/anon_iters~{anon_iters}"
GAN_MODEL = f"{RESULTS}/anonymizers/{{gan}}/faces~{{faces}}/anon_iters~{{anon_iters}}"


def data_dir(split):
    """Folder of a detector split ('train', 'val') or the synthetic 'crops'."""
    return f"{RESULTS}/data/{config['data']['source']}/{split}"


@lru_cache(maxsize=None)
def script_code(script, *modules):
    """The version of the code a job runs, a hash over the import closure of its
    script (``workflow_scripts/<script>``) and of the modules it picks by name
    (a GAN's own module). Snakemake does not see code a script imports; a job
    that passes this as a param reruns when that code changes.
    """
    return code_version([SCRIPTS / script, *modules], workflow.basedir)


def method_modules(method):
    """The code of ``method``, which the registry picks by name (``safefakes.code_version``
    does not follow its imports): a job that runs the method names its module, so no
    method's code is in another method's branch.
    """
    return (method_entry(method).module,)


def method_config(method):
    return study_grid.method_config(config, method)


def method_defaults(method):
    """(faces, anon_iters) of a method's default model; conventional methods have none."""
    return study_grid.method_defaults(config, method)


def crop_set(faces):
    return study_grid.crop_set(config, faces)


@lru_cache(maxsize=None)
def _grid():
    return tuple(study_grid.grid(config))


def grid():
    """Every (anonymizer, faces, anon_iters, det_iters, seed) that some experiment asks for."""
    return list(_grid())


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


def view_detector():
    """The detector of the detector's view: the configured checkpoint, else the
    study's own detector trained on the original split for the grid's longest
    det_iters, seed 0 (the lowest seed the grid trains there; without any
    original run in the grid, seed 0 is trained for the view)."""
    chosen = config["detector_view"]["checkpoint"]
    if chosen:
        return chosen
    longest = max(d for *_, d, _ in grid())
    seeds = [s for m, _, _, d, s in grid() if m == "original" and d == longest]
    return f"{run_dir('original', 0, 0, longest, min(seeds, default=0))}/detector.pt"


def view_points():
    """Grid points with a detector_view.json in the tables: every anonymized split,
    and the original when a run of the grid trains on it (a table row to join)."""
    original = [("original", 0, 0)] if any(m == "original" for m, *_ in grid()) else []
    return original + anonymized_points()


def detector_view_inputs(wildcards):
    """The view's predictions on a split and, for an anonymized split, on the original."""
    inputs = {
        "predictions": f"{point_dir(wildcards.anonymizer, wildcards.faces, wildcards.anon_iters)}/view_predictions",
        "split": detector_inputs(wildcards)["split"],
    }
    if wildcards.anonymizer != "original":
        inputs["reference_predictions"] = (
            f"{point_dir('original', 0, 0)}/view_predictions"
        )
        inputs["reference_split"] = data_dir("train")
    return inputs


def all_view_files():
    return [f"{point_dir(*point)}/detector_view.json" for point in view_points()]


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
    inputs = {"crops": crops_dir(wildcards.faces, wildcards.gan)}
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


def crops_dir(faces, gan):
    """The crop set a GAN with a training set of `faces` learns from."""
    source = crop_set(faces)["source"]
    if source == "synthetic":
        return data_dir("crops")
    if source == "widerface":
        return f"{RESULTS}/crops/widerface"
    return f"{RESULTS}/crops/{source}~{method_entry(gan).keypoints}"


def import_keypoint_weights(layout):
    """The keypoint weights of the GANs that paint with ``layout`` (DeepPrivacy's Keypoint
    R-CNN), for its points at import: those of anonymization; None where none is set."""
    weights = {
        block.get("keypoint_weights")
        for method, block in config["anonymizers"].items()
        if method in GANS and method_entry(method).keypoints == layout
    } - {None}
    if len(weights) > 1:
        raise ValueError(
            f"config: the GANs with {layout} keypoints name different keypoint_weights "
            f"({', '.join(sorted(map(str, weights)))}); an imported crop set is made once per layout"
        )
    return weights.pop() if weights else None


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
    """method -> its config block, for every method of the grid this project runs
    (an external split is another tool's output: there is nothing to run on val)."""
    return {
        m: method_config(m)
        for m in sorted({m for m, *_ in grid()})
        if m not in EXTERNALS
    }


def example_models():
    """The default model of every GAN in the grid."""
    return {
        m: gan_model(m, *method_defaults(m)) for m in example_methods() if m in GANS
    }


# The paper's Fig. 5 sets these detectors side by side on the same val images.
DETECTION_METHODS = ("fullblur", "deepprivacy")
# The paper's Fig. 8 shows this method's failure cases.
FAILURE_METHOD = "deepprivacy"


def main_point(method):
    """(faces, anon_iters) of a method's main setting in the grid: its default model when
    the grid has it, else its largest training set and longest training; None: not in the grid.
    """
    points = sorted({(f, a) for m, f, a, *_ in grid() if m == method})
    if not points:
        return None
    default = method_defaults(method)
    return default if default in points else max(points)


def detection_runs():
    """method -> (det_iters, seed) of Fig. 5's detectors, for the DETECTION_METHODS in the grid:
    at its main point, the longest det_iters all of them share (each its own longest where
    they share none), the lowest seed there (seed 0 where the grid trains it)."""
    runs = {}
    for method in DETECTION_METHODS:
        point = main_point(method)
        if point is not None:
            runs[method] = [
                (d, s) for m, f, a, d, s in grid() if (m, (f, a)) == (method, point)
            ]
    shared = (
        set.intersection(*({d for d, _ in r} for r in runs.values())) if runs else set()
    )
    chosen = {}
    for method, r in runs.items():
        d = max(shared) if shared else max(d for d, _ in r)
        chosen[method] = (d, min(s for dd, s in r if dd == d))
    return chosen


def detection_inputs(wildcards):
    runs = detection_runs()
    inputs = {"val": data_dir("val")}
    for method, (d, s) in runs.items():
        inputs[method] = f"{run_dir(method, *main_point(method), d, s)}/predictions"
    return inputs


def failure_point():
    """The point folder of FAILURE_METHOD's main setting, None when the grid lacks the method."""
    point = main_point(FAILURE_METHOD)
    return None if point is None else point_dir(FAILURE_METHOD, *point)


def failure_inputs(wildcards):
    point = failure_point()
    return {
        "split": f"{point}/train",
        "predictions": f"{point}/view_predictions",
        "original": data_dir("train"),
        "original_predictions": f"{point_dir('original', 0, 0)}/view_predictions",
    }


def paper_outputs():
    """The report's outputs of the paper's Figs. 5 and 8 and the face-size table that the
    grid supports (a figure whose methods the grid lacks is not drawn)."""
    outputs = [f"{RESULTS}/tables/face_sizes.csv"] if anonymized_points() else []
    if detection_runs():
        outputs.append(f"{RESULTS}/figures/detections_side_by_side.png")
    if failure_point():
        outputs.append(f"{RESULTS}/figures/failure_cases_{FAILURE_METHOD}.png")
    return outputs


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
    # An external split's folder is checked when it is imported, not here: the
    # other tool needs the train split that this workflow generates first.
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
    weights.append(("detector_view.checkpoint", config["detector_view"]["checkpoint"]))
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


try:
    check_paths()
except (ValueError, KeyError) as error:
    if SETTINGS_ERROR is None:
        raise
    # A block the settings check refused may lack the defaults check_paths reads.
    paths = str(error) if isinstance(error, ValueError) else ""
    raise ConfigError("\n".join(filter(None, [str(SETTINGS_ERROR), paths]))) from None
if SETTINGS_ERROR is not None:
    raise SETTINGS_ERROR
