"""Snakemake adapter: the privacy audit of an anonymized split; fails the rule when a check fails.

With ``audit.survival: record`` a face whose detail survives a method that
did change it (the study's fixed settings on small faces, this project's
choices, docs/departures.md: 8 x 8 pixelation of a 16 px face keeps 2 px
cells) is listed in audit.json and the log instead of stopping the study; a
face left as it was, and every other check, still stop it.
"""

import sys

from _logging import log_to

from safefakes.engine.audit import audit_split, write_report_json
from safefakes.engine.settings import AuditSettings

#: Survival at or above this is a face left as it was (JPEG re-encoding only), never a method's weak result.
UNTOUCHED = 0.98

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    report = audit_split(snakemake.input.original, snakemake.input.anonymized, workers=snakemake.threads)
    print(report)
    recorded = []
    if AuditSettings.from_config(snakemake.params.settings, "audit").survival == "record":
        recorded = [f for f in report.failures if f.check == "survival" and f.value is not None and f.value < UNTOUCHED]
    fatal = [f for f in report.failures if f not in recorded]
    if fatal:
        # No audit.json: the detector never trains on a split that failed.
        sys.exit(f"privacy audit failed for {snakemake.input.anonymized}; see {snakemake.log[0]}")
    if recorded:
        print(f"WARNING: {len(recorded)} of {report.n_survival_checked} checked faces keep their detail under this "
              "method (recorded in audit.json, audit.survival: record):", *recorded, sep="\n  ")
    write_report_json(report, snakemake.output[0])
