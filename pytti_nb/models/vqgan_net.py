"""VQGAN's first-stage autoencoder, reimplemented from taming-transformers with its parameter names.

The modules mirror taming/modules/diffusionmodules/model.py (Encoder, Decoder and their blocks)
and taming/modules/vqvae/quantize.py (VectorQuantizer2, GumbelQuantize) parameter for parameter,
so the `state_dict` of a taming VQModel or GumbelVQ, less its `loss.*` keys, loads as it is.
Training-only parts (the loss, its discriminator and LPIPS, which downloads VGG weights) are left
out. `VQGAN` wraps them in the interface the image model uses: encode, quantize, decode.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import shown


def nonlinearity(x: Tensor) -> Tensor:
    """Swish, as taming writes it (x * sigmoid(x), i.e. SiLU)."""
    return F.silu(x)


def Normalize(in_channels: int) -> nn.GroupNorm:  # taming's (capitalised) name
    """taming's normalisation: GroupNorm with 32 groups, eps 1e-6, affine."""
    return nn.GroupNorm(num_groups=32, num_channels=in_channels, eps=1e-6, affine=True)


class Upsample(nn.Module):
    """Nearest-neighbour doubling, then an optional 3x3 convolution."""

    def __init__(self, in_channels: int, with_conv: bool):
        """Build the optional convolution (key `conv`)."""
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """Twice the height and width."""
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.with_conv else x


class Downsample(nn.Module):
    """A stride-2 3x3 convolution on a right/bottom zero-padded input, or 2x2 average pooling."""

    def __init__(self, in_channels: int, with_conv: bool):
        """Build the optional convolution (key `conv`)."""
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            # no asymmetric padding in torch's conv: forward pads (0, 1, 0, 1) itself, as taming
            self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        """Half the height and width."""
        if self.with_conv:
            return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class ResnetBlock(nn.Module):
    """Two norm-swish-conv layers with a residual (a 1x1 `nin_shortcut` when channels change)."""

    def __init__(self, *, in_channels: int, out_channels: int | None = None, dropout: float = 0.0):
        """Build the block; the autoencoder has no timestep embedding, so no `temb_proj`."""
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = Normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = Normalize(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            # taming's Encoder and Decoder never ask for conv_shortcut: always the 1x1 one
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """x plus the block's residual."""
        h = self.conv1(nonlinearity(self.norm1(x)))
        h = self.conv2(self.dropout(nonlinearity(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions, with 1x1 q, k, v and output projections."""

    def __init__(self, in_channels: int):
        """Build the norm and the four 1x1 convolutions (keys norm, q, k, v, proj_out)."""
        super().__init__()
        self.in_channels = in_channels
        self.norm = Normalize(in_channels)
        self.q = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.k = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.v = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.proj_out = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """x plus attention of every position to every other (softmax(q.k / sqrt(c)) v)."""
        h = self.norm(x)
        b, c, height, width = x.shape
        q, k, v = (
            m(h).reshape(b, 1, c, height * width).transpose(-1, -2)
            for m in (self.q, self.k, self.v)
        )
        # the same maths as taming's bmm/softmax/bmm, but scaled_dot_product_attention never
        # materialises the (hw x hw) weights on GPUs: at 1024x1024 px the f8 Gumbel model
        # attends over 128x128 positions, a 1 GiB matrix per image in taming's version
        out = F.scaled_dot_product_attention(q, k, v)  # default scale 1/sqrt(c), as taming
        out = out.transpose(-1, -2).reshape(b, c, height, width)
        return x + self.proj_out(out)


def _levels(ch: int, ch_mult) -> list[tuple[int, int]]:
    """(input channels, output channels) of each resolution level, as taming computes them."""
    in_ch_mult = (1, *tuple(ch_mult))
    return [(ch * in_ch_mult[i], ch * ch_mult[i]) for i in range(len(ch_mult))]


class Encoder(nn.Module):
    """taming's Encoder: image [b,in_channels,H,W] -> [b,z_channels,H/f,W/f], f = 2**(levels-1)."""

    def __init__(
        self,
        *,
        ch: int,
        out_ch: int,
        ch_mult=(1, 2, 4, 8),
        num_res_blocks: int,
        attn_resolutions,
        dropout: float = 0.0,
        resamp_with_conv: bool = True,
        in_channels: int,
        resolution: int,
        z_channels: int,
        double_z: bool = True,
        **ignore_kwargs,
    ):
        """Build the layers from a taming `ddconfig` (extra keys are ignored, as taming does)."""
        super().__init__()
        self.ch = ch
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.resolution = resolution
        self.in_channels = in_channels
        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        # attention sits where the *configured* resolution (not the input's) is listed, as taming
        curr_res = resolution
        self.down = nn.ModuleList()
        for i_level, (block_in, block_out) in enumerate(_levels(ch, ch_mult)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                block.append(
                    ResnetBlock(in_channels=block_in, out_channels=block_out, dropout=dropout)
                )
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            down = nn.Module()
            down.block, down.attn = block, attn
            if i_level != self.num_resolutions - 1:
                down.downsample = Downsample(block_in, resamp_with_conv)
                curr_res //= 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(in_channels=block_in, out_channels=block_in, dropout=dropout)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(in_channels=block_in, out_channels=block_in, dropout=dropout)
        self.norm_out = Normalize(block_in)
        out_channels = 2 * z_channels if double_z else z_channels
        self.conv_out = nn.Conv2d(block_in, out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """The encoder's output, before quant_conv."""
        # taming keeps every level's output in a list (a U-Net leftover); only the last is used
        h = self.conv_in(x)
        for i_level, down in enumerate(self.down):
            for i_block, block in enumerate(down.block):
                h = block(h)
                if len(down.attn) > 0:
                    h = down.attn[i_block](h)
            if i_level != self.num_resolutions - 1:
                h = down.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(nonlinearity(self.norm_out(h)))


class Decoder(nn.Module):
    """taming's Decoder: [b,z_channels,h,w] -> image [b,out_ch,h*f,w*f] in about [-1, 1]."""

    def __init__(
        self,
        *,
        ch: int,
        out_ch: int,
        ch_mult=(1, 2, 4, 8),
        num_res_blocks: int,
        attn_resolutions,
        dropout: float = 0.0,
        resamp_with_conv: bool = True,
        in_channels: int,
        resolution: int,
        z_channels: int,
        give_pre_end: bool = False,
        **ignorekwargs,
    ):
        """Build the layers from a taming `ddconfig` (extra keys are ignored, as taming does)."""
        super().__init__()
        self.ch = ch
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.resolution = resolution
        self.in_channels = in_channels
        self.give_pre_end = give_pre_end
        block_in = ch * ch_mult[-1]
        curr_res = resolution // 2 ** (self.num_resolutions - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(in_channels=block_in, out_channels=block_in, dropout=dropout)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(in_channels=block_in, out_channels=block_in, dropout=dropout)
        self.up = nn.ModuleList()
        for i_level in reversed(range(self.num_resolutions)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i_level]
            for _ in range(num_res_blocks + 1):
                block.append(
                    ResnetBlock(in_channels=block_in, out_channels=block_out, dropout=dropout)
                )
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(AttnBlock(block_in))
            up = nn.Module()
            up.block, up.attn = block, attn
            if i_level != 0:
                up.upsample = Upsample(block_in, resamp_with_conv)
                curr_res *= 2
            self.up.insert(0, up)  # prepended, so up[i] is level i, as in taming's keys
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, kernel_size=3, stride=1, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        """The decoded image (taming's range: about [-1, 1])."""
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for i_level in reversed(range(self.num_resolutions)):
            up = self.up[i_level]
            for i_block, block in enumerate(up.block):
                h = block(h)
                if len(up.attn) > 0:
                    h = up.attn[i_block](h)
            if i_level != 0:
                h = up.upsample(h)
        if self.give_pre_end:
            return h
        return self.conv_out(nonlinearity(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """taming's VectorQuantizer2 parameters: the codebook `embedding` (n_e x e_dim)."""

    def __init__(self, n_e: int, e_dim: int):
        """An n_e-entry codebook of e_dim vectors, initialised as taming does."""
        super().__init__()
        self.n_e, self.e_dim = n_e, e_dim
        self.embedding = nn.Embedding(n_e, e_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_e, 1.0 / n_e)


class GumbelQuantize(nn.Module):
    """taming's GumbelQuantize parameters: `proj` (features -> code logits) and `embed`."""

    def __init__(self, num_hiddens: int, embedding_dim: int, n_embed: int):
        """A 1x1 projection to n_embed logits and an n_embed x embedding_dim codebook."""
        super().__init__()
        self.embedding_dim, self.n_embed = embedding_dim, n_embed
        self.proj = nn.Conv2d(num_hiddens, n_embed, 1)
        self.embed = nn.Embedding(n_embed, embedding_dim)


class VQGAN(nn.Module):
    """A taming first-stage model (VQModel or GumbelVQ) as the image model uses it.

    Latents are continuous [b, e_dim, h, w] tensors that `quantize` snaps to the codebook;
    images are [b, 3, H, W] in [0, 1] with H = h * factor and W = w * factor.
    """

    def __init__(
        self,
        *,
        ddconfig: dict,
        n_embed: int,
        embed_dim: int,
        gumbel: bool = False,
        name: str = "vqgan",
    ):
        """Build the autoencoder of a taming config's `ddconfig`, `n_embed` and `embed_dim`."""
        super().__init__()
        self.name = name
        self.ddconfig = dict(ddconfig)
        self.is_gumbel = bool(gumbel)
        self.e_dim, self.n_codes = int(embed_dim), int(n_embed)
        self.factor = 2 ** (len(ddconfig["ch_mult"]) - 1)
        self.default_lr = 0.15 if self.is_gumbel else 0.1  # PyTTI's step sizes
        z_channels = ddconfig["z_channels"]
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        if self.is_gumbel:
            # as taming's GumbelVQ: proj reads quant_conv's output, built with z_channels inputs
            self.quantize = GumbelQuantize(z_channels, embed_dim, n_embed)
        else:
            self.quantize = VectorQuantizer(n_embed, embed_dim)
        self.quant_conv = nn.Conv2d(z_channels, embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)

    def __repr__(self) -> str:
        """Short description (the full module tree is hundreds of lines)."""
        kind = "gumbel" if self.is_gumbel else "vq"
        return f"VQGAN({self.name!r}, f={self.factor}, {self.n_codes} codes x {self.e_dim}, {kind})"

    @property
    def quantizer(self) -> VectorQuantizer | GumbelQuantize:
        """The quantiser's weights, the submodule registered as `quantize`.

        taming's keys name it `quantize` (quantize.embedding.weight, ...), and so does the
        image model's method: nn.Module keeps submodules in `_modules`, consulted only when
        ordinary lookup fails, so `self.quantize` is the method and the weights live here.
        """
        return self._modules["quantize"]

    @property
    def codebook(self) -> Tensor:
        """The codebook [n_codes, e_dim]."""
        quantizer = self.quantizer
        return quantizer.embed.weight if self.is_gumbel else quantizer.embedding.weight

    @property
    def device(self) -> torch.device:
        """The device the weights are on."""
        return self.codebook.device

    def _check_size(self, height: int, width: int) -> None:
        """Raise ValueError unless both sides are multiples of the downsampling factor."""
        if height % self.factor or width % self.factor:
            raise ValueError(
                f"VQGAN {shown(self.name)} needs image sides that are multiples of {self.factor}, "
                f"got {height}x{width}"
            )

    def encode(self, x: Tensor) -> Tensor:
        """The latent z [b,e_dim,H/f,W/f] of images x [b,3,H,W] in [0,1], before quantisation.

        VectorQuantizer models return quant_conv(encoder(2x-1)), what taming quantises. taming's
        GumbelVQ.encode returns a *sampled* quantised latent (F.gumbel_softmax adds Gumbel noise
        even in eval mode); here the Gumbel model returns the codebook vector of the most likely
        code (the argmax of quantize.proj's logits: the sample's limit at temperature 0), so
        encoding is deterministic and quantize(encode(x)) == encode(x).
        """
        self._check_size(*x.shape[-2:])
        z = self.quant_conv(self.encoder(x * 2 - 1))
        if self.is_gumbel:
            return self.from_codes(self.quantizer.proj(z).argmax(1))
        return z

    def _distances(self, z: Tensor) -> Tensor:
        """Squared distances [b*h*w, n_codes] from each latent vector to each code."""
        flat = z.movedim(1, -1).reshape(-1, self.e_dim)
        codebook = self.codebook.to(flat.dtype)
        # |z|^2 + |c|^2 - 2 z.c: one matmul, never the (b*h*w, n_codes, e_dim) differences
        return flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1) - 2 * flat @ codebook.T

    def codes(self, z: Tensor) -> Tensor:
        """Indices [b,h,w] (int64) of the codes nearest to the latent vectors of z [b,e_dim,h,w]."""
        b, _, h, w = z.shape
        with torch.no_grad():  # argmin has no gradient: skip building a graph for the distances
            return self._distances(z).argmin(1).view(b, h, w)

    def from_codes(self, codes: Tensor) -> Tensor:
        """The latent [b,e_dim,h,w] whose vectors are the codebook entries codes [b,h,w] name."""
        # a gather returns the codebook's values exactly; PyTTI's one_hot @ codebook does too in
        # float32, but not under TF32 matmuls on GPUs, and costs a (b*h*w x n_codes) matrix
        return F.embedding(codes, self.codebook).movedim(-1, 1)

    def quantize(self, z: Tensor) -> Tensor:
        """Nearest-code quantisation of z [b,e_dim,h,w]: the codes' values, z's gradient."""
        z_q = self.from_codes(self.codes(z)).detach().to(z.dtype)
        # forward: z_q exactly (z - z.detach() is exactly 0 for finite z); backward: identity
        # to z, nothing to the codebook: PyTTI's replace_grad(z_q, z) without a custom Function
        return z_q + (z - z.detach())

    def decode(self, z_q: Tensor) -> Tensor:
        """Images [b,3,h*f,w*f] from latents z_q, mapped from [-1,1] to [0,1] but not clamped."""
        return self.decoder(self.post_quant_conv(z_q)).add(1).div(2)

    def random_latent(self, h: int, w: int, generator: torch.Generator | None = None) -> Tensor:
        """A [1,e_dim,h,w] latent of uniformly random codes (PyTTI's rand_latent).

        The indices are drawn with `generator`, on its device, so a seed gives the same
        latent whichever device the model is on; the latent is on the model's device.
        """
        device = generator.device if generator is not None else torch.device("cpu")
        codes = torch.randint(self.n_codes, (1, h, w), generator=generator, device=device)
        return self.from_codes(codes.to(self.device))
