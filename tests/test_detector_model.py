"""DSFD anchors, network shapes and backbone weight loading."""

from __future__ import annotations

import math

import pytest
import torch

from safefakes.detector.anchors import anchor_boxes, decode, encode, shot_anchors
from safefakes.detector.backbone import RANDOM_INIT, load_vgg16_weights, prepare_backbone
from safefakes.detector.config import DetectorConfig, load_config, mini_config, paper_config
from safefakes.detector.model import DSFD, feature_sizes
from safefakes.errors import InputError, MissingWeightsError

torch.set_num_threads(1)
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def test_anchor_counts_and_sizes_at_640():
    config = paper_config()
    sizes = feature_sizes(640, 640)
    assert sizes == [(160, 160), (80, 80), (40, 40), (20, 20), (10, 10), (5, 5)]
    first, second = shot_anchors(sizes, config)
    counts = [160 * 160, 80 * 80, 40 * 40, 20 * 20, 10 * 10, 5 * 5]
    assert second.shape == first.shape == (sum(counts), 4)
    start = 0
    for level, n in enumerate(counts):
        stride = 4 * 2**level
        size = 16 * 2**level  # second shot: 16 .. 512
        block = second[start:start + n]
        # geometric-mean size 16 * 2^l with height / width = 1.5
        assert torch.allclose(block[:, 2], torch.full((n,), size / math.sqrt(1.5)))
        assert torch.allclose(block[:, 3], torch.full((n,), size * math.sqrt(1.5)))
        assert torch.allclose(first[start:start + n, 2:], block[:, 2:] / 2)  # first shot: half
        # first anchor centred on the first cell, then row-major
        assert block[0, :2].tolist() == [stride / 2, stride / 2]
        assert block[1, :2].tolist() == [stride * 1.5, stride / 2]
        side = int(math.isqrt(n))
        assert block[side, :2].tolist() == [stride / 2, stride * 1.5]
        start += n


def test_anchor_grid_of_a_non_square_input():
    sizes = feature_sizes(60, 100)  # H, W
    assert sizes == [(15, 25), (8, 13), (4, 7), (2, 4), (1, 2), (1, 1)]
    anchors = anchor_boxes(sizes, (4, 8, 16, 32, 64, 128), (16, 32, 64, 128, 256, 512), aspect=1.0)
    assert anchors.shape[0] == 15 * 25 + 8 * 13 + 4 * 7 + 2 * 4 + 1 * 2 + 1
    assert anchors[-1].tolist() == [64.0, 64.0, 512.0, 512.0]


def test_model_outputs_one_prediction_per_anchor_for_any_input_size():
    torch.manual_seed(0)
    model = DSFD(width=0.0625).eval()
    x = torch.rand(2, 3, 52, 76) * 255
    with torch.no_grad():
        out = model(x)
    assert out.feature_sizes == feature_sizes(52, 76)
    n = sum(h * w for h, w in out.feature_sizes)
    assert out.first_loc.shape == out.second_loc.shape == (2, n, 4)
    assert out.first_conf.shape == out.second_conf.shape == (2, n, 2)
    with torch.no_grad():
        test_time = model(x, first_shot=False)
    assert test_time.first_loc is None and torch.allclose(test_time.second_conf, out.second_conf)


def test_width_multiplier_keeps_the_topology():
    thin, full = DSFD(width=0.125), DSFD(width=1.0)
    assert [type(m).__name__ for m in thin.modules()] == [type(m).__name__ for m in full.modules()]
    thin_convs = [m for m in thin.modules() if isinstance(m, torch.nn.Conv2d)]
    full_convs = [m for m in full.modules() if isinstance(m, torch.nn.Conv2d)]
    for t, f in zip(thin_convs, full_convs):
        assert (t.kernel_size, t.stride, t.dilation) == (f.kernel_size, f.stride, f.dilation)
    assert full.vgg[28].out_channels == 512 and full.fc6.out_channels == 1024 and full.fc6.dilation == (3, 3)
    assert thin.vgg[28].out_channels == 64 and thin.fc7.out_channels == 128


def test_encode_decode_round_trip():
    anchors = torch.tensor([[10.0, 10.0, 8.0, 12.0], [40.0, 20.0, 16.0, 24.0]])
    boxes = torch.tensor([[4.0, 3.0, 18.0, 19.0], [30.0, 5.0, 52.0, 33.0]])
    offsets = encode(boxes, anchors)
    # by hand for the first: centre (11, 11), size (14, 16)
    assert torch.allclose(offsets[0], torch.tensor([(11 - 10) / (0.1 * 8), (11 - 10) / (0.1 * 12),
                                                    math.log(14 / 8) / 0.2, math.log(16 / 12) / 0.2]))
    assert torch.allclose(decode(offsets, anchors), boxes, atol=1e-4)


# -- backbone weights ------------------------------------------------------------
def _fake_torchvision_vgg(model: DSFD, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in torchvision's vgg16 layout, shaped for ``model``'s width."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i in CONV_INDICES:
        conv = model.vgg[i]
        state[f"features.{i}.weight"] = torch.randn(conv.weight.shape, generator=g)
        state[f"features.{i}.bias"] = torch.randn(conv.bias.shape, generator=g)
    c512, c1024 = model.fc6.in_channels, model.fc6.out_channels
    state["classifier.0.weight"] = torch.randn(4 * c1024, c512 * 49, generator=g)
    state["classifier.0.bias"] = torch.randn(4 * c1024, generator=g)
    state["classifier.3.weight"] = torch.randn(4 * c1024, 4 * c1024, generator=g)
    state["classifier.3.bias"] = torch.randn(4 * c1024, generator=g)
    state["classifier.6.weight"] = torch.randn(10, 4 * c1024, generator=g)  # ignored
    return state


def test_torchvision_state_dict_loads_with_fc_decimation(tmp_path):
    model = DSFD(width=0.0625)
    state = _fake_torchvision_vgg(model)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    record = load_vgg16_weights(model, path)
    assert record == "vgg16.pth (torchvision)"
    assert model.normalisation == "torchvision"
    for i in CONV_INDICES:
        assert torch.equal(model.vgg[i].weight, state[f"features.{i}.weight"])
        assert torch.equal(model.vgg[i].bias, state[f"features.{i}.bias"])
    c512, c1024 = model.fc6.in_channels, model.fc6.out_channels
    w6 = state["classifier.0.weight"].reshape(4 * c1024, c512, 7, 7)
    for o in (0, 1, c1024 - 1):  # every 4th unit, taps 0, 3, 6 of the 7x7 window
        for ky, sy in enumerate((0, 3, 6)):
            for kx, sx in enumerate((0, 3, 6)):
                assert torch.equal(model.fc6.weight[o, :, ky, kx], w6[4 * o, :, sy, sx])
        assert model.fc6.bias[o] == state["classifier.0.bias"][4 * o]
        assert torch.equal(model.fc7.weight[o, :, 0, 0], state["classifier.3.weight"][4 * o, ::4])


def test_ssd_reducedfc_state_dict_switches_to_caffe_normalisation(tmp_path):
    model = DSFD(width=0.0625)
    tv = _fake_torchvision_vgg(model, seed=1)
    state = {f"{i}.{p}": tv[f"features.{i}.{p}"] for i in CONV_INDICES for p in ("weight", "bias")}
    state["31.weight"] = torch.randn(model.fc6.weight.shape)
    state["31.bias"] = torch.randn(model.fc6.bias.shape)
    state["33.weight"] = torch.randn(model.fc7.weight.shape)
    state["33.bias"] = torch.randn(model.fc7.bias.shape)
    path = tmp_path / "vgg16_reducedfc.pth"
    torch.save(state, path)
    config = DetectorConfig.from_dict({"width": 0.0625, "backbone_weights": str(path)}, base=mini_config())
    assert prepare_backbone(model, config) == "vgg16_reducedfc.pth (caffe)"
    assert torch.equal(model.fc6.weight, state["31.weight"]) and torch.equal(model.vgg[28].bias, state["28.bias"])
    assert model.normalisation == "caffe"
    # Caffe weights expect BGR minus the Caffe mean.
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0] = 200.0  # red
    pre = model.preprocess(x)
    assert pre[0, 2, 0, 0] == 200.0 - 123.0 and pre[0, 0, 0, 0] == -104.0


def test_weights_of_another_width_are_an_input_error(tmp_path):
    path = tmp_path / "wide.pth"
    torch.save(_fake_torchvision_vgg(DSFD(width=0.125)), path)
    with pytest.raises(InputError, match="needs"):
        load_vgg16_weights(DSFD(width=0.0625), path)


def test_batch_norm_model_has_the_vgg16_bn_layout_and_refuses_imagenet_weights(tmp_path):
    plain, normed = DSFD(width=0.0625), DSFD(width=0.0625, batch_norm=True)
    # Source maps are tapped after conv3_3, conv4_3 and conv5_3's ReLU: torchvision's
    # vgg16().features indices without batch normalisation, vgg16_bn's with it.
    assert plain.taps == (15, 22, 29) and normed.taps == (22, 32, 42)
    kinds = [type(m).__name__ for m in normed.vgg[:7]]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in normed.modules()) == 13 + 6
    # The plain model's parameters are the published VGG-16 DSFD's, key for key.
    assert not any("extra_norms" in k for k in plain.state_dict())
    x = torch.rand(2, 3, 40, 56) * 255
    out_plain, out_normed = plain(x), normed(x)
    assert out_plain.second_conf.shape == out_normed.second_conf.shape
    assert out_plain.feature_sizes == out_normed.feature_sizes
    path = tmp_path / "vgg16.pth"
    torch.save(_fake_torchvision_vgg(plain), path)
    with pytest.raises(InputError, match="batch_norm"):
        load_vgg16_weights(normed, path)


def test_not_a_vgg_file_is_an_input_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="not a VGG-16 state dict"):
        load_vgg16_weights(DSFD(width=0.0625), path)
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="cannot read"):
        load_vgg16_weights(DSFD(width=0.0625), bad)


def test_missing_backbone_weights_name_file_key_and_source(tmp_path):
    model = DSFD(width=0.0625)
    missing = tmp_path / "vgg16_reducedfc.pth"
    config = DetectorConfig.from_dict({"width": 0.0625, "backbone_weights": str(missing),
                                       "allow_random_init": True}, base=mini_config())
    with pytest.raises(MissingWeightsError) as err:
        prepare_backbone(model, config)  # a configured path must exist, random init or not
    text = str(err.value)
    assert str(missing) in text and "detector.backbone_weights" in text and "download.pytorch.org" in text
    strict = DetectorConfig.from_dict({"width": 0.0625}, base=paper_config())
    with pytest.raises(MissingWeightsError, match="allow_random_init"):
        prepare_backbone(model, strict)
    allowed = DetectorConfig.from_dict({"width": 0.0625, "allow_random_init": True}, base=paper_config())
    assert prepare_backbone(model, allowed) == RANDOM_INIT


def test_config_file_overrides_the_preset_and_rejects_unknown_keys(tmp_path):
    good = tmp_path / "det.yaml"
    good.write_text("detector:\n  input_size: 96\n  lr_steps: [0.5]\n")
    config = load_config(good, "paper")
    assert config.input_size == 96 and config.lr_steps == (0.5,) and config.batch_size == 4
    # The workflow's config.yaml shape: preset + settings + weights keys.
    workflow = tmp_path / "config.yaml"
    workflow.write_text("detector:\n  preset: mini\n  settings: {batch_size: 2}\n  allow_random_init: true\n"
                        "  backbone_weights: null\n")
    config = load_config(workflow, "paper")
    assert (config.input_size, config.batch_size, config.allow_random_init) == (mini_config().input_size, 2, True)
    bad = tmp_path / "bad.yaml"
    bad.write_text("input_sise: 96\n")
    with pytest.raises(InputError, match="input_sise"):
        load_config(bad, "mini")


def test_paper_preset_is_the_published_setting():
    p = paper_config()
    assert (p.input_size, p.width, p.batch_size, p.lr, p.momentum, p.weight_decay) == (640, 1.0, 4, 2.5e-4, 0.9, 5e-4)
    assert p.anchor_sizes == (16, 32, 64, 128, 256, 512) and p.strides == (4, 8, 16, 32, 64, 128)
    assert (p.match_threshold, p.neg_pos_ratio, p.variances, p.first_shot_ratio) == (0.4, 3.0, (0.1, 0.2), 0.5)
    assert not p.allow_random_init
