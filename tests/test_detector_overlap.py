"""Box overlap and NMS agree with torchvision's, whose Python package the detector no longer imports."""

from __future__ import annotations

import subprocess
import sys

import torch
import torchvision.ops

from safefakes.detector.overlap import box_iou, nms


def random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 40 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_box_iou_by_hand_and_against_torchvision():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[50 / 150, 0.0, 1.0]]))
    x, y = random_boxes(50, 0), random_boxes(70, 1)
    torch.testing.assert_close(box_iou(x, y), torchvision.ops.box_iou(x, y))


def test_nms_keeps_what_torchvision_keeps():
    for seed in range(5):
        boxes = random_boxes(400, seed)
        scores = torch.rand(400, generator=torch.Generator().manual_seed(100 + seed))
        for threshold in (0.3, 0.5, 0.9):
            assert torch.equal(nms(boxes, scores, threshold), torchvision.ops.nms(boxes, scores, threshold))
    # two overlapping boxes: the better one survives
    two = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0]])
    assert nms(two, torch.tensor([0.2, 0.9]), 0.3).tolist() == [1]


def test_prediction_does_not_import_torchvision():
    code = ("import sys, safefakes.detector.predict, safefakes.detector.train, torch\n"
            "from safefakes.detector.overlap import nms\n"
            "nms(torch.zeros(1, 4) + torch.tensor([0, 0, 1, 1]), torch.ones(1), 0.3)\n"
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
