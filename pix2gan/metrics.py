"""Image metrics on batches: fidelity (PSNR, SSIM, L1), blur and colour, and prediction / ground-truth ratios.

Unless a function says otherwise, images are ``(B, C, H, W)`` float tensors in [0, 1] (C = 1 gray or 3 sRGB) and a
metric returns one value per image, shape ``(B,)``. Full-reference metrics compare a prediction with its target;
no-reference ones (sharpness, colourfulness) are also reported as ``prediction / ground truth`` ratios: 1.0 means as
sharp / as colourful as reality, and an L2-blurred prediction shows as a ratio below 1.
"""

from __future__ import annotations

import kornia
import numpy as np
import skimage.measure
import torch
from torch import Tensor


def _check(img: Tensor) -> None:
    if img.dim() != 4 or img.shape[1] not in (1, 3):
        raise ValueError(f"expected images (B, 1 or 3, H, W), got shape {tuple(img.shape)}")


def gray(img: Tensor) -> Tensor:
    """``(B, 3, H, W)`` sRGB → ``(B, 1, H, W)`` luma (Rec. 601 weights); gray input is returned as is."""
    _check(img)
    return img if img.shape[1] == 1 else kornia.color.rgb_to_grayscale(img)


# ------------------------------------------------------------------------------------------------ full reference
def psnr(pred: Tensor, target: Tensor, data_range: float) -> Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range² / MSE)`` per image (inf for identical images)."""
    mse = (pred - target).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range ** 2 / mse)


def ssim(pred: Tensor, target: Tensor, data_range: float) -> Tensor:
    """Structural similarity (Wang et al. 2004: 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03), mean over
    the valid region and channels, per image. Equals ``skimage.metrics.structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``."""
    return kornia.metrics.ssim(pred, target, 11, max_val=data_range, padding="valid").flatten(1).mean(1)


def l1(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error per image."""
    return (pred - target).abs().flatten(1).mean(1)


def sharpness_difference(pred: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Mathieu et al. 2016's sharpness difference in dB (higher: the prediction's gradients match the target's).

    ``10 log10(data_range² / mean |(|∂ᵢp| + |∂ⱼp|) − (|∂ᵢt| + |∂ⱼt|)|)`` on the gray images, one-pixel differences.
    """
    def grads(x):
        x = gray(x)
        di = (x[..., 1:, :-1] - x[..., :-1, :-1]).abs()
        dj = (x[..., :-1, 1:] - x[..., :-1, :-1]).abs()
        return di + dj

    err = (grads(pred) - grads(target)).abs().flatten(1).mean(1)
    return 10 * torch.log10(data_range ** 2 / err)


# ------------------------------------------------------------------------------------------------ blur (no reference)
def laplacian_variance(img: Tensor) -> Tensor:
    """Variance of the 3×3 Laplacian of the gray image (higher: sharper)."""
    return kornia.filters.laplacian(gray(img), 3, normalized=False).flatten(1).var(1)


def gradient_magnitude(img: Tensor) -> Tensor:
    """Mean Sobel gradient magnitude of the gray image (higher: sharper)."""
    g = kornia.filters.spatial_gradient(gray(img), "sobel", normalized=True)
    return g.pow(2).sum(2).sqrt().flatten(1).mean(1)


def high_frequency_fraction(img: Tensor, cutoff: float = 0.5) -> Tensor:
    """Fraction of the gray image's spectral power (DC excluded) at radial frequencies beyond ``cutoff`` × Nyquist
    (higher: more fine detail)."""
    x = gray(img)[:, 0]
    x = x - x.mean((-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2)
    fy = torch.fft.fftfreq(x.shape[-2], device=x.device).abs()[:, None]
    fx = torch.fft.fftfreq(x.shape[-1], device=x.device).abs()[None, :]
    radius = torch.sqrt(fy ** 2 + fx ** 2) / 0.5  # 1.0 = Nyquist along an axis
    high = (power * (radius > cutoff)).flatten(1).sum(1)
    return high / power.flatten(1).sum(1).clamp_min(1e-12)


def blur_effect(img: Tensor) -> Tensor:
    """``skimage.measure.blur_effect`` (Crété-Roffet et al. 2007) of the gray image, in [0, 1]: higher is blurrier."""
    g = gray(img)[:, 0].detach().cpu().double().numpy()
    return torch.tensor([skimage.measure.blur_effect(x) for x in g], dtype=torch.float32)


# ------------------------------------------------------------------------------------------------ colour
def colourfulness(img: Tensor) -> Tensor:
    """Hasler & Süsstrunk 2003 colourfulness M3 on sRGB scaled to 0–255: with rg = R − G (signed) and
    yb = ½(R + G) − B, ``√(σ_rg² + σ_yb²) + 0.3 √(μ_rg² + μ_yb²)``. A gray image scores 0."""
    _check(img)
    if img.shape[1] == 1:
        return torch.zeros(img.shape[0], device=img.device)
    r, g, b = (img * 255).unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    std = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mean = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return std + 0.3 * mean


def chroma(img: Tensor) -> Tensor:
    """Mean CIE Lab chroma √(a² + b²) per image (0 for gray)."""
    _check(img)
    if img.shape[1] == 1:
        return torch.zeros(img.shape[0], device=img.device)
    lab = kornia.color.rgb_to_lab(img)
    return lab[:, 1:].pow(2).sum(1).sqrt().flatten(1).mean(1)


def ab_change(prev: Tensor, cur: Tensor) -> Tensor:
    """Frame-to-frame colour change: mean |Δa| + |Δb| (CIE Lab units) between consecutive sRGB frames
    ``(B, 3, H, W)`` in [0, 1], per frame pair. A colorized video flickers when this exceeds the real colour
    video's (:func:`flicker_ratio`)."""
    _check(prev)
    _check(cur)
    d = kornia.color.rgb_to_lab(cur)[:, 1:] - kornia.color.rgb_to_lab(prev)[:, 1:]
    return d.abs().sum(1).flatten(1).mean(1)


def flicker_ratio(output_changes: list[float], truth_changes: list[float]) -> float:
    """Mean :func:`ab_change` of a colorized video over that of the real colour video of the same frames: 1 = it
    changes colour as much as reality does, above 1 = flicker."""
    return float(np.mean(output_changes) / np.mean(truth_changes))


def sample_spread(samples: Tensor, ab: bool = False) -> float:
    """How far apart several answers to the same inputs are: the mean over pairs of samples of the mean per-pixel
    distance. ``samples`` ``(S ≥ 2, B, 3, H, W)`` sRGB in [0, 1]; ``ab``: Euclidean distance in the CIE Lab ab
    plane (colour only; Lab units), else mean absolute difference of the [0, 1] pixels. 0: every sample alike."""
    s = samples.float()
    if ab:
        s = kornia.color.rgb_to_lab(s.flatten(0, 1))[:, 1:].unflatten(0, s.shape[:2])
    pairs = [(i, j) for i in range(s.shape[0]) for j in range(i + 1, s.shape[0])]
    dist = [((s[i] - s[j]).pow(2).sum(1).sqrt() if ab else (s[i] - s[j]).abs().mean(1)).mean() for i, j in pairs]
    return torch.stack(dist).mean().item()


#: The periods (pixels) :func:`ripple` looks at: those a U-Net's stride-2 upsampling layers can leave behind.
RIPPLE_PERIODS = (2, 4, 8, 16)


def _plane_residual(x: Tensor) -> Tensor:
    """``x`` ``(..., T, T)`` minus its least-squares plane ``c + u·row + v·column`` per tile."""
    t = x.shape[-1]
    r = torch.linspace(-1, 1, t, dtype=x.dtype, device=x.device)
    basis = torch.stack([torch.ones(t, t, dtype=x.dtype, device=x.device), r[:, None].expand(t, t),
                         r[None, :].expand(t, t)]).flatten(1)  # (3, T²), orthogonal rows
    basis = basis / basis.norm(dim=1, keepdim=True)
    flat = x.flatten(-2)
    return (flat - (flat @ basis.T) @ basis).unflatten(-1, (t, t))


def ripple(img: Tensor, tile: int = 32, flat: float = 1.0) -> Tensor:
    """Periodic colour ripple on smooth regions — the stripes and checkerboard a transposed-convolution decoder
    paints into a flat sky. ``img`` sRGB in [0, 1] is cut into ``tile``² tiles (the bottom/right remainder left
    out); a tile is smooth when its CIE L (0–100) departs from its best-fit plane by at most ``flat`` (RMS). In each
    smooth tile, a and b less their best-fit plane go through a 2-D FFT, and the power at the frequencies of
    :data:`RIPPLE_PERIODS` (stripes along either axis and their checkerboard products: both frequencies in
    {0, T/p}, not both 0) is summed over a and b as a mean square in (Lab units)². Per image: the mean over its
    smooth tiles, 0 without any. Reported as prediction / truth, where 1 is as rippled as reality."""
    _check(img)
    b, _, h, w = img.shape
    if img.shape[1] == 1 or h < tile or w < tile:
        return torch.zeros(b, device=img.device)
    lab = kornia.color.rgb_to_lab(img[..., :h - h % tile, :w - w % tile].double())
    tiles = lab.unfold(2, tile, tile).unfold(3, tile, tile)  # (B, 3, nh, nw, T, T)
    smooth = _plane_residual(tiles[:, 0]).pow(2).mean((-2, -1)).sqrt() <= flat  # (B, nh, nw)
    power = torch.fft.fft2(_plane_residual(tiles[:, 1:])).abs().pow(2) / tile ** 4  # (B, 2, nh, nw, T, T)
    bins = [0] + sorted({tile // p for p in RIPPLE_PERIODS if tile % p == 0 and p < tile})
    mask = torch.zeros(tile, tile, dtype=torch.bool, device=img.device)
    for i in bins:
        for j in bins:
            mask[i, j] = mask[-i, j] = mask[i, -j] = mask[-i, -j] = (i, j) != (0, 0)
    per_tile = (power * mask).sum((1, -2, -1))  # (B, nh, nw): Parseval, the mean square of these components
    count = smooth.flatten(1).sum(1)
    total = (per_tile * smooth).flatten(1).sum(1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total)).float()


#: No-reference figures, reported for predictions and as prediction / ground-truth ratios.
NO_REFERENCE = {
    "laplacian_var": laplacian_variance,
    "grad_mag": gradient_magnitude,
    "hf_fraction": high_frequency_fraction,
    "blur_effect": blur_effect,
    "colourfulness": colourfulness,
    "chroma": chroma,
    "ripple": ripple,
}

#: How to rank variants by a metric: "max", "min", or "one" (closest to 1.0 is best).
DIRECTION = {"psnr": "max", "ssim": "max", "l1": "min", "sharpness_diff": "max", "laplacian_var": "max",
             "grad_mag": "max", "hf_fraction": "max", "blur_effect": "min", "colourfulness": "max", "chroma": "max",
             "ripple": "min",
             **{f"{name}_ratio": "one" for name in NO_REFERENCE}}
#: The figures of several samples per input (``evaluate --samples``); ranked like the others, not validated on.
SAMPLE_DIRECTION = {"best_psnr": "max", "sample_spread": "max", "coverage": "max", "hue_hit_min": "max"}


def goodness(name: str, value: float) -> float:
    """``value`` of metric ``name`` on a scale where higher is better, by :data:`DIRECTION` (``one``: closeness to
    1). NaN stays NaN, so it never compares as better."""
    how = DIRECTION.get(name, SAMPLE_DIRECTION.get(name, "max"))
    return value if how == "max" else -value if how == "min" else -abs(value - 1)


def evaluate_images(pred: Tensor, target: Tensor) -> dict[str, float]:
    """Every metric, averaged over the batch, for predictions and targets in [0, 1] (same shape).

    No-reference figures come with ``<name>_ratio`` = mean(pred) / mean(target).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    pred, target = pred.float().clamp(0, 1), target.float().clamp(0, 1)
    out = {
        "psnr": psnr(pred, target, 1.0).mean().item(),
        "ssim": ssim(pred, target, 1.0).mean().item(),
        "l1": l1(pred, target).mean().item(),
        "sharpness_diff": sharpness_difference(pred, target, 1.0).mean().item(),
    }
    for name, fn in NO_REFERENCE.items():
        p, t = fn(pred).mean().item(), fn(target).mean().item()
        out[name] = p
        out[f"{name}_ratio"] = p / t if t > 0 else float("nan")
    return out

