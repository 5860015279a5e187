"""pix2pix U-Net generator, built from one recursive block, for any H×W."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pix2gan.runtime import cpu_has_amx

NORMS = ("batch", "instance", "none")
INJECT = ("input", "all")  # where a latent code enters the U-Net
UPSAMPLE = ("transposed", "resize", "pixelshuffle")  # how the decoder doubles its maps
#: On the CPU a 4×4 stride-2 layer whose small side (batch × the down layer's output or the up layer's input pixels)
#: has at most this many positions runs as one matmul with its weight in its own layout: next to the bottleneck the
#: weights are large and the maps tiny, and oneDNN re-lays out the weight on every call. The thresholds are measured
#: per CPU class (docs/speed.md); CPUs not measured get the "other" ones.
MATMUL_POSITIONS_BY_CPU = {"amx": {"fp32": 64, "bf16": 256}, "other": {"fp32": 1, "bf16": 64}}
MATMUL_POSITIONS = MATMUL_POSITIONS_BY_CPU["amx" if cpu_has_amx() else "other"]


def _as_matmul(x: Tensor, positions: int) -> bool:
    if x.device.type != "cpu" or torch.compiler.is_exporting():
        return False
    bf16 = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    return positions <= MATMUL_POSITIONS["bf16" if bf16 else "fp32"]


class Down(nn.Conv2d):
    """4×4 stride-2 convolution, padding 1: ``(B, Cin, H, W) → (B, Cout, H/2, W/2)`` (H, W even). Small maps on the
    CPU (:data:`MATMUL_POSITIONS`) go through ``unfold`` + one matmul: the same function and gradients as
    ``nn.Conv2d``, whose parameter names and shapes it keeps."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 4, 2, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        if h % 2 or w % 2 or not _as_matmul(x, b * (h // 2) * (w // 2)):
            return super().forward(x)
        y = (self.weight.flatten(1) @ F.unfold(x, 4, padding=1, stride=2)).view(b, -1, h // 2, w // 2)
        return y if self.bias is None else y + self.bias.to(y.dtype)[:, None, None]


class Up(nn.ConvTranspose2d):
    """4×4 stride-2 transposed convolution, padding 1: ``(B, Cin, H, W) → (B, Cout, 2H, 2W)``. Small maps on the CPU
    (:data:`MATMUL_POSITIONS`) go through one matmul + ``fold``: the same function and gradients as
    ``nn.ConvTranspose2d``, whose parameter names and shapes it keeps."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 4, 2, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        if not _as_matmul(x, b * h * w):
            return super().forward(x)
        cols = x.flatten(2).transpose(1, 2) @ self.weight.flatten(1)  # (B, H·W, Cout·16)
        y = F.fold(cols.transpose(1, 2), (2 * h, 2 * w), 4, padding=1, stride=2)
        return y if self.bias is None else y + self.bias.to(y.dtype)[:, None, None]


class ResizeUp(nn.Module):
    """×2 bilinear resize, then a 3×3 convolution (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"):
    ``(B, Cin, H, W) → (B, Cout, 2H, 2W)``. Every output pixel is made by the same weights from evenly spaced
    inputs, so it cannot paint a period-2 grid the way a stride-2 transposed convolution's uneven overlap does."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


#: 1-D ×2 bilinear resize (align_corners=False) as a polyphase filter: row ``q + 1`` holds the weights of
#: ``x[i-1], x[i], x[i+1]`` in the resized ``u[2i + q]``, q = -1 … 2 (edges: x replicated, as the resize clamps).
_HALF_STEP = torch.tensor([[.75, .25, 0.], [.25, .75, 0.], [0., .75, .25], [0., .25, .75]], dtype=torch.float64)


class FoldedResizeUp(nn.Module):
    """:class:`ResizeUp` for inference, the resize folded into the convolution: one 3×3 convolution to ``4 · Cout``
    channels at the input's resolution (each output sub-pixel's kernel is the 3×3 kernel composed with the
    bilinear weights), then a ×2 pixel shuffle; ``(B, Cin, H, W) → (B, Cout, 2H, 2W)``. The same function as the
    :class:`ResizeUp` it is made from, to float rounding, at the same multiply-adds but without the resized map:
    on a CPU the outer levels (many pixels, few output channels) run several times faster.

    The folded convolution sees the resized map as if replicated one pixel beyond its edge, where the original
    convolution sees zeros; the outermost ring of output pixels is corrected by subtracting what the replicated
    ring adds (1-D convolutions of the edge rows and columns, which the resize leaves as 1-D resizes of the input's
    edges)."""

    def __init__(self, up: ResizeUp):
        super().__init__()
        self.conv = up.conv  # the original weights: the same state_dict as the ResizeUp
        k = up.conv.weight.detach().double()  # (Cout, Cin, 3, 3)
        phases = torch.stack([_HALF_STEP[0:3], _HALF_STEP[1:4]]).to(k.device)  # (phase, tap d, input offset t)
        w = torch.einsum("pdt,ocde,qes->opqcts", phases, k, phases)  # (Cout, 2, 2, Cin, 3, 3): pixel shuffle's order
        self.register_buffer("folded_weight", w.flatten(0, 2).to(up.conv.weight.dtype),
                             persistent=False)
        bias = None if up.conv.bias is None else up.conv.bias.detach().repeat_interleave(4)
        self.register_buffer("folded_bias", bias, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        y = F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.folded_weight,
                                     self.folded_bias), 2)
        k = self.conv.weight.to(y.dtype)  # (Cout, Cin, 3, 3)
        # the resized map's edge rows (columns) are the input's edge rows (columns) resized in 1-D
        rows, cols = _resized_edges(x, 2), _resized_edges(x, 3)  # (B, 2, Cin, 2W), (B, 2, Cin, 2H)
        # what the replicated ring adds: the kernel's outer row (column) over the replicated edge
        pad = lambda t: F.pad(t, (1, 1), mode="replicate")  # noqa: E731
        y[..., 0, :] -= F.conv1d(pad(rows[:, 0]), k[:, :, 0, :])
        y[..., -1, :] -= F.conv1d(pad(rows[:, 1]), k[:, :, 2, :])
        y[..., :, 0] -= F.conv1d(pad(cols[:, 0]), k[:, :, :, 0])
        y[..., :, -1] -= F.conv1d(pad(cols[:, 1]), k[:, :, :, 2])
        # the corner taps were taken away twice (once with the row, once with the column): add them back once
        for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
            y[..., i, j] += (x[..., i, j][:, None, :] * k[None, :, :, 2 * (i < 0), 2 * (j < 0)]).sum(-1)
        return y


def _resized_edges(x: Tensor, dim: int) -> Tensor:
    """The first and last rows (``dim`` 3: columns) of ``x`` ``(B, C, H, W)`` resized ×2 in 1-D as the bilinear
    resize does them: ``(B, 2, C, 2W)`` (``(B, 2, C, 2H)``)."""
    edges = torch.stack([x.select(dim, 0), x.select(dim, -1)], 1)  # (B, 2, C, L)
    resized = F.interpolate(edges.flatten(0, 1), scale_factor=2.0, mode="linear", align_corners=False)
    return resized.unflatten(0, edges.shape[:2])


def fold_resize_ups(module: nn.Module, max_out_channels: int = 8) -> nn.Module:
    """``module`` with each :class:`ResizeUp` inside of at most ``max_out_channels`` outputs (a U-Net's output
    layer: a colorizer's 2) replaced by its :class:`FoldedResizeUp`, in place, for inference (the folded weights
    are made from the weights as they are now; the state_dict stays the same); returns ``module``. Only those: on the CPUs measured (docs/speed.md) the folded layer is
    ~3× faster where the direct convolution has few outputs over many pixels, and no faster on the wider inner
    levels."""
    for name, child in module.named_children():
        if isinstance(child, ResizeUp) and child.conv.out_channels <= max_out_channels:
            setattr(module, name, FoldedResizeUp(child))
        else:
            fold_resize_ups(child, max_out_channels)
    return module


class SubPixelUp(nn.Module):
    """Sub-pixel convolution (Shi et al. 2016): a 3×3 convolution to ``4 · Cout`` channels, then a ×2 pixel
    shuffle: ``(B, Cin, H, W) → (B, Cout, 2H, 2W)``. :meth:`icnr_` (Aitken et al. 2017, as DeOldify) makes the four
    sub-pixels of each output channel start equal, so training starts from nearest-neighbour upsampling, free of
    checkerboard."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4 * out_channels, 3, 1, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv(x), 2)

    @torch.no_grad()
    def icnr_(self) -> None:
        """ICNR initialisation in place: each output channel's four sub-pixel kernels (pixel shuffle's channels
        ``4c … 4c + 3``) and biases become copies of the first."""
        for p in (self.conv.weight, self.conv.bias):
            if p is not None:
                p.copy_(p[::4].repeat_interleave(4, 0))


def up_layer(kind: str, in_channels: int, out_channels: int, bias: bool = True) -> nn.Module:
    """The decoder's ×2 upsampling layer by name (:data:`UPSAMPLE`)."""
    layers = {"transposed": Up, "resize": ResizeUp, "pixelshuffle": SubPixelUp}
    if kind not in layers:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE)}, got {kind!r}")
    return layers[kind](in_channels, out_channels, bias=bias)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name: ``batch``, ``instance`` (affine, no running stats) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {kind!r}")


class UNetBlock(nn.Module):
    """One level of the U: ``x → [x, up(inner(down(x)))]`` (the skip is the concatenation).

    Spatial size is halved by ``down`` (4×4 conv, stride 2) and restored by ``up`` (:func:`up_layer`: pix2pix's 4×4
    transposed conv, stride 2, or a resize or sub-pixel convolution).
    An odd side is padded by one replicated row/column at the bottom/right before ``down`` and the result cropped
    back, so every level takes any size and the cost stays proportional to the pixels. Sides are also padded up to
    2 at the innermost level and 4 elsewhere, so no norm layer ever sees a 1×1 map (batch norm with batch 1 and
    instance norm cannot train on one).
    The innermost level has no inner block and no norm on its down path; the outermost has no skip and ends in tanh.
    """

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, *, in_channels: int | None = None,
                 outermost: bool = False, norm: str = "batch", dropout: float = 0.0, latent: int = 0,
                 code_start: int = 0, upsample: str = "transposed"):
        super().__init__()
        in_channels = outer if in_channels is None else in_channels
        bias = norm != "batch"  # a bias right before batch norm is wasted
        down = Down(in_channels + latent, inner, bias=bias)
        up_in = inner if sub is None else inner * 2
        if outermost:
            up = up_layer(upsample, up_in, outer)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif sub is None:  # innermost
            up = up_layer(upsample, up_in, outer, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer)]
        else:
            up = up_layer(upsample, up_in, outer, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner), sub,
                      nn.ReLU(True), up, norm_layer(norm, outer)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.outermost = outermost
        self.min_side = 2 if sub is None else 4
        self.latent = latent  # code channels tiled onto this level's input (0: none) ...
        self.code_start = code_start  # ... taken from the code vector from here on
        self.down_index = 0 if outermost else 1  # where the down convolution sits in self.model
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        h, w = x.shape[-2:]
        ph = torch.sym_max(self.min_side, h + h % 2) - h
        pw = torch.sym_max(self.min_side, w + w % 2) - w
        # exported (ONNX), H and W are symbols: pad and crop by computed amounts (zero for even sides), no branch
        padded = torch.compiler.is_exporting() or ph or pw
        if padded:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        if z is None:
            y = self.model(x)  # (the first LeakyReLU works in place: the skip below carries its output, as pix2pix)
        else:
            y = self._forward_with_code(x, z)
        if not self.outermost:
            y = torch.cat([x, y], 1)
        return y[..., :h, :w] if padded else y

    def _forward_with_code(self, x: Tensor, z: Tensor) -> Tensor:
        """The layers of ``self.model`` in order, this level's part of the code ``z`` ``(B, Z)`` tiled over H×W and
        concatenated to the down convolution's input where this level takes it, and the whole code handed to the
        inner block."""
        y = x
        for layer in self.model:
            if isinstance(layer, UNetBlock):
                y = layer(y, z)
                continue
            if self.latent and layer is self.model[self.down_index]:
                part = z[:, self.code_start:self.code_start + self.latent, None, None]
                y = torch.cat([y, part.to(y.dtype).expand(-1, -1, *y.shape[-2:])], 1)
            y = layer(y)
        return y


class UNet(nn.Module):
    """pix2pix U-Net generator.

    Args:
        in_channels: channels of the condition (1 for colorization's L).
        out_channels: channels of the output (2 for colorization's ab).
        depth: number of stride-2 levels; the bottleneck is ``H / 2**depth`` (pix2pix ``unet_256`` is depth 8).
        ngf: channels of the outermost level; level ``i`` has ``ngf * min(2**i, 8)``.
        norm: ``batch``, ``instance`` or ``none``.
        dropout: dropout probability on the up path of the (at most three) levels just outside the innermost one
            whose width is ``8 * ngf`` in and out, as pix2pix (``unet_256``: three levels, ``unet_128``: two).
        latent_dim: length Z of a latent code ``z`` (0: none, pix2pix's G). The code is tiled over H×W and
            concatenated to the input of the outermost level (``inject="input"``) or of every level (``"all"``),
            as BicycleGAN's ``G_Unet_add_to_input`` / ``G_Unet_add_all``.
        reference_dim: length of a colour-hint model's reference vector (:mod:`pix2gan.hints`; 0: none), tiled and
            concatenated to the innermost level's input, where every output pixel sees it (iColor's global hint).
        prepare: a module without parameters applied to the input first (a hint model's
            :class:`~pix2gan.hints.HintFill`); ``in_channels`` then counts the channels it gives.
        upsample: the decoder's ×2 layers (:data:`UPSAMPLE`): ``transposed`` (pix2pix), ``resize`` or
            ``pixelshuffle`` (no checkerboard; :func:`up_layer`).

    Input ``(B, in_channels, H, W)`` of any H, W ≥ 1 in [-1, 1]; output ``(B, out_channels, H, W)`` in [-1, 1].
    Odd sides are padded by one pixel at the level where they occur (see :class:`UNetBlock`), not the whole image
    to a multiple of ``2**depth``: a 128² image costs a quarter of a 256² one with ``unet_256``, not the same.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, depth: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: float = 0.5, latent_dim: int = 0, inject: str = "input",
                 reference_dim: int = 0, prepare: nn.Module | None = None, upsample: str = "transposed"):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        if inject not in INJECT:
            raise ValueError(f"inject must be one of {', '.join(INJECT)}, got {inject!r}")
        norm_layer(norm, 1)  # validate the name early
        self.depth, self.latent_dim, self.reference_dim = depth, latent_dim, reference_dim
        self.prepare = prepare
        inner_z = latent_dim if inject == "all" else 0
        width = [ngf * min(2 ** i, 8) for i in range(depth)]
        # the code vector is (z, reference): the innermost level takes its part of z and the reference
        block = UNetBlock(width[depth - 2], width[depth - 1], None, norm=norm, latent=inner_z + reference_dim,
                          code_start=latent_dim - inner_z, upsample=upsample)
        for i in range(depth - 2, 0, -1):  # level i maps width[i-1] channels to width[i] and back
            with_dropout = dropout if depth - 1 - i <= 3 and width[i - 1] == width[i] else 0.0
            block = UNetBlock(width[i - 1], width[i], block, norm=norm, dropout=with_dropout, latent=inner_z,
                              upsample=upsample)
        self.model = UNetBlock(out_channels, ngf, block, in_channels=in_channels, outermost=True, norm=norm,
                               latent=latent_dim, upsample=upsample)

    def forward(self, x: Tensor, z: Tensor | None = None, reference: Tensor | None = None) -> Tensor:
        """``x`` ``(B, in_channels, H, W)``, ``z`` ``(B, latent_dim)`` (a model with a latent code; None: the prior's
        mean, zeros), ``reference`` ``(B, reference_dim)`` (a hint model; None: no reference, zeros) →
        ``(B, out_channels, H, W)``."""
        if self.prepare is not None:
            x = self.prepare(x)
        if self.latent_dim == 0 and self.reference_dim == 0:
            return self.model(x)
        parts = []
        for name, v, dim in (("z", z, self.latent_dim), ("reference", reference, self.reference_dim)):
            if dim == 0:
                continue
            if v is None:
                v = x.new_zeros(x.shape[0], dim)
            if not torch.compiler.is_exporting() and v.shape != (x.shape[0], dim):
                raise ValueError(f"{name} must be ({x.shape[0]}, {dim}), got {tuple(v.shape)}")
            parts.append(v)
        return self.model(x, parts[0] if len(parts) == 1 else torch.cat(parts, 1))
