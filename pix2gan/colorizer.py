"""Colorize images with a trained generator: the Python API behind ``pix2gan colorize``."""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.color
import torch
import torch.nn.functional as F
from PIL import Image

from pix2gan.checkpoint import load_checkpoint
from pix2gan.data.images import alpha_channel, pixels_u8, to_rgb_float
from pix2gan.data.video import SMOOTHING, transcode
from pix2gan.errors import Pix2GanError
from pix2gan.hints import (REFERENCE_DIM, Hints, Point, Steering, ab_bins, follow_points, follow_reference,
                           hint_map, lightness_palette, palette_colours, parse_hints, reference_vector, spreader_for)
from pix2gan.nets.latent import answer_codes
from pix2gan.propagate import Spreader
from pix2gan.runtime import on_device
from pix2gan.models import check_backend, for_backend, generator_from_state, pick_device, run_generator
from pix2gan.tasks import make_task
from pix2gan.tasks.colorize import ColorizeTask, detail_weight, lab_to_srgb_u8, lightness_u8

#: Colour points are followed at the image's resolution up to this short side, then the correction is upsampled
#: like the predicted colour (a sparse direct solve per image: about 0.8 s for a 1024 × 640 photo on this project's
#: 2-core AMD EPYC, growing faster than the pixel count — tools/bench_hints.py --timing).
SPREAD_SIZE = 256

#: :meth:`Colorizer.suggest` ranks the colours it may suggest with the network at this short side at most (one
#: forward pass per colour: at the bundled model's 320 a 1-megapixel photo took 5 s; at 128, 0.45 s).
SUGGEST_SIZE = 128

#: Working-size pixels of mirrored context around the network's input, cropped from its output: the U-Net's zero
#: padding painted a band of other colours along the edges, plainest at the top and left (the bundled model on a
#: plain gray wall: the outermost 2 pixels 6–10 CIE ab units off the interior's colour; 3.0 with 8 pixels of
#: context, 2.1 with 12, 1.6 with 16). The U-Net paper's overlap-tile strategy: the border's missing context is the
#: image mirrored. Hint maps get none (no points in the margin).
MIRROR = 16

#: The demonstration colorizer shipped in the package (fp16 generator + config; trained by
#: tools/make_default_colorizer.py).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default_colorizer.pt"


class Colorizer:
    """``Colorizer.from_checkpoint("run/checkpoint.pt")(pil_image) -> PIL.Image`` (RGB, or RGBA when the input had
    transparency), exactly the input's size.

    ab is predicted at the model resolution (short side ``size``, default the training scale ``load_size``) and
    recombined with the input's full-resolution L, so edges stay as sharp as the input. ``strength`` scales the
    predicted chroma: 0 gives the gray input back, 1 the colours as predicted, above 1 more saturated ones.
    ``fade_flat``: the guessed colours are kept where the photo has detail and faded towards gray over flat areas
    (skies, walls, out-of-focus backgrounds: :func:`~pix2gan.tasks.colorize.detail_weight`) before any hint is
    followed; the bundled model's file turns it on.

    A model trained with ``--latent-dim`` has several colourings for each input: ``colorizer(img, seed=s)`` (or a
    code ``z`` ``(Z,)``) picks one, :meth:`samples` gives several; seed ``s`` is the same colouring choice for every
    image. A one-answer model ignores both.

    ``backend``: ``fast`` converts 8-bit images through tables (:meth:`colorize_u8`); ``bf16`` does too, with the
    generator under bf16 autocast (CPUs with native bf16); ``torch`` is the reference path, PyTorch and kornia in
    float (:meth:`colorize_rgb`); ``auto`` (the default): bf16 where the CPU has it natively, else fast. All run the
    generator in PyTorch (docs/speed.md: why not onnxruntime or OpenVINO) and give the same colours (ΔE2000 0.05).
    """

    def __init__(self, generator: torch.nn.Module, size: int, device: torch.device | str = "cpu",
                 strength: float = 1.0, task: ColorizeTask | None = None, backend: str = "auto",
                 steer: Steering | None = Steering(), fade_flat: bool = False):
        self.G, self.device = on_device(generator, device)
        self.size = size
        self.strength = check_strength(strength)
        self.fade_flat = bool(fade_flat)
        self.task = task or ColorizeTask()
        self.backend = check_backend(backend, self.device)
        self.G = for_backend(self.G, self.backend)
        self.steer = steer  # how hints are followed after the network; None: its output as it is
        self.memo: Memo | None = None  # set (pix2gan serve): the colours before the points of the last images

    def replace(self, **settings) -> Colorizer:
        """This colorizer with some of its settings changed — ``size``, ``strength``, ``fade_flat``, ``steer`` —
        sharing its network (and memo)."""
        unknown = set(settings) - {"size", "strength", "fade_flat", "steer"}
        if unknown:
            raise TypeError(f"Colorizer.replace: no setting {', '.join(sorted(unknown))}")
        other = copy.copy(self)
        for name, value in settings.items():
            setattr(other, name, check_strength(value) if name == "strength" else value)
        return other

    @classmethod
    def default(cls, device: str = "auto", size: int | None = None, strength: float | None = None,
                backend: str = "auto", fade_flat: bool | None = None) -> Colorizer:
        """The demonstration colorizer shipped inside the package (see docs/default_colorizer.md); ``strength``
        and ``fade_flat`` default to the ones chosen for it on held-out photos."""
        if not DEFAULT_WEIGHTS.is_file():
            raise Pix2GanError(f"{DEFAULT_WEIGHTS}: the bundled colorizer is missing; train one with "
                               f"tools/make_default_colorizer.py, or pass --checkpoint")
        return cls.from_checkpoint(DEFAULT_WEIGHTS, device, size, strength=strength, backend=backend,
                                   fade_flat=fade_flat)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", size: int | None = None,
                        ema: bool = True, strength: float | None = None, backend: str = "auto",
                        fade_flat: bool | None = None) -> Colorizer:
        """From a checkpoint, best.pt or .safetensors; its EMA generator when it has one (``ema=False``: the raw
        one). ``size``, ``strength`` and ``fade_flat`` default to the file's own entries when it has them (the
        bundled model's, chosen on held-out photos), else to the training scale, 1 and off."""
        state = load_checkpoint(Path(path), task="colorize")
        G, cfg = generator_from_state(state, Path(path), ema)
        if strength is None:
            strength = float(state.get("strength", 1.0))
        if fade_flat is None:
            fade_flat = bool(state.get("fade_flat", False))
        return cls(G, size or int(state.get("size", cfg.load_size)), pick_device(device), strength, make_task(cfg),
                   backend, fade_flat=fade_flat)

    @property
    def latent_dim(self) -> int:
        """Length of the model's latent code (0: one colouring per input)."""
        return getattr(self.G, "latent_dim", 0)

    @property
    def takes_hints(self) -> bool:
        """Whether the model was trained with hint inputs (``pix2gan train --hints``)."""
        return self.task.hints

    def working_size(self, h: int, w: int, short: int | None = None) -> tuple[int, int]:
        """The (h, w) colour is predicted at for an ``h`` × ``w`` image: short side at the model's size (or
        ``short``); the long side at most 16 × that, so memory stays bounded for any aspect ratio (a 3×70000 strip
        is predicted at 1×1536 and its colour upsampled)."""
        short = short or self.size
        scale = min(short / min(h, w), 16 * short / max(h, w))
        return max(1, round(h * scale)), max(1, round(w * scale))

    def _ab(self, light: torch.Tensor, smoother: TemporalSmoother | None, z: torch.Tensor | None,
            seed: int, hints: Hints | None = None) -> torch.Tensor:
        """The predicted ab ``(1, 2, H, W)`` for the full-resolution ``light`` ``(1, 1, H, W)``: :meth:`_prior`,
        then the colour points followed (``self.memo``, when set, keeps the prior of the last images: the points
        change without the network running again)."""
        key = self._memo_key(light, z, seed, hints) if self.memo is not None and smoother is None else None
        ab = self.memo.get(key) if key is not None else None
        if ab is None:
            ab = self._prior(light, smoother, z, seed, hints)
            if key is not None:
                self.memo.put(key, ab)
        if hints is not None and hints.points and self.steer is not None:
            ab = self._follow_points(light, ab, hints.points)
        return ab

    def _memo_key(self, light: torch.Tensor, z, seed: int, hints: Hints | None) -> tuple | None:
        """What :meth:`_prior` depends on, as a key (None when it depends on the points: they go to the network)."""
        if hints is not None and hints.points and (self.steer is None or self.steer.points_to_network):
            return None
        return (_digest(light), _digest(z), seed, self.strength, self.size, self.fade_flat,
                _digest(hints.reference if hints else None), _digest(hints.palette if hints else None))

    def _prior(self, light: torch.Tensor, smoother: TemporalSmoother | None, z: torch.Tensor | None,
               seed: int, hints: Hints | None = None) -> torch.Tensor:
        """The colours before the points ``(1, 2, H, W)`` for the full-resolution ``light`` ``(1, 1, H, W)``:
        predicted at the model's size, faded over flat areas (``fade_flat``), moved into a reference's colours,
        scaled by the strength, smoothed over a video's frames, upsampled."""
        cond, extra = self._model_input(light, hints)
        code = answer_codes(self.G, z, seed)
        code = () if code is None else (code.to(self.device),)
        return self._after_network(cond, self._network(cond, *code, **extra), light, hints, smoother)

    def _network(self, cond: torch.Tensor, *code: torch.Tensor, **extra) -> torch.Tensor:
        """The network's ab ``(B, 2, h, w)`` for the model input ``cond`` ``(B, C, h, w)``, run on :data:`MIRROR`
        pixels of mirrored context on every side (fewer where a side is shorter), cropped back to ``h`` × ``w``."""
        h, w = cond.shape[-2:]
        ph, pw = min(MIRROR, h - 1), min(MIRROR, w - 1)
        pads = (pw, pw, ph, ph)
        wide = torch.cat([F.pad(cond[:, :1], pads, mode="reflect"), F.pad(cond[:, 1:], pads)], 1)
        return run_generator(self.G, self.backend, wide, *code, **extra)[..., ph:ph + h, pw:pw + w]

    def _after_network(self, cond: torch.Tensor, ab: torch.Tensor, light: torch.Tensor, hints: Hints | None = None,
                       smoother: TemporalSmoother | None = None) -> torch.Tensor:
        """The network's ``ab`` ``(1, 2, h, w)`` for the model input ``cond`` → the colours before the points
        ``(1, 2, H, W)`` at the size of ``light``: faded over flat areas (``fade_flat``), moved into a reference's
        colours, scaled by the strength, smoothed over a video's frames, upsampled."""
        if self.fade_flat:
            ab = ab * detail_weight(cond[:, :1].float())
        if hints is not None and hints.palette is not None and self.steer is not None:
            ab = follow_reference(cond[:, :1], ab, hints.palette, self.steer.reference_spread)
        ab = ab * self.strength
        if smoother is not None:
            ab = smoother(cond[:, :1], ab)
        return F.interpolate(ab, size=light.shape[-2:], mode="bilinear", align_corners=False)

    def _follow_points(self, light: torch.Tensor, ab: torch.Tensor, points) -> torch.Tensor:
        """``ab`` ``(1, 2, H, W)`` made to follow the colour ``points`` over the full-resolution ``light``
        (:func:`~pix2gan.hints.follow_points`), at the image's own resolution up to short side
        :data:`SPREAD_SIZE` (larger images: there, and the points' correction upsampled). With ``self.memo`` the
        solver's factorisation is kept per image: a further point costs one triangular solve."""
        h, w = light.shape[-2:]
        large = min(h, w) > SPREAD_SIZE or max(h, w) > 16 * SPREAD_SIZE
        small = self.working_size(h, w, SPREAD_SIZE) if large else (h, w)
        maps, keep = hint_map(points, (h, w), small).to(ab.device), self.steer.keep
        if small == (h, w):
            return follow_points(light, ab, maps, keep, self._spreader(light))
        down = dict(size=small, mode="bilinear", antialias=True, align_corners=False)
        light_s, ab_s = F.interpolate(light, **down), F.interpolate(ab, **down)
        fixed = follow_points(light_s, ab_s, maps, keep, self._spreader(light_s))
        return keep * ab + F.interpolate(fixed - keep * ab_s, size=(h, w), mode="bilinear", align_corners=False)

    def _spreader(self, light: torch.Tensor) -> Spreader | None:
        """The points' solver factorised for ``light`` ``(1, 1, h, w)``, kept in ``self.memo`` (None without one:
        a single image solves directly, which is cheaper than factorising for later points)."""
        if self.memo is None:
            return None
        key = ("spreader", _digest(light))
        found = self.memo.get(key)
        if found is None:
            found = spreader_for(light)
            self.memo.put(key, found)
        return found

    def hints(self, width: int, height: int, points=None, reference: Image.Image | None = None) -> Hints | None:
        """Hints for a ``width`` × ``height`` image: ``points`` (a hints document ``{"points": [...]}``, a list of
        its point objects, or :class:`~pix2gan.hints.Point` s) and a ``reference`` photo; None when neither is given.
        A one-line error when the model was trained without hint inputs or a point is invalid."""
        if points is None and reference is None:
            return None
        if not self.takes_hints:
            raise Pix2GanError("this model was trained without hint inputs (pix2gan train --hints): it cannot take "
                               "--hints or --reference")
        if isinstance(points, dict):
            points = parse_hints(points, width, height)
        elif points and not isinstance(points[0], Point):
            points = parse_hints({"points": list(points)}, width, height)
        if reference is None:
            return Hints(tuple(points or ()))
        rgb = torch.from_numpy(to_rgb_float(reference)).permute(2, 0, 1)[None]
        return Hints(tuple(points or ()), reference_vector(rgb, self.size), lightness_palette(rgb, self.size))

    def _model_input(self, light: torch.Tensor, hints: Hints | None,
                     short: int | None = None) -> tuple[torch.Tensor, dict]:
        """The full-resolution ``light`` ``(1, 1, H, W)`` at the model's size (or short side ``short``; with a hint
        model's hint maps: the condition) and the generator's keyword inputs (a hint model's reference)."""
        h, w = light.shape[-2:]
        small = self.working_size(h, w, short)
        cond = F.interpolate(light, size=small, mode="bilinear", antialias=True, align_corners=False).clamp(-1, 1)
        if not self.takes_hints:
            return cond, {}
        hints = hints or Hints()
        shown = hints.points if self.steer is None or self.steer.points_to_network else ()
        cond = self.task.with_hints(cond, hint_map(shown, (h, w), small).to(self.device))
        return cond, {} if hints.reference is None else {"reference": hints.reference.to(self.device)}

    @torch.inference_mode()
    def colorize_rgb(self, rgb: np.ndarray, smoother: TemporalSmoother | None = None,
                     z: torch.Tensor | None = None, seed: int = 0, hints: Hints | None = None) -> np.ndarray:
        """``(H, W, 3)`` float sRGB in [0, 1] (gray images have R = G = B) → ``(H, W, 3)`` uint8 colourised sRGB.
        ``smoother``: the video's running colour (see :class:`TemporalSmoother`); a latent model's colouring is
        the code ``z`` ``(Z,)`` when given, else colouring ``seed``; a hint model's ``hints`` (:meth:`hints`). The
        reference path (``backend="torch"``)."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].to(self.device)
        light = self.task.cond(x)[:, :1]
        ab = self._ab(light, smoother, z, seed, hints)
        return self.task.to_pixels(light, ab)[0].permute(1, 2, 0).cpu().numpy()

    @torch.inference_mode()
    def colorize_u8(self, pixels: np.ndarray, smoother: TemporalSmoother | None = None,
                    z: torch.Tensor | None = None, seed: int = 0, hints: Hints | None = None,
                    later: bool = False) -> np.ndarray | Callable[[], np.ndarray]:
        """:meth:`colorize_rgb` for 8-bit pixels, gray ``(H, W)`` or sRGB ``(H, W, 3)`` uint8, through the
        table-driven conversions (:func:`~pix2gan.tasks.colorize.lightness_u8`, ``lab_to_srgb_u8``): the same
        colours (an output level may differ by one) at a fraction of the full-resolution cost. ``later``: the last
        conversion (Lab → sRGB at full resolution) returned as a function to call, e.g. on another thread."""
        light = self._light_u8(pixels)
        convert = _srgb_u8_later(light, self._ab(light, smoother, z, seed, hints))
        return convert if later else convert()

    def _light_u8(self, pixels: np.ndarray) -> torch.Tensor:
        """Gray ``(H, W)`` or sRGB ``(H, W, 3)`` uint8 → L/50 − 1 ``(1, 1, H, W)`` on the model's device."""
        x = torch.from_numpy(np.require(pixels, requirements=["C", "W"])).to(self.device)  # (copied if read-only)
        return lightness_u8(x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None])

    def __call__(self, img: Image.Image, z: torch.Tensor | None = None, seed: int = 0, hints=None,
                 reference: Image.Image | None = None, later: bool = False) -> Image.Image | Callable[[], Image.Image]:
        """``img`` colourised; a latent model's colouring is ``z`` when given, else colouring ``seed``. A hint model
        (``pix2gan train --hints``) takes colour points ``hints`` (see :meth:`hints`; or a prepared
        :class:`~pix2gan.hints.Hints`) and a ``reference`` photo whose colours it should follow. ``later``: a
        function that finishes the image instead (the full-resolution conversion after the network: the folder
        pipeline runs it in its writer thread, beside the next image's network pass)."""
        if not isinstance(hints, Hints):
            hints = self.hints(*img.size, hints, reference)
        pixels = pixels_u8(img) if self.backend != "torch" else None
        if pixels is None:  # the reference path, and 16-bit or float images on any backend
            done = self.colorize_rgb(to_rgb_float(img), z=z, seed=seed, hints=hints)
            convert = lambda: done  # noqa: E731
        else:
            convert = self.colorize_u8(pixels, z=z, seed=seed, hints=hints, later=True)
        finish = _finisher(convert, img)
        return finish if later else finish()

    @torch.inference_mode()
    def many_later(self, imgs: list[Image.Image]) -> list[Callable[[], Image.Image]]:
        """``[self(img, later=True) for img in imgs]`` (no hints, colouring seed 0), the images of one working size
        through the network as one batch: 8-bit images on the fast and bf16 backends of a one-answer model (on a
        2-core CPU a batch of two costs ~15% less per image than two passes: docs/speed.md). Others one by one."""
        if self.backend == "torch" or self.latent_dim or self.memo is not None:
            return [self(img, later=True) for img in imgs]
        pixels = [pixels_u8(img) for img in imgs]
        lights = [None if p is None else self._light_u8(p) for p in pixels]
        conds = [None if light is None else self._model_input(light, None)[0] for light in lights]
        finishers: list = [None] * len(imgs)
        for i, img in enumerate(imgs):
            if conds[i] is None:
                finishers[i] = self(img, later=True)
            elif finishers[i] is None:  # it and the later ones of its size, in one pass
                same = [j for j in range(i, len(imgs)) if conds[j] is not None and conds[j].shape == conds[i].shape]
                ab = self._network(torch.cat([conds[j] for j in same]))
                for k, j in enumerate(same):
                    full = self._after_network(conds[j], ab[k:k + 1], lights[j])
                    finishers[j] = _finisher(_srgb_u8_later(lights[j], full), imgs[j])
        return finishers

    def prepare_points(self, img: Image.Image) -> None:
        """With ``self.memo``: factorise the colour points' solver for ``img`` now, so that its first point costs a
        triangular solve (``pix2gan serve`` does this after showing a photo, before anyone clicks). Nothing to do
        without a memo or for a model without hint inputs."""
        if self.memo is not None and self.takes_hints and self.steer is not None:
            self(img, hints=Hints((Point(0, 0, (128, 128, 128)),)))  # the same path as a click: the same solver

    def samples(self, img: Image.Image, n: int, seed: int = 0, hints=None,
                reference: Image.Image | None = None) -> list[Image.Image]:
        """Colourings ``seed``, ``seed + 1``, ... ``seed + n − 1`` of ``img`` (a one-answer model: ``n`` times the
        same), with the same ``hints`` and ``reference``."""
        if not isinstance(hints, Hints):
            hints = self.hints(*img.size, hints, reference)
        return [self(img, seed=seed + i, hints=hints) for i in range(n)]

    @torch.inference_mode()
    def suggest(self, img: Image.Image, x: int, y: int, k: int = 8, hints=None) -> list[str]:
        """Up to ``k`` colours (``#rrggbb``, at the pixel's own lightness) the model finds plausible at column ``x``,
        row ``y`` of ``img``, most likely first, no two closer than ΔE2000 10 (a colour picker's suggestions).

        First the colour the model paints there (with ``hints``, if any; faded like the image where ``fade_flat``).
        Then, for a hint model, every colour of the reference histogram's grid that exists at that lightness, told
        to the model as the whole photo's palette (a reference of that one colour): colours the model readily paints
        at this pixel when told so come first, ranked by how close it gets to them (a sky turns blue or gray easily,
        green hardly). For a latent model: its answers' colours at the pixel, the most frequent first. Otherwise
        the one colour."""
        w, h = img.size
        if not (0 <= x < w and 0 <= y < h):
            raise Pix2GanError(f"suggest: ({x}, {y}) is outside the {w}×{h} image")
        if not isinstance(hints, Hints):
            hints = self.hints(w, h, hints)
        rgb = torch.from_numpy(to_rgb_float(img)).permute(2, 0, 1)[None].to(self.device)
        light = self.task.cond(rgb)[:, :1]
        cond, extra = self._model_input(light, hints)
        at = lambda t: t[:, :, min(int((y + 0.5) * t.shape[-2] / h), t.shape[-2] - 1),  # noqa: E731
                         min(int((x + 0.5) * t.shape[-1] / w), t.shape[-1] - 1)]
        code = answer_codes(self.G, None, 0, count=4 * k) if self.latent_dim else None
        if code is not None:  # a latent model: 4k answers, their colours grouped below by frequency
            answers = at(self._network(cond.expand(len(code), -1, -1, -1), code.to(self.device), **extra))
        else:  # what the colourised image shows there: the same network pass (its mirrored margin included)
            answers = at(self._network(cond, **extra))
        answers = answers * self.strength  # and the same strength
        if self.fade_flat:  # and the same fading over flat areas
            answers = answers * at(detail_weight(cond[:, :1].float()))
        candidates = [answers]
        if self.takes_hints:
            palette = palette_colours(light[0, 0, y, x].item())
            if len(palette):  # dozens of colours, each a whole forward pass: at a smaller size, a few at a time
                refs = torch.zeros(len(palette), REFERENCE_DIM)
                refs[torch.arange(len(palette)), ab_bins(palette)] = 1.0
                refs[:, -2], refs[:, -1] = palette.norm(dim=1), 1.0
                cond, _ = self._model_input(light, hints, min(self.size, SUGGEST_SIZE))
                told = torch.cat([at(self.G(cond.expand(len(r), -1, -1, -1), reference=r.to(self.device)))
                                  for r in refs.split(8)])
                candidates.append(palette[(told.cpu() - palette).abs().sum(1).argsort()].to(answers))
        lab = torch.cat(candidates).cpu() * 110
        lab = torch.cat([torch.full((len(lab), 1), (light[0, 0, y, x].item() + 1) * 50), lab], 1).numpy()
        if code is not None:  # most frequent first: order the answers by how many others lie within ΔE 10
            near = skimage.color.deltaE_ciede2000(lab[:len(code), None], lab[None, :len(code)]) < 10
            lab = np.concatenate([lab[:len(code)][np.argsort(-near.sum(1), kind="stable")], lab[len(code):]])
        chosen: list[np.ndarray] = []
        for c in lab:
            if all(skimage.color.deltaE_ciede2000(c, d) >= 10 for d in chosen):
                chosen.append(c)
            if len(chosen) == k:
                break
        srgb = np.clip(skimage.color.lab2rgb(np.array(chosen)[None])[0], 0, 1)
        return ["#{:02x}{:02x}{:02x}".format(*(int(v * 255 + 0.5) for v in c)) for c in srgb]

    def colorize_video(self, src: Path, dst: Path, smoothing: float = SMOOTHING, crf: int = 18,
                       progress: bool = True, z: torch.Tensor | None = None, seed: int = 0,
                       hints: Hints | None = None) -> int:
        """Colorize every frame of the video ``src`` into ``dst`` (same frame count, size and rate; audio copied;
        frames streamed one at a time). ``smoothing``: :class:`TemporalSmoother`'s amount (0: each frame on its
        own); a latent model colours every frame with the same code (``z``, or colouring ``seed``); a hint model
        takes the same ``hints`` (:meth:`hints`, for the frame size) on every frame. Not atomic:
        give a temporary name. Returns the frame count."""
        smoother = TemporalSmoother(smoothing) if smoothing > 0 else None
        code = answer_codes(self.G, z, seed)  # drawn once: every frame the same colouring
        if self.backend != "torch":
            frame = lambda rgb: self.colorize_u8(rgb, smoother, code, hints=hints)  # noqa: E731
        else:
            frame = lambda rgb: self.colorize_rgb(rgb.astype(np.float32) / 255, smoother, code,  # noqa: E731
                                                  hints=hints)
        return transcode(Path(src), Path(dst), frame, crf=crf, progress=progress, desc=Path(src).name)


def _srgb_u8_later(light: torch.Tensor, ab: torch.Tensor) -> Callable[[], np.ndarray]:
    """The Lab → sRGB conversion at full resolution (:func:`~pix2gan.tasks.colorize.lab_to_srgb_u8`) of ``light``
    ``(1, 1, H, W)`` and ``ab`` ``(1, 2, H, W)``, as a function to call later (e.g. on the writer thread)."""
    return torch.inference_mode()(lambda: lab_to_srgb_u8(light, ab).cpu().numpy())


def _finisher(convert: Callable[[], np.ndarray], img: Image.Image) -> Callable[[], Image.Image]:
    """The function that makes the output image: ``convert()``'s sRGB pixels ``(H, W, 3)`` uint8, with ``img``'s
    alpha channel when it has one."""
    alpha = alpha_channel(img)

    def finish() -> Image.Image:
        out = Image.fromarray(convert(), "RGB")
        if alpha is not None:
            out.putalpha(Image.fromarray(alpha, "L"))
        return out
    return finish


def _digest(t: torch.Tensor | None) -> str | None:
    """A tensor's contents as a key for :class:`Memo` (None stays None)."""
    return None if t is None else hashlib.sha1(t.cpu().numpy().tobytes()).hexdigest()


class Memo:
    """The last ``size`` values by key (tensors, or anything with ``numel()``, e.g. a points solver), at most
    ``max_values`` numbers in all (least recently used dropped first; one larger than that is not kept): memory stays
    bounded whatever the images' sizes."""

    def __init__(self, size: int = 4, max_values: int = 64_000_000):
        self.size, self.max_values, self.items = size, max_values, OrderedDict()

    def get(self, key):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key, value) -> None:
        if value.numel() > self.max_values:
            return
        self.items[key] = value
        while len(self.items) > self.size or sum(v.numel() for v in self.items.values()) > self.max_values:
            self.items.popitem(last=False)


def check_strength(strength: float) -> float:
    """``strength`` as a float, or a one-line error unless it is a finite number ≥ 0."""
    strength = float(strength)
    if not (np.isfinite(strength) and strength >= 0):
        raise Pix2GanError(f"--strength must be a finite number ≥ 0 (0: gray, 1: as predicted), got {strength:g}")
    return strength


class TemporalSmoother:
    """The colour of a video held steady: an exponential moving average of the predicted ab over frames,
    ``ab'_t = amount · ab'_(t−1) + (1 − amount) · ab_t`` at the model's resolution, restarted at a scene cut.

    A cut is a frame whose L histogram (32 bins) differs from the previous frame's by more than ``cut`` in total
    variation (0: same histogram, 1: disjoint); a pan or a moving subject changes it little, a new shot a lot.
    """

    def __init__(self, amount: float, cut: float = 0.3):
        if not 0 <= amount < 1:
            raise Pix2GanError(f"--temporal-smoothing must be in [0, 1) (0: off), got {amount:g}")
        self.amount, self.cut = amount, cut
        self.ab: torch.Tensor | None = None
        self.hist: torch.Tensor | None = None
        self.cuts = 0

    def __call__(self, light: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """``light`` ``(1, 1, h, w)`` in [-1, 1] and the frame's predicted ``ab`` ``(1, 2, h, w)`` → smoothed ab."""
        hist = torch.histc(light.float(), bins=32, min=-1, max=1)
        hist = hist / hist.sum()
        new_shot = self.hist is not None and 0.5 * (hist - self.hist).abs().sum().item() > self.cut
        self.cuts += int(new_shot)
        if self.ab is None or new_shot or self.ab.shape != ab.shape:
            self.ab = ab
        else:
            self.ab = self.amount * self.ab + (1 - self.amount) * ab
        self.hist = hist
        return self.ab
