"""Anchor matching and the multibox / Progressive Anchor Loss on hand-built cases."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from safefakes.detector.loss import multibox_loss, progressive_anchor_loss
from safefakes.detector.matching import match_anchors
from safefakes.detector.predict import box_vote

torch.set_num_threads(1)


def test_matching_known_boxes_to_known_anchors():
    # cx, cy, w, h
    anchors = torch.tensor([
        [10.0, 10.0, 10.0, 10.0],  # 0: exactly face 0
        [14.0, 10.0, 10.0, 10.0],  # 1: IoU 60/140 = 0.43 with face 0 -> positive at 0.4
        [16.0, 10.0, 10.0, 10.0],  # 2: IoU 40/160 = 0.25 -> negative
        [50.0, 50.0, 20.0, 20.0],  # 3: best (and only) anchor of the small face 1
        [90.0, 90.0, 10.0, 10.0],  # 4: nothing
    ])
    faces = torch.tensor([[5.0, 5.0, 15.0, 15.0], [48.0, 48.0, 54.0, 54.0]])  # face 1: 36/400 = 0.09 IoU
    m = match_anchors(faces, anchors, threshold=0.4)
    assert m.positive.tolist() == [True, True, False, True, False]
    assert m.gt_index[:2].tolist() == [0, 0] and int(m.gt_index[3]) == 1
    assert math.isclose(float(m.iou[1]), 60 / 140, rel_tol=1e-6)
    assert float(m.iou[3]) == 2.0  # forced: below the threshold, but the face's best anchor
    # at 0.5 (SSD's threshold) anchor 1 is no longer positive
    assert match_anchors(faces, anchors, threshold=0.5).positive.tolist() == [True, False, False, True, False]


def test_matching_assigns_each_anchor_to_its_best_face():
    anchors = torch.tensor([[10.0, 10.0, 10.0, 10.0], [30.0, 10.0, 10.0, 10.0]])
    faces = torch.tensor([[24.0, 4.0, 36.0, 16.0], [5.0, 5.0, 15.0, 15.0]])
    m = match_anchors(faces, anchors)
    assert m.positive.tolist() == [True, True] and m.gt_index.tolist() == [1, 0]
    empty = match_anchors(torch.zeros(0, 4), anchors)
    assert not empty.positive.any()


def _hand_case():
    anchors = torch.tensor([[10.0, 10.0, 10.0, 10.0]] + [[40.0 + 20 * i, 40.0, 10.0, 10.0] for i in range(4)])
    face = torch.tensor([[6.0, 5.0, 16.0, 17.0]])  # centre (11, 11), 10 x 12: IoU 90/130 with anchor 0
    conf = torch.tensor([[[0.0, 0.0],  # positive: CE = log 2
                          [0.0, 2.0],  # negatives: CE = log(1 + e^2)
                          [0.0, 1.0],  # log(1 + e)
                          [0.0, 0.0],  # log 2
                          [3.0, 0.0]]])  # log(1 + e^-3): the easiest, left out by 3:1 mining
    # Targets of anchor 0 (variances 0.1, 0.2): (1/1, 1/1, log(10/10)/0.2, log(12/10)/0.2) = (1, 1, 0, 0.9116)
    loc = torch.zeros(1, 5, 4)
    loc[0, 0] = torch.tensor([1.5, 1.0, -1.2, math.log(1.2) / 0.2])
    return anchors, face, conf, loc


def test_multibox_loss_on_a_hand_built_case():
    anchors, face, conf, loc = _hand_case()
    out = multibox_loss(loc, conf, anchors, [face], threshold=0.4, neg_pos_ratio=3.0)
    assert out.n_positive == 1
    expected_conf = math.log(2) + math.log(1 + math.e**2) + math.log(1 + math.e) + math.log(2)
    # smooth L1 (beta 1): 0.5 * 0.5^2 + 0 + (1.2 - 0.5) + 0
    expected_loc = 0.125 + 0.7
    assert math.isclose(float(out.conf), expected_conf, rel_tol=1e-5)
    assert math.isclose(float(out.loc), expected_loc, rel_tol=1e-5)


def test_hard_negative_ratio_and_images_without_faces():
    anchors, face, conf, loc = _hand_case()
    one_to_one = multibox_loss(loc, conf, anchors, [face], neg_pos_ratio=1.0)
    assert math.isclose(float(one_to_one.conf), math.log(2) + math.log(1 + math.e**2), rel_tol=1e-5)
    # An image without faces adds no negatives and no positives; the batch normaliser stays 1.
    batch = multibox_loss(loc.repeat(2, 1, 1), conf.repeat(2, 1, 1), anchors, [face, torch.zeros(0, 4)])
    single = multibox_loss(loc, conf, anchors, [face])
    assert math.isclose(float(batch.conf), float(single.conf), rel_tol=1e-6)
    none = multibox_loss(loc, conf, anchors, [torch.zeros(0, 4)])
    assert float(none.conf) == 0.0 and float(none.loc) == 0.0 and none.n_positive == 0


def test_progressive_anchor_loss_sums_both_shots():
    anchors, face, conf, loc = _hand_case()
    half = anchors.clone()
    half[:, 2:] /= 2  # first-shot anchors: face 0 now only matches anchor 0 by force
    output = SimpleNamespace(first_loc=loc, first_conf=conf, second_loc=loc * 0, second_conf=conf)
    config = SimpleNamespace(match_threshold=0.4, neg_pos_ratio=3.0, variances=(0.1, 0.2))
    pal = progressive_anchor_loss(output, [face], half, anchors, config)
    first = multibox_loss(loc, conf, half, [face])
    second = multibox_loss(loc * 0, conf, anchors, [face])
    assert math.isclose(float(pal.total), float(first.conf + first.loc + second.conf + second.loc), rel_tol=1e-6)
    # second shot with zero offsets: targets (1, 1, 0, 0.9116) -> 0.5 + 0.5 + 0 + 0.5 * 0.9116^2
    d = math.log(1.2) / 0.2
    assert math.isclose(float(pal.second.loc), 0.5 + 0.5 + 0.5 * d * d, rel_tol=1e-5)


def test_box_vote_merges_overlapping_boxes_and_drops_lone_ones():
    dets = torch.tensor([[0.0, 0.0, 10.0, 10.0, 0.9], [1.0, 0.0, 11.0, 10.0, 0.3], [50.0, 50.0, 60.0, 60.0, 0.5],
                         [100.0, 100.0, 120.0, 120.0, 0.4], [100.0, 100.0, 120.0, 120.0, 0.8]])
    merged = box_vote(dets, iou=0.3)
    assert merged.shape == (2, 5)
    # Groups in the order of their best scores: the pair led by 0.9, then the one led by 0.8.
    # (0.9 * 0 + 0.3 * 1) / 1.2 = 0.25 and (0.9 * 10 + 0.3 * 11) / 1.2 = 10.25; the score is the best one
    assert torch.allclose(merged[0], torch.tensor([0.25, 0.0, 10.25, 10.0, 0.9]))
    assert torch.allclose(merged[1], torch.tensor([100.0, 100.0, 120.0, 120.0, 0.8]))
    # The box at 50 had no support: gone.
    assert not ((merged[:, 0] == 50) & (merged[:, 1] == 50)).any()
    # Overlap counts pixels inclusively: [0, 0, 1, 1] and [1, 1, 2, 2] share 1 of 7 pixels
    # (IoU 1/7), [0, 0, 2, 2] and [1, 0, 3, 2] share 6 of 12 (0.5; 1/3 without the +1).
    pair = torch.tensor([[0.0, 0.0, 2.0, 2.0, 0.9], [1.0, 0.0, 3.0, 2.0, 0.5]])
    assert box_vote(pair, iou=0.45).shape == (1, 5)
    assert box_vote(torch.zeros((0, 5))).shape == (0, 5)
