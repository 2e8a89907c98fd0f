"""Snakemake adapter: the privacy audit of an anonymized split; fails the rule when a check fails.

With ``audit.survival: record`` a face whose detail survives a method that
did change it (the study's fixed settings on small faces, this project's
choices, docs/departures.md: 8 x 8 pixelation of a 16 px face keeps 2 px
cells) is listed in audit.json and the log instead of stopping the study; a
face left as it was, and every other check, still stop it (the policy is the
library's ``survival_verdict``, which ``safefakes audit --survival`` also applies).
"""

import sys

from _logging import log_to

from safefakes.audit.split import audit_split, survival_verdict, write_report_json
from safefakes.engine.settings import AuditSettings

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    report = audit_split(snakemake.input.original, snakemake.input.anonymized, workers=snakemake.threads)
    print(report)
    verdict = survival_verdict(report, AuditSettings.from_config(snakemake.params.settings, "audit").survival)
    if not verdict.passed:
        # No audit.json: the detector never trains on a split that failed.
        sys.exit(f"privacy audit failed for {snakemake.input.anonymized}; see {snakemake.log[0]}")
    if verdict.recorded:
        print(verdict.warning(report))
    write_report_json(report, snakemake.output[0])
