"""Config checks against the method registry: the one list of methods."""

from __future__ import annotations

import pytest
from conftest import REPO

from safefakes.study_config import check_anonymizer_blocks

SCHEMA = REPO / "schemas" / "config.schema.yaml"


def test_blocks_are_checked_by_their_method_kind_and_get_defaults():
    config = {"anonymizers": {"blur": {}, "deepprivacy": {"faces": 10, "anon_iters": 20}},
              "experiments": {"methods": {"methods": ["blur", "deepprivacy"]}}}
    check_anonymizer_blocks(config, SCHEMA)
    assert config["anonymizers"]["blur"] == {"options": {}}
    dp = config["anonymizers"]["deepprivacy"]
    assert dp["train"] == {"preset": "mini"} and dp["keypoint_weights"] is None and dp["options"] == {}


@pytest.mark.parametrize("config, message", [
    ({"anonymizers": {"blurr": {}}, "experiments": {}}, "anonymizers.blurr: unknown method"),
    ({"anonymizers": {"blur": {"faces": 3}}, "experiments": {}}, "anonymizers.blur: Additional properties"),
    ({"anonymizers": {"ciagan": {"faces": 3}}, "experiments": {}}, "anonymizers.ciagan: 'anon_iters' is a required"),
    ({"anonymizers": {}, "experiments": {"fig4": {"methods": ["mystery"]}}},
     "experiments.fig4.methods: unknown method 'mystery'"),
])
def test_bad_blocks_name_the_key(config, message):
    with pytest.raises(ValueError, match=message):
        check_anonymizer_blocks(config, SCHEMA)
