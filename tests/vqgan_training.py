"""A tiny VQGAN trained in a few seconds on images of flat colour blocks, for tests that need
encode and decode to mean something (round trips, warps)."""

import torch
import torch.nn.functional as F

from pytti_nb.models.vqgan import build_vqgan
from pytti_nb.models.vqgan_config import TARGET_VQ

PALETTE = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.1, 0.2, 0.9], [0.9, 0.9, 0.2]])


def colour_blocks(generator, n, size=8):
    """n size x size images, each four flat blocks of palette colours."""
    colours = PALETTE[torch.randint(len(PALETTE), (n, 2, 2), generator=generator)]
    return F.interpolate(colours.permute(0, 3, 1, 2), scale_factor=size // 2, mode="nearest")


def tiny_config(n_embed=8):
    """An f2 taming config with 8 codes of 4 dims (ch 32: GroupNorm needs multiples of 32)."""
    ddconfig = dict(
        double_z=False, z_channels=8, resolution=8, in_channels=3, out_ch=3, ch=32,
        ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[], dropout=0.0,
    )  # fmt: skip
    params = {"embed_dim": 4, "n_embed": n_embed, "ddconfig": ddconfig}
    return {"model": {"target": TARGET_VQ, "params": params}}


def train_tiny_vqgan(steps=250, seed=0):
    """The tiny VQGAN after `steps` Adam steps on batches of 8 block images (about 15 s)."""
    torch.manual_seed(seed)
    model = build_vqgan(tiny_config())
    data = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # codebook initialised from encodings, as k-means would
        z = model.encode(colour_blocks(data, 16)).movedim(1, -1).reshape(-1, model.e_dim)
        model.codebook.copy_(z[torch.randperm(len(z), generator=data)[: model.n_codes]])
    weights = [p for n, p in model.named_parameters() if not n.startswith("quantize.")]
    optimiser = torch.optim.Adam(weights, lr=3e-3, foreach=True)  # the same bits, a little sooner
    for _ in range(steps):
        x = colour_blocks(data, 8)
        z = model.encode(x)
        z_q = model.quantize(z)  # straight through to the encoder
        loss = F.mse_loss(model.decode(z_q), x) + 0.25 * F.mse_loss(z, z_q.detach())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():  # the codebook follows its vectors (an online k-means step)
            vectors, codes = z.movedim(1, -1).reshape(-1, model.e_dim), model.codes(z).flatten()
            sums = torch.zeros_like(model.codebook).index_add_(0, codes, vectors)
            counts = torch.bincount(codes, minlength=model.n_codes)
            used = counts > 0
            means = sums[used] / counts[used, None]
            model.codebook[used] = 0.8 * model.codebook[used] + 0.2 * means
    return model.eval().requires_grad_(False)
