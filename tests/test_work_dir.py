"""A training's work folder keeps checkpoints of the same run only."""

from __future__ import annotations

import json

from safefakes.data.work_dir import STAMP, prepare_work_dir


def test_same_stamp_keeps_checkpoints_other_stamp_or_none_empties(tmp_path):
    work = tmp_path / "work"
    stamp = {"config": {"lr": 0.001, "sizes": (1, 2)}, "code": "abc"}
    prepare_work_dir(work, stamp)
    assert json.loads((work / STAMP).read_text()) == {"config": {"lr": 0.001, "sizes": [1, 2]}, "code": "abc"}
    (work / "step-10.pt").write_bytes(b"checkpoint")
    prepare_work_dir(work, stamp)  # the same run: resumed
    assert (work / "step-10.pt").read_bytes() == b"checkpoint"
    prepare_work_dir(work, {**stamp, "code": "changed"})  # other code: the checkpoint must go
    assert not (work / "step-10.pt").exists()
    assert json.loads((work / STAMP).read_text())["code"] == "changed"
    # A folder without a stamp (or a torn one) holds nothing we may resume.
    (work / STAMP).write_text("{torn")
    (work / "step-20.pt").write_bytes(b"x")
    prepare_work_dir(work, stamp)
    assert sorted(p.name for p in work.iterdir()) == [STAMP]
