"""Progressive Anchor Loss: one SSD multibox loss per shot, summed.

Each shot's loss is softmax cross-entropy (face / background) over the
positive anchors and the hardest negatives (at most ``neg_pos_ratio`` per
positive, per image), plus smooth-L1 on the encoded box offsets of the
positives, both divided by the number of positives in the batch.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F

from safefakes.detector.anchors import encode
from safefakes.detector.matching import match_anchors


class ShotLoss(NamedTuple):
    conf: torch.Tensor
    loc: torch.Tensor
    n_positive: int


class PALoss(NamedTuple):
    total: torch.Tensor
    first: ShotLoss
    second: ShotLoss


def multibox_loss(
    loc: torch.Tensor,
    conf: torch.Tensor,
    anchors: torch.Tensor,
    targets: Sequence[torch.Tensor],
    threshold: float = 0.4,
    neg_pos_ratio: float = 3.0,
    variances: Sequence[float] = (0.1, 0.2),
) -> ShotLoss:
    """Loss of one shot.

    ``loc`` (B, A, 4) and ``conf`` (B, A, 2) are the head outputs, ``anchors``
    (A, 4) cx cy w h, ``targets`` one (G, 4) x1 y1 x2 y2 tensor of faces per image.
    """
    batch, n_anchors = conf.shape[:2]
    loc = loc.float()
    conf = conf.float()
    labels = torch.zeros(batch, n_anchors, dtype=torch.long, device=conf.device)
    loc_targets = torch.zeros(batch, n_anchors, 4, device=conf.device)
    for i, boxes in enumerate(targets):
        m = match_anchors(boxes.to(anchors.device), anchors, threshold)
        labels[i] = m.positive.long()
        if boxes.numel():
            loc_targets[i] = encode(boxes.to(anchors.device).float()[m.gt_index], anchors, variances)
    positive = labels > 0
    n_pos = int(positive.sum())

    ce = F.cross_entropy(conf.reshape(-1, 2), labels.reshape(-1), reduction="none").view(batch, n_anchors)
    # Hard negative mining: rank the negatives by their background loss.
    mining = ce.detach().masked_fill(positive, -1.0)
    order = mining.sort(dim=1, descending=True, stable=True).indices
    rank = order.sort(dim=1, stable=True).indices
    pos_per_image = positive.sum(dim=1, keepdim=True)
    n_neg = torch.minimum((pos_per_image.float() * neg_pos_ratio).long(), n_anchors - pos_per_image)
    negative = (rank < n_neg) & ~positive

    normaliser = max(n_pos, 1)
    conf_loss = ce[positive | negative].sum() / normaliser
    if n_pos:
        loc_loss = F.smooth_l1_loss(loc[positive], loc_targets[positive], reduction="sum", beta=1.0) / normaliser
    else:
        loc_loss = loc.sum() * 0.0  # keeps the graph connected
    return ShotLoss(conf_loss, loc_loss, n_pos)


def progressive_anchor_loss(output, targets: Sequence[torch.Tensor], first_anchors: torch.Tensor,
                            second_anchors: torch.Tensor, config) -> PALoss:
    """Both shots' multibox losses, summed (``output``: a ``model.DetectorOutput``)."""
    kw = dict(threshold=config.match_threshold, neg_pos_ratio=config.neg_pos_ratio,
              variances=config.variances)
    first = multibox_loss(output.first_loc, output.first_conf, first_anchors, targets, **kw)
    second = multibox_loss(output.second_loc, output.second_conf, second_anchors, targets, **kw)
    total = first.conf + first.loc + second.conf + second.loc
    return PALoss(total, first, second)


__all__ = ["ShotLoss", "PALoss", "multibox_loss", "progressive_anchor_loss"]
