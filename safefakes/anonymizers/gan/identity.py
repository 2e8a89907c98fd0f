"""CIAGAN's siamese identity network and the margin-based contrastive loss it trains with.

CIAGAN trains a siamese embedding network next to its GAN (one update per
step, on real face pairs, same Adam settings) with the contrastive loss of
Hadsell et al.: for squared distance d2 between two embeddings,
``0.5 * d2`` for a pair of the same person and ``0.5 * relu(margin - sqrt(d2))**2``
for different people (margin 3, as CIAGAN). The generator's identity loss is
the same-person term between the generated face and the chosen identity.

CIAGAN compares the generated face with one real photo of the target
identity. Our trainer hands a method only the current batch, so the reference
is ``IdentityBank``: a running mean of the embeddings of each identity's real
crops, kept in the network's buffers (saved and resumed with the
checkpoint). The bank also fixes which crop-set identity each one-hot slot of
the generator stands for: identities get slots in the order training first
meets them (a pure function of the data order, hence of the seed); identities
beyond the slot count are not used as targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MARGIN = 3.0  # CIAGAN's margin_contrastive


class IdentityNet(nn.Module):
    """A small CNN: (B, 3, R, R) face crop in [-1, 1] -> (B, dim) identity embedding."""

    def __init__(self, resolution: int, width: int = 32, dim: int = 128, max_channels: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch, res = 3, width, resolution
        while res > 4:
            layers += [nn.Conv2d(ch_in, ch, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(ch, ch, 4, 2, 1),
                       nn.LeakyReLU(0.2)]
            ch_in, ch, res = ch, min(ch * 2, max_channels), res // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch_in, dim)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).mean(dim=(2, 3))
        return self.head(h)


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, margin: float = MARGIN,
                     weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean contrastive loss of embedding pairs (a[i], b[i]); same[i] is 1 for one person, 0 for two."""
    d2 = (a.float() - b.float()).pow(2).sum(1)
    same = same.float()
    losses = 0.5 * (same * d2 + (1 - same) * F.relu(margin - (d2 + 1e-9).sqrt()).pow(2))
    if weight is None:
        return losses.mean()
    weight = weight.float()
    return (losses * weight).sum() / weight.sum().clamp_min(1e-8)


def batch_contrastive_loss(emb: torch.Tensor, ids: torch.Tensor, emb_mirror: torch.Tensor | None = None,
                           margin: float = MARGIN) -> torch.Tensor:
    """The contrastive loss over every pair of a batch with known identities (id >= 0).

    Same-person and different-person pairs are weighted equally in total
    (a random batch holds few same-person pairs). ``emb_mirror``: the
    embeddings of the mirrored crops, each a same-person partner of its
    original. Returns 0 (with a graph) when the batch has no usable pair.
    """
    known = ids >= 0
    n = emb.shape[0]
    i, j = torch.triu_indices(n, n, offset=1, device=emb.device)
    usable = known[i] & known[j]
    same = (ids[i] == ids[j]) & usable
    diff = (ids[i] != ids[j]) & usable
    terms = [emb.sum() * 0.0]
    if bool(same.any()):
        terms.append(contrastive_loss(emb[i[same]], emb[j[same]], torch.ones_like(i[same]), margin))
    if emb_mirror is not None and bool(known.any()):
        terms.append(contrastive_loss(emb[known], emb_mirror[known], torch.ones_like(ids[known]), margin))
    if bool(diff.any()):
        terms.append(contrastive_loss(emb[i[diff]], emb[j[diff]], torch.zeros_like(i[diff]), margin))
    return sum(terms)


class IdentityBank(nn.Module):
    """Which crop-set identity each one-hot slot means, and the mean embedding of each slot.

    All state is in buffers, so it is saved, resumed and moved with its module.
    """

    def __init__(self, slots: int, dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("identity", torch.full((slots,), -1, dtype=torch.long))
        self.register_buffer("centroid", torch.zeros(slots, dim))
        self.register_buffer("count", torch.zeros(slots, dtype=torch.long))

    @property
    def slots(self) -> int:
        return self.identity.shape[0]

    def slot_of(self, ids: torch.Tensor) -> torch.Tensor:
        """The slot of each identity id (-1 where it has none)."""
        match = ids.view(-1, 1) == self.identity.view(1, -1)
        match &= self.identity.view(1, -1) >= 0
        return torch.where(match.any(1), match.float().argmax(1), torch.full_like(ids, -1))

    @torch.no_grad()
    def assign(self, ids: torch.Tensor) -> None:
        """Give free slots to identities not seen before, in batch order."""
        free = int((self.identity < 0).sum())
        if free == 0:
            return
        for value in ids.tolist():
            if value < 0 or free == 0:
                continue
            if bool((self.identity == value).any()):
                continue
            slot = int((self.identity < 0).nonzero()[0])
            self.identity[slot] = value
            free -= 1

    @torch.no_grad()
    def update(self, emb: torch.Tensor, ids: torch.Tensor) -> None:
        """Move each seen slot's centroid towards the batch mean of its embeddings."""
        self.assign(ids)
        slots = self.slot_of(ids)
        keep = slots >= 0
        if not bool(keep.any()):
            return
        slots, emb = slots[keep], emb[keep].float()
        total = torch.zeros_like(self.centroid).index_add_(0, slots, emb)
        n = torch.zeros_like(self.count).index_add_(0, slots, torch.ones_like(slots))
        hit = n > 0
        mean = total[hit] / n[hit].unsqueeze(1).float()
        first = self.count[hit] == 0
        old = self.centroid[hit]
        self.centroid[hit] = torch.where(first.unsqueeze(1), mean, self.momentum * old + (1 - self.momentum) * mean)
        self.count += n

    def trained_slots(self) -> torch.Tensor:
        """Indices of the slots that stand for an identity seen in training."""
        return (self.count > 0).nonzero().flatten()
