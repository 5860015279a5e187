"""Speed ideas measured against what pix2gan does (most not kept), so anyone can re-check them on their CPU.

    python tools/bench_speed_tried.py                     # all of them, fp32 (about 3 minutes on 2 cores)
    python tools/bench_speed_tried.py --precision bf16    # the same under CPU autocast (native-bf16 CPUs)
    python tools/bench_speed_tried.py --only compile      # one of them (the names are below)

- ``channels_last``: G and D in channels-last memory format; a training step (256² unet_256, batch 1).
- ``compile``: ``torch.compile`` of G and D; its compile time (the first 3 steps), its step, and the break-even step.
- ``subpixel``: every 4×4 stride-2 transposed convolution of unet_256 as one 2×2 convolution (4·Cout outputs, the
  same weights re-laid out) + interleaving, forward and backward, summed over the up path.
- ``small_matmul``: the down and up layers next to the bottleneck through oneDNN and as ``unfold`` + one matmul
  (matmul + ``fold``) with the weight in its own layout, layer by layer. Kept where it wins: the U-Net takes this
  route up to ``pix2gan.nets.unet.MATMUL_POSITIONS`` positions, which depend on the CPU (under bf16 autocast 256
  with AMX, else 64; in fp32 64 with AMX, else 1).
- ``outer_up``: the outermost transposed convolution (2 output channels) through oneDNN and as a matmul + ``fold``,
  at three batch sizes (not kept: it wins at batch 1 only).
- ``d_batch``: an instance-norm PatchGAN on real and fake as one batch instead of two calls (valid only without
  batch norm), forward and backward.
- ``png_level``: PNG encoding of 512² colour photos at zlib levels 6 (Pillow's default), 3 and 1, time and size;
  kept: the image commands write level 1 (``--png-compression``).
- ``inner_fp32`` (with ``--precision bf16``): the U-Net's levels 5–7 (maps of 8² and less, most of the weights) kept
  in fp32 under bf16 autocast; training steps in 4 interleaved rounds against the plain bf16 step.

The sub-pixel layer and the one-batch D are checked to compute the same function before they are timed (the matmul
route is by tests/test_nets.py). Times are medians of --iters calls after 3 warm-up calls, in one process, alone on
the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from common import make_trainer, median_ms, unet_layers  # tools/common.py

from pix2gan.nets import PatchDiscriminator
from pix2gan.runtime import cpu_description, tune_cpu


def trainer(args):
    return make_trainer(argparse.Namespace(train_size=256, train_batch=1, device="cpu", precision=args.precision))


def channels_last(args) -> str:
    base = median_ms(trainer(args).train_step, args.iters)
    t = trainer(args)
    t.G.to(memory_format=torch.channels_last)
    t.D.to(memory_format=torch.channels_last)
    alt = median_ms(t.train_step, args.iters)
    return f"channels_last: {alt:.0f} ms per step against {base:.0f} ms ({base / alt:.2f}×)"


def compiled(args) -> str:
    base = median_ms(trainer(args).train_step, args.iters)
    t = trainer(args)
    start = time.perf_counter()
    t.G.compile()
    t.D.compile()
    for _ in range(3):
        t.train_step()
    compile_s = time.perf_counter() - start
    alt = median_ms(t.train_step, args.iters)
    even = f"break-even after {compile_s / ((base - alt) / 1e3):.0f} steps" if alt < base else "never breaks even"
    return (f"torch.compile: {alt:.0f} ms per step against {base:.0f} ms ({base / alt:.2f}×) after {compile_s:.0f} s "
            f"of compiling and the first 3 steps; {even}")


def _phase_taps() -> torch.Tensor:
    """taps[a][r]: the 4×4 kernel row feeding output phase ``a`` from the 2×2 window's row ``r`` (input row
    i − 1 + a + r for output row 2i + a, padding 1)."""
    return torch.tensor([[3, 1], [2, 0]])


def subpixel_weight(w: torch.Tensor) -> torch.Tensor:
    """(Cin, Cout, 4, 4) transposed-convolution weight → (4·Cout, Cin, 2, 2), output groups ordered by phase."""
    taps = _phase_taps()
    cin, cout = w.shape[:2]
    wk = w[:, :, taps[:, None, :, None], taps[None, :, None, :]]  # (Cin, Cout, a, b, r, s)
    return wk.permute(2, 3, 1, 0, 4, 5).reshape(4 * cout, cin, 2, 2)


class SubPixelUp(torch.nn.Module):
    """A transposed convolution's weight re-laid out once for :func:`subpixel_up`."""

    def __init__(self, up: torch.nn.ConvTranspose2d):
        super().__init__()
        self.weight = torch.nn.Parameter(subpixel_weight(up.weight.detach()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return subpixel_up(x, self.weight)


def subpixel_up(x: torch.Tensor, w4: torch.Tensor) -> torch.Tensor:
    """``conv_transpose2d(x, w, stride=2, padding=1)`` as one 2×2 convolution and interleaving of the 4 phases."""
    b, _, h, w = x.shape
    cout = w4.shape[0] // 4
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), w4).view(b, 2, 2, cout, h + 1, w + 1)
    phases = [torch.stack([y[:, a, c, :, a:a + h, c:c + w] for c in range(2)], -1) for a in range(2)]
    return torch.stack(phases, -3).reshape(b, cout, 2 * h, 2 * w)


def module_ms(layer: torch.nn.Module, x: torch.Tensor, bf16: bool, iters: int) -> float:
    """Median ms of ``layer``'s forward and backward (input and weight gradients, set afresh each call)."""
    x = x.clone().requires_grad_()

    def step():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            y = layer(x)
        y.float().sum().backward()
    return median_ms(step, iters)


def subpixel(args) -> str:
    probe = torch.nn.ConvTranspose2d(6, 3, 4, 2, 1, bias=False).double()
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    err = (SubPixelUp(probe)(x) - probe(x)).abs().max().item()
    assert err < 1e-9, f"sub-pixel: not the same function (max difference {err})"
    total = [0.0, 0.0]
    for _, kind, c_in, c_out, side in unet_layers():
        if kind != "up":
            continue
        up, x = torch.nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), torch.randn(1, c_in, side, side)
        total[0] += module_ms(up, x, args.precision == "bf16", args.iters)
        total[1] += module_ms(SubPixelUp(up), x, args.precision == "bf16", args.iters)
    return (f"sub-pixel transposed convolutions: the up path {total[1]:.0f} ms against {total[0]:.0f} ms "
            f"({total[0] / total[1]:.2f}×; forward + backward, batch 1, 256²)")


def small_matmul(args) -> str:
    """The U-Net's Down / Up layers through oneDNN and through the matmul route, layer by layer (up to 1024
    positions), whatever ``MATMUL_POSITIONS`` says: the measurement behind its thresholds."""
    import pix2gan.nets.unet as unet

    parts = []
    for name, kind, c_in, c_out, side in unet_layers():
        positions = (side // 2) ** 2 if kind == "down" else side ** 2
        if positions <= 1024:
            layer = unet.Down(c_in, c_out) if kind == "down" else unet.Up(c_in, c_out)
            before, after = onednn_and_matmul_ms(layer, torch.randn(1, c_in, side, side), args)
            parts.append(f"{name} ({positions} px) {before:.1f} → {after:.1f} ms")
    return "oneDNN → matmul for the small maps (forward + backward; kept where it wins): " + "; ".join(parts)


def outer_up(args) -> str:
    """The outermost transposed convolution (2 output channels, the widest map) through oneDNN and as a matmul +
    ``fold``, at 256² batch 1 and 4 (unet_256) and at the quickstart setting (64², batch 16, widths 32)."""
    import pix2gan.nets.unet as unet

    parts = []
    for c_in, batch, side in ((128, 1, 128), (128, 4, 128), (64, 16, 32)):
        before, after = onednn_and_matmul_ms(unet.Up(c_in, 2), torch.randn(batch, c_in, side, side), args)
        parts.append(f"batch {batch}, {c_in}×{side}² → 2×{2 * side}²: {before:.1f} → {after:.1f} ms")
    return "oneDNN → matmul for the outermost up layer (forward + backward): " + "; ".join(parts)


def onednn_and_matmul_ms(layer, x: torch.Tensor, args) -> tuple[float, float]:
    """``layer``'s (a ``Down`` or ``Up``) forward + backward ms through oneDNN, then through the matmul route,
    whatever ``MATMUL_POSITIONS`` says (restored after)."""
    import pix2gan.nets.unet as unet

    saved, times = unet.MATMUL_POSITIONS, []
    try:
        for route in (0, 10**9):  # every layer through oneDNN, then every layer a matmul
            unet.MATMUL_POSITIONS = {"fp32": route, "bf16": route}
            times.append(module_ms(layer, x, args.precision == "bf16", args.iters))
    finally:
        unet.MATMUL_POSITIONS = saved
    return times[0], times[1]


def d_batch(args) -> str:
    parts = []
    for batch, size in ((1, 256), (16, 64)):
        D = PatchDiscriminator(3, 64, 3, norm="instance")
        real, fake = torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(D(torch.cat([real, fake])), torch.cat([D(real), D(fake)]))

        def two():
            with torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bf16"):
                loss = D(real).float().sum() + D(fake).float().sum()
            loss.backward()

        def one():
            with torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bf16"):
                loss = D(torch.cat([real, fake])).float().sum()
            loss.backward()
        a, b = median_ms(two, args.iters), median_ms(one, args.iters)
        parts.append(f"{size}² batch {batch}: {a:.0f} → {b:.0f} ms ({a / b:.2f}×)")
    return "D on real and fake as one batch (instance norm, forward + backward): " + "; ".join(parts)


def inner_fp32(args) -> str:
    if args.precision != "bf16":
        return "inner levels in fp32: only meaningful with --precision bf16"
    from pix2gan.nets.unet import UNetBlock

    base, mixed = trainer(args), trainer(args)
    block = mixed.G.model
    for _ in range(5):  # down to level 5 of unet_256 (the outermost block is level 0)
        block = next(m for m in block.model if isinstance(m, UNetBlock))
    inner_forward = block.forward

    def fp32_forward(x, z=None):
        with torch.autocast("cpu", enabled=False):
            return inner_forward(x.float(), z)
    block.forward = fp32_forward
    rounds = [(median_ms(base.train_step, args.iters), median_ms(mixed.train_step, args.iters)) for _ in range(4)]
    a, b = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    return (f"bf16 with levels 5–7 in fp32: {b:.0f} against {a:.0f} ms per step ({a / b:.2f}×; medians of 4 "
            f"interleaved rounds: " + ", ".join(f"{x:.0f}/{y:.0f}" for x, y in rounds) + ")")


def png_level(args) -> str:
    """PNG encoding time and size at zlib levels 6 (Pillow's default), 3 and 1 (``pix2gan.files.PNG_COMPRESSION``)
    for scikit-image's colour photos astronaut, chelsea and coffee at 512²: what the image commands spend per
    output beside the generator's forward."""
    import numpy as np
    import skimage.data
    from PIL import Image

    parts = []
    for name in ("astronaut", "chelsea", "coffee"):
        img = Image.fromarray(np.asarray(getattr(skimage.data, name)())).resize((512, 512), Image.LANCZOS)
        cells = []
        for level in (6, 3, 1):
            sizes = []
            ms = median_ms(lambda: sizes.append(encode_png(img, level)), args.iters)
            cells.append(f"level {level} {ms:.1f} ms, {sizes[-1] / 1e3:.0f} kB")
        parts.append(f"{name}: " + ", ".join(cells))
    return "PNG encoding, 512² colour photos: " + "; ".join(parts)


def encode_png(img, level: int) -> int:
    """Bytes of ``img`` as a PNG at zlib ``level``."""
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=level)
    return buf.tell()


TRIED = {"channels_last": channels_last, "compile": compiled, "subpixel": subpixel, "small_matmul": small_matmul,
         "outer_up": outer_up, "d_batch": d_batch, "inner_fp32": inner_fp32, "png_level": png_level}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--iters", type=int, default=12)
    p.add_argument("--only", default=",".join(TRIED), help="comma-separated: " + ", ".join(TRIED))
    args = p.parse_args()
    tune_cpu()
    torch.manual_seed(0)
    print(f"# {cpu_description()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {args.precision}",
          flush=True)
    for name in args.only.split(","):
        if name not in TRIED:
            p.error(f"--only: unknown {name!r} (one of {', '.join(TRIED)})")
        print(TRIED[name](args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
