"""Model and training sizes of the GANs: ``mini`` (CPU, a minute) and ``paper`` (GPU, days).

DeepPrivacy's paper settings come from its repository's V1 config: channels
512 up to 32 px, 256 at 64 px, 128 at 128 px (``BASE_CHANNELS`` at width 1),
batch 32 at 128 px, learning rate 1.5e-3, Adam betas (0, 0.99), 42M images
shown for the released model. The study trains all GANs at 128 px.
The mini preset keeps the architecture and losses and shrinks width (1/16),
resolution (32 px) and length, so it trains on two CPU cores in minutes. One
departure, measured on the synthetic crops: 3 critic updates per generator
update. With DeepPrivacy's 1, the tiny generator outruns its critic (the
critic's Wasserstein estimate stays negative and the samples are saturated
noise); with 3 it stays positive and head-shaped, skin-coloured fills appear.
Progressive growing (``--progressive``, from 8 px in 500-image phases) is
cheaper per image but was unstable at the fade-in to 32 px in the mini
setting (critic scores diverged), so the mini preset trains at 32 px directly.
"""

from __future__ import annotations

PRESETS: dict[str, dict[str, dict]] = {
    "deepprivacy": {
        "mini": {
            "model": {"resolution": 32, "width": 1 / 16},
            "train": {"images": 4_000, "batch_size": 16, "lr": 1.5e-3, "ema_halflife_images": 500,
                      "critic_steps": 3, "progressive": False, "progressive_start": 8, "progressive_images": 500,
                      "checkpoint_every": 1_000, "sample_every": 1_000, "log_every": 160},
        },
        "paper": {
            "model": {"resolution": 128, "width": 1.0},
            "train": {"images": 42_000_000, "batch_size": 32, "lr": 1.5e-3, "ema_halflife_images": 10_000,
                      "critic_steps": 1, "progressive": False,
                      "checkpoint_every": 200_000, "sample_every": 200_000, "log_every": 10_000},
        },
    },
    "ciagan": {
        # 32 px at a quarter of the width: trains on 2 CPU cores in about a minute.
        # lr 1e-3 (CIAGAN: 1e-4) so that a few hundred steps give faces.
        "mini": {
            "model": {"resolution": 32, "width": 0.125, "n_identities": 256, "mlp_layers": 3, "res_blocks": 2,
                      "identity_width": 8, "identity_dim": 64},
            "train": {"images": 4_000, "batch_size": 16, "lr": 1e-3, "betas": (0.5, 0.999),
                      "ema_halflife_images": 200, "checkpoint_every": 1_000, "sample_every": 1_000,
                      "log_every": 160},
        },
        # CIAGAN's repository: 128 px, 1200 CelebA identities, batch 16, lr 1e-4,
        # betas (0.5, 0.999), 5 critic updates per generator update, 100 epochs
        # (about 3M images over its CelebA subset), no EMA.
        "paper": {
            "model": {"resolution": 128, "width": 1.0, "n_identities": 1200, "mlp_layers": 7, "res_blocks": 4,
                      "identity_width": 32, "identity_dim": 128},
            "train": {"images": 3_000_000, "batch_size": 16, "lr": 1e-4, "betas": (0.5, 0.999), "critic_steps": 5,
                      "ema_halflife_images": 0, "checkpoint_every": 100_000, "sample_every": 100_000,
                      "log_every": 5_000},
        },
    },
    "sun2018": {
        # 32 px at 1/8 width; G lr 1e-3 and D lr 1e-3 * 0.1 so a minute of CPU gives faces.
        "mini": {
            "model": {"resolution": 32, "width": 0.125, "d_lr_scale": 0.1},
            "train": {"images": 4_000, "batch_size": 16, "lr": 1e-3, "betas": (0.5, 0.999),
                      "ema_halflife_images": 200, "checkpoint_every": 1_000, "sample_every": 1_000,
                      "log_every": 160},
        },
        # The paper: batch 64, lr 5e-4 (G) and 2e-5 (D); 128 px as the study.
        "paper": {
            "model": {"resolution": 128, "width": 1.0, "d_lr_scale": 2e-5 / 5e-4},
            "train": {"images": 2_000_000, "batch_size": 64, "lr": 5e-4, "betas": (0.5, 0.999),
                      "ema_halflife_images": 0, "checkpoint_every": 100_000, "sample_every": 100_000,
                      "log_every": 5_000},
        },
    },
}


def preset(method: str, name: str) -> tuple[dict, dict]:
    """(model config, train config) overrides of ``method`` at preset ``name``."""
    try:
        p = PRESETS[method][name]
    except KeyError:
        known = ", ".join(f"{m}:{n}" for m, ps in PRESETS.items() for n in ps)
        raise ValueError(f"no preset {name!r} for method {method!r}; known: {known}") from None
    return dict(p["model"]), dict(p["train"])
