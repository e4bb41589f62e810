"""taming checkpoints written from our VQGANs, as taming writes them: the tests' model files."""

import os
from pathlib import Path
from typing import Any

import torch
import yaml

from pytti_nb.errors import shown
from pytti_nb.io.atomic import atomic_torch_save, atomic_write_text
from pytti_nb.models.vqgan_checkpoint import FIRST_STAGE_PREFIX
from pytti_nb.models.vqgan_config import TARGET_GUMBEL, TARGET_TRANSFORMER, TARGET_VQ, TARGETS


def tiny_random_vqgan():
    """A tiny f4 VQGAN (16 codes) with seeded random weights: the tests' stand-in model."""
    from pytti_nb.models.vqgan import build_vqgan

    torch.manual_seed(0)
    ddconfig = dict(
        double_z=False, z_channels=8, resolution=16, in_channels=3, out_ch=3, ch=32,
        ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[], dropout=0.0,
    )  # fmt: skip
    params = {"embed_dim": 4, "n_embed": 16, "ddconfig": ddconfig}
    return build_vqgan({"model": {"target": "taming.models.vqgan.VQModel", "params": params}})


def first_stage_config(model) -> dict:
    """The taming config ({'target', 'params'}) of a VQGAN's autoencoder."""
    params: dict[str, Any] = {
        "embed_dim": model.e_dim,
        "n_embed": model.n_codes,
        "ddconfig": {k: list(v) if isinstance(v, tuple) else v for k, v in model.ddconfig.items()},
        "lossconfig": {"target": "taming.modules.losses.DummyLoss"},
    }
    if model.is_gumbel:
        params["kl_weight"] = 1.0e-8
        params["temperature_scheduler_config"] = {
            "target": "taming.lr_scheduler.LambdaWarmUpCosineScheduler",
            "params": {
                "warm_up_steps": 0,
                "max_decay_steps": 1000001,
                "lr_start": 0.9,
                "lr_max": 0.9,
                "lr_min": 1.0e-6,
            },
        }
    return {"target": TARGET_GUMBEL if model.is_gumbel else TARGET_VQ, "params": params}


def save_taming_checkpoint(
    model,
    ckpt_path: str | os.PathLike,
    config_path: str | os.PathLike,
    *,
    target: str = TARGET_VQ,
) -> None:
    """Write model as taming would: a Lightning-style {'state_dict': ...} checkpoint and its
    YAML config, for target VQModel, GumbelVQ or Net2NetTransformer.

    Like taming's files they hold more than the autoencoder: `loss.*` entries and, for a
    Net2NetTransformer, the `first_stage_model.` prefix and a transformer tensor, all of
    which loading drops.
    """
    if target not in TARGETS:
        raise ValueError(f"target {shown(target)} is not one of {', '.join(TARGETS)}")
    if (target == TARGET_GUMBEL) != model.is_gumbel:
        raise ValueError(f"a {'Gumbel' if model.is_gumbel else 'VQ'} model cannot be a {target}")
    first = first_stage_config(model)
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    loss = {
        "loss.logvar": torch.zeros(()),
        "loss.discriminator.main.0.weight": torch.ones(4, 3, 4, 4),
    }
    if target == TARGET_TRANSFORMER:
        state = {FIRST_STAGE_PREFIX + k: v for k, v in {**weights, **loss}.items()}
        state["transformer.tok_emb.weight"] = torch.zeros(model.n_codes, 8)
        config = {
            "model": {
                "base_learning_rate": 4.5e-06,
                "target": TARGET_TRANSFORMER,
                "params": {
                    "transformer_config": {
                        "target": "taming.modules.transformer.mingpt.GPT",
                        "params": {
                            "vocab_size": model.n_codes,
                            "block_size": 256,
                            "n_layer": 1,
                            "n_head": 1,
                            "n_embd": 8,
                        },
                    },
                    "first_stage_config": first,
                    "cond_stage_config": "__is_unconditional__",
                },
            }
        }
    else:
        state = {**weights, **loss}
        config = {"model": {"base_learning_rate": 4.5e-06, **first}}
    atomic_torch_save({"state_dict": state, "epoch": 0, "global_step": 0}, Path(ckpt_path))
    atomic_write_text(Path(config_path), yaml.safe_dump(config, sort_keys=False))
