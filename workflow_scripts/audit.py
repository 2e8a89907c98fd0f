"""Snakemake adapter: the privacy audit of an anonymized split; fails the rule when a check fails."""

import sys

from _logging import log_to

from safefakes.engine.audit import audit_split, write_report_json

snakemake = globals()["snakemake"]

with log_to(snakemake.log[0]):
    report = audit_split(snakemake.input.original, snakemake.input.anonymized, workers=snakemake.threads)
    print(report)
    if not report.passed:
        # No audit.json: the detector never trains on a split that failed.
        sys.exit(f"privacy audit failed for {snakemake.input.anonymized}; see {snakemake.log[0]}")
    write_report_json(report, snakemake.output[0])
