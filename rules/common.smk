# Helpers shared by the rule files: paths, config look-ups, code versions.
import hashlib
from pathlib import Path


RESULTS = config["results"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
SOURCE_ROOT = Path(workflow.basedir) / "safefakes"


def data_dir(split):
    """Folder of a detector split ('train', 'val') or the anonymizer 'crops'."""
    return f"{RESULTS}/data/{config['data']['source']}/{split}"


def code_version(*modules):
    """A hash of the source files of safefakes modules (files or packages).

    Snakemake does not see code imported from a package; a rule that passes
    this as a param reruns when the code it runs changes.
    """
    digest = hashlib.sha256()
    for module in modules:
        path = SOURCE_ROOT / module
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        for f in files:
            digest.update(str(f.relative_to(SOURCE_ROOT)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def study_targets():
    """Everything `rule all` requests."""
    return [data_dir("train"), data_dir("val"), data_dir("crops")]
