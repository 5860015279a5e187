"""Command line: argparse → dataclass config → the library. Only the entry point (`pix2gan`, `python -m pix2gan`) and
the tests that drive the commands import it."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from pix2gan.errors import Pix2GanError
from pix2gan.rundir import RunDir


def _positive(flag: str):
    """An argparse type: an integer ≥ 1, or argparse's one-line error naming ``flag`` and the value."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
        return value
    parse.__name__ = flag
    return parse


def _config_argument(group, name: str, default=argparse.SUPPRESS, help: str | None = None) -> None:
    """The argument of the config field ``name``: its type, allowed values and help from the field's metadata
    (:func:`pix2gan.config.option`); ``default`` and ``help`` override the field's for a command that wants others
    (compare trains small)."""
    from pix2gan.config import FIELDS, flag

    f = FIELDS[name]
    m = f.metadata
    kind = {"int": int, "float": float, "bool": bool}.get(f.type.split("|")[0].strip(), str)
    value = f.default if default is argparse.SUPPRESS else default
    shown = m["shown"] if default is argparse.SUPPRESS and m["shown"] else value
    text = help or m["help"]
    if value is not False and shown is not None:  # a flag that is off by default needs no "(default ...)"
        text += f" (default {shown:g})" if isinstance(shown, float) else f" (default {shown})"
    if kind is bool:
        action = "store_true" if f.default is False else argparse.BooleanOptionalAction
        group.add_argument(flag(name), action=action, default=default, help=text.replace("%", "%%"))
    else:
        long = m["choices"] is not None and len(m["choices"]) > 8  # listed in the help, not the usage line
        group.add_argument(flag(name), type=kind, choices=m["choices"], default=default, metavar="NAME" if long else None,
                           help=(text + (f"; one of {', '.join(m['choices'])}" if long else "")).replace("%", "%%"))


def _add_config_options(p: argparse.ArgumentParser) -> None:
    """One argument per :class:`~pix2gan.config.TrainConfig` field, in its group (the config is where an option is
    written)."""
    from pix2gan.config import FIELDS

    group = p
    for name, f in FIELDS.items():
        if f.metadata["group"]:
            group = p.add_argument_group(f.metadata["group"])
        _config_argument(group, name)


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a generator (and its discriminator)",
                       description="Train a U-Net generator with a PatchGAN discriminator as its learned loss. "
                                   "Values left out come from the defaults shown, or from the GAN loss's preset "
                                   "(see `pix2gan losses`); with --resume, from the run being continued.",
                       argument_default=argparse.SUPPRESS)
    p.add_argument("--out", required=True, type=Path, help="run folder (config.json, checkpoint.pt, log.jsonl, samples/)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--allow-data-change", action="store_true",
                   help="with --resume: go on although the data folder lists other files than the checkpoint's "
                        "(otherwise refused; the batches then differ from an uninterrupted run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--profile", action="store_true",
                   help="time every phase of each step (data, G forward, D forward, backward, optimizer, ...) and "
                        "print where the time went at the end")
    _add_config_options(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from pix2gan import distributed
    from pix2gan.config import TrainConfig
    from pix2gan.train import Trainer

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields}
    out: Path = args.out
    progress = not getattr(args, "quiet", False)
    resume = getattr(args, "resume", False)
    profile = getattr(args, "profile", False)
    restarted = distributed.restarted_with_checkpoint(RunDir(out).checkpoint)  # torchrun --max-restarts
    if not resume and RunDir(out).checkpoint.exists() and not restarted:
        raise Pix2GanError(f"{out}: already holds a run; add --resume to continue it, or choose another --out")
    dist = distributed.setup(given.get("device", "auto"))  # torchrun: one process per device
    if restarted and not resume:
        resume = True
        if dist.is_main:
            print(f"torchrun restart {restarted['restart']}: resuming {out} from its checkpoint (step "
                  f"{restarted['step']})", file=sys.stderr)
    try:
        if resume:
            trainer = Trainer.resume(out, given, progress=progress, dist=dist, profile=profile,
                                     allow_data_change=getattr(args, "allow_data_change", False))
        else:
            trainer = Trainer(TrainConfig(**given), out, progress=progress, dist=dist, profile=profile)
        metrics = trainer.fit()
    finally:
        distributed.teardown(dist)
    if not dist.is_main:
        return 130 if trainer.interrupted else 0
    figures = ", ".join(f"{k} {metrics[k]:.4g}" for k in ("d_loss", "g_adv", "g_recon") if k in metrics)
    print(f"{out}: step {trainer.step}/{trainer.cfg.steps}" + (f" ({figures})" if figures else ""))
    health = trainer.health
    if health.bad or health.unfit:
        print(f"data: {len(health.bad)} unreadable file(s) replaced by other samples, {len(health.unfit)} left out "
              f"as unfit (gray photos) so far, of {health.total} listed")
    if profile:
        print(trainer.timer.table())
    if trainer.interrupted:
        return 130
    command = trainer.task.command
    print(f"use it: pix2gan {command} INPUT OUTPUT --checkpoint {out / 'checkpoint.pt'}")
    return 0


def _add_image_io(p, what: str) -> None:
    """The arguments every file-or-folder image command shares."""
    from pix2gan.files import PNG_COMPRESSION
    from pix2gan.data.images import MAX_PIXELS

    p.add_argument("input", type=Path, help="an image file or a folder")
    p.add_argument("output", type=Path, help="an output file (for a file INPUT) or folder")
    p.add_argument("--checkpoint", type=Path, default=None if what == "colorize" else argparse.SUPPRESS,
                   required=what != "colorize",
                   help=f"RUN/checkpoint.pt of a {what} run" + (" (default: the bundled demonstration colorizer)"
                                                               if what == "colorize" else ""))
    p.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator of a checkpoint that also holds "
                                                          "an EMA one (default: the EMA weights)")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help=f"refuse larger images (decompression-bomb guard; default {MAX_PIXELS})")
    p.add_argument("--samples", type=_positive("--samples"), default=1, metavar="N",
                   help="a model trained with --latent-dim: N answers per input, NAME_s0.png ... NAME_s{N-1}.png"
                        + (" (videos: NAME_s0.mp4 ..., one colouring for the whole video)" if what == "colorize"
                           else "") + "; default 1")
    p.add_argument("--seed", type=int, default=0,
                   help="which answers of a latent model: sample i is answer seed+i, the same choice for every "
                        "input (default 0)")
    p.add_argument("--png-compression", type=int, choices=range(10), default=PNG_COMPRESSION, metavar="0-9",
                   help=f"zlib level of PNG outputs (default {PNG_COMPRESSION}: 3–4× faster to write than 6, "
                        f"files about 10%% larger; 9: smallest, slowest)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    from pix2gan.models import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="fast: decoding and encoding beside the model" + (", 8-bit images converted through tables"
                                                                            if what == "colorize" else "")
                        + "; bf16: the same with the generator in bf16 (CPUs with native bf16: AVX512-BF16 or "
                          "AMX); torch: the reference path, one file after the other (default auto: bf16 where "
                          "the CPU has native bf16, else fast; docs/speed.md has the measurements)")
    p.add_argument("--verbose", action="store_true", help="say which backend runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _samples_of(model, samples: int, what: str, say: bool = True) -> int:
    """``--samples`` for ``model``: as asked when it has a latent code; else 1, said in one line (when ``say``)."""
    if samples > 1 and not model.latent_dim:
        if say:
            print(f"--samples {samples}: this model has no latent code (train with --latent-dim), so it has one "
                  f"{what} per input; writing that one", file=sys.stderr)
        return 1
    return samples


def _process_images(args, load_model, verb: str, video=None, samples: int = 1, hints_for=None) -> int:
    """Check INPUT/OUTPUT, then run ``load_model()(PIL image, seed=S) -> PIL image`` over them (and, given
    ``video``, ``video(model, source, tmp, seed)`` over the video files); ``hints_for(model, source, (W, H))``: the
    hints of each image, read with it (a bad hints file fails that image alone); ``samples`` > 1 with a latent model:
    ``samples`` outputs per input (``NAME_s0.png``, ..., seeds ``--seed`` + i); one line per failure; exit 1 if
    any failed. Under torchrun each process takes its share of the sorted listing (file ``i`` goes to rank
    ``i mod N``, the same every time) and rank 0 prints the totals."""
    from pix2gan import distributed
    from pix2gan.batch import Summary, plan, with_samples
    from pix2gan.data.video import VIDEO_SUFFIXES

    pairs = plan(args.input, args.output, videos=VIDEO_SUFFIXES if video else frozenset())
    dist = distributed.setup(args.device)
    try:
        model = load_model()
        samples = _samples_of(model, samples, "answer", say=dist.is_main)
        items = with_samples(pairs, samples)[dist.rank::dist.world]
        summary = _run_items(items, model, args, verb, video, progress=not args.quiet and dist.is_main,
                             hints_for=hints_for)
        totals = dist.gather(summary)
    finally:
        distributed.teardown(dist)
    total = Summary()
    for part in totals:
        total += part
    if dist.is_main:
        if getattr(args, "verbose", False):
            print(f"backend: {model.backend}" + (f", {dist.world} processes" if dist.enabled else ""),
                  file=sys.stderr)
        print(total.line(verb))
    return 1 if total.failed else 0


def _run_items(items: list[tuple], model, args, verb: str, video, progress: bool, hints_for=None):
    """The images of ``items`` through the model's backend (fast: pipelined beside it), then the videos."""
    from pix2gan.batch import process, process_pipelined
    from pix2gan.data.images import read_image
    from pix2gan.data.video import is_video
    from pix2gan.files import save_image
    from pix2gan.runtime import CoreSharing

    seed = getattr(args, "seed", 0)
    videos = [item for item in items if video and is_video(item[0])]
    images = [item for item in items if not (video and is_video(item[0]))]
    def load(src):
        img = read_image(src, args.max_pixels)
        return img, {"hints": hints_for(model, src, img.size)} if hints_for else {}

    compute = lambda loaded, sample: model(loaded[0], seed=seed + sample, **loaded[1])  # noqa: E731
    save = lambda out, tmp: save_image(out, tmp, args.png_compression)  # noqa: E731
    options = dict(overwrite=args.overwrite, progress=progress, desc=verb)
    if model.backend == "torch":  # the reference path: one file after the other
        summary = process(images, lambda src, tmp, sample: save(compute(load(src), sample), tmp), **options)
    else:  # decoding, and the conversion after the network with the encoding, beside it (runtime.CoreSharing)
        network = lambda loaded, sample: model(loaded[0], seed=seed + sample, later=True, **loaded[1])  # noqa: E731
        many = None  # a one-answer colorizer without hints: two files of one size through the network at once
        if hasattr(model, "many_later") and not model.latent_dim and hints_for is None:
            many = lambda loaded: model.many_later([img for img, _ in loaded])  # noqa: E731
        with CoreSharing() as cores:
            summary = process_pipelined(images, load, network, lambda finish, tmp: save(finish(), tmp),
                                        timing=cores.record, compute_many=many, batch=2, **options)
    if videos:  # (no second, empty progress bar)
        summary += process(videos, lambda src, tmp, sample: video(model, src, tmp, seed + sample), **options)
    return summary


def _check_size(size: int | None) -> None:
    if size is not None and size < 1:
        raise Pix2GanError(f"--size must be at least 1, got {size}")


def _add_colorize(sub) -> None:
    p = sub.add_parser("colorize", help="colorize images, videos, or a folder of them",
                       description="Colorize gray (or colour: their luminance is used) images and videos. INPUT is "
                                   "a file or a folder (recursive; the tree is mirrored into OUTPUT: images as PNG "
                                   "files, videos (.mp4 .mov .mkv .webm .avi .m4v) as videos of the same name, "
                                   "every frame colorized at the same size and frame rate, the audio copied). "
                                   "Unreadable files are reported one line each and the rest continue; the exit "
                                   "code is 1 if any failed. INPUT is never written to. Animated images: the first "
                                   "frame.")
    _add_image_io(p, "colorize")
    p.add_argument("--size", type=int, default=None,
                   help="short side at which colours are predicted (default: the bundled model's own, chosen on "
                        "held-out photos; the training scale for a --checkpoint); the L channel "
                        "stays at full resolution. Larger: finer, often more varied colour and slower (time grows "
                        "with size²); smaller: broader, calmer colour (DeOldify's render_factor)")
    p.add_argument("--strength", type=float, default=None,
                   help="scale of the predicted colour: 0 = the gray input, 1 = as predicted, >1 more saturated "
                        "(default: the bundled model's own, chosen on held-out photos; 1 for a --checkpoint)")
    p.add_argument("--flat", choices=("fade", "keep"), default=None,
                   help="the guessed colour over flat areas (skies, walls, out-of-focus backgrounds), where a gray "
                        "photo gives no clue to it: fade = towards gray, colour kept where there is detail; keep = "
                        "as predicted. Hints are followed either way (default: the file's own: fade for the "
                        "bundled model, keep for a --checkpoint)")
    from pix2gan.data.video import SMOOTHING

    p.add_argument("--temporal-smoothing", type=float, default=SMOOTHING, metavar="A",
                   help="videos: each frame's colour is A × the previous frames' + (1 − A) × its own prediction, "
                        "restarted at scene cuts; 0 = every frame on its own (default %(default)g)")
    p.add_argument("--crf", type=int, default=18,
                   help="videos: encoder quality, H.264/VP9 constant rate factor (0 = lossless, 51 = worst; "
                        "default %(default)s)")
    p.add_argument("--hints", type=Path, metavar="H",
                   help="colour points for a model trained with --hints (docs/hints.md; the bundled one is): a JSON "
                        "file {\"points\": [{\"x\": 120, \"y\": 45, \"color\": \"#3a6ea5\", \"size\": 9}]} for one image "
                        "or video (every frame), or for a folder INPUT a folder mirroring it with NAME.json per "
                        "image (none: no hints for that image). x, y: column and row in input pixels; color: "
                        "#rrggbb or [r, g, b]; size: optional side of the square it covers, in input pixels")
    p.add_argument("--reference", type=Path, metavar="PHOTO",
                   help="a colour photo whose colours the result should follow (its colour distribution and its "
                        "colours at each lightness: a global hint for every input)")
    p.set_defaults(func=cmd_colorize)


def cmd_colorize(args) -> int:
    from pix2gan.colorizer import Colorizer, TemporalSmoother, check_strength
    from pix2gan.data.images import IMAGE_SUFFIXES, list_images, read_image
    from pix2gan.data.video import VIDEO_SUFFIXES, probe
    from pix2gan.hints import HintFiles, Hints, read_hints

    _check_size(args.size)
    if args.strength is not None:
        check_strength(args.strength)
    TemporalSmoother(args.temporal_smoothing)  # a bad value: one line before any work
    if not 0 <= args.crf <= 51:
        raise Pix2GanError(f"--crf must be in 0..51, got {args.crf}")

    files = HintFiles(args.input, args.hints) if args.hints is not None and args.input.exists() else None
    reference = read_image(args.reference) if args.reference is not None else None
    measured: Hints | None = None  # the reference's vector and palette, measured once at the model's scale
    steered = files is not None or reference is not None  # hints read per input only then
    fade_flat = None if args.flat is None else args.flat == "fade"

    def load():
        nonlocal measured
        if args.checkpoint is not None:
            model = Colorizer.from_checkpoint(args.checkpoint, args.device, args.size, ema=not args.no_ema,
                                              strength=args.strength, backend=args.backend, fade_flat=fade_flat)
        else:
            if not args.quiet:
                print("using the bundled demonstration colorizer (docs/default_colorizer.md); --checkpoint for "
                      "your own", file=sys.stderr)
            model = Colorizer.default(args.device, args.size, args.strength, args.backend, fade_flat)
        if (args.hints is not None or reference is not None) and not model.takes_hints:
            raise Pix2GanError(f"{args.checkpoint or 'the bundled colorizer'}: trained without hint inputs "
                               f"(pix2gan train --hints), so --hints and --reference cannot steer it")
        if reference is not None:
            measured = model.hints(*reference.size, reference=reference)
        return model

    def hints_for(model, src, size) -> Hints | None:
        path = files.path_for(src) if files else None
        if path is None and measured is None:
            return None
        points = tuple(read_hints(path, *size)) if path else ()
        return Hints(points, *((measured.reference, measured.palette) if measured else ()))

    def video(model, src, tmp, seed):
        info = probe(src) if steered else None  # the frame size the hints are checked against
        model.colorize_video(src, tmp, args.temporal_smoothing, args.crf, progress=not args.quiet, seed=seed,
                             hints=hints_for(model, src, (info.width, info.height)) if info else None)

    code = _process_images(args, load, "colorized", video, args.samples, hints_for if steered else None)
    orphans = files.orphans(list_images(args.input, IMAGE_SUFFIXES | VIDEO_SUFFIXES)) if files else []
    if orphans and os.environ.get("RANK", "0") == "0":
        for path in orphans:
            print(f"error: {path}: a hints file with no image of that name in {args.input}", file=sys.stderr)
    return 1 if orphans else code


def _add_translate(sub) -> None:
    p = sub.add_parser("translate", help="translate images with a paired (A → B) model",
                       description="Run a --task paired model on a file or a folder (recursive; mirrored into "
                                   "OUTPUT as PNG). Images are translated at their own size unless --size is given. "
                                   "Unreadable files are reported one line each and the rest continue.")
    _add_image_io(p, "paired")
    p.add_argument("--size", type=int, default=None, help="scale inputs to this short side first")
    p.set_defaults(func=cmd_translate)


def cmd_translate(args) -> int:
    from pix2gan.translator import Translator

    _check_size(args.size)
    return _process_images(args, lambda: Translator.from_checkpoint(args.checkpoint, args.device, args.size,
                                                                    ema=not args.no_ema, backend=args.backend),
                           "translated", samples=args.samples)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict the next frames of a sequence",
                       description="Roll a next-frame model forward: INPUT is a video (.mp4 .mov .mkv .webm ...), a "
                                   "folder of frames (natural order), an animated GIF/APNG, or a .npy sequence; "
                                   "OUTPUT is a folder that receives the predicted frames (pred_001.png, ...), "
                                   "rollout.gif and rollout.mp4 (context, then prediction). Each predicted frame "
                                   "joins the context for the next.")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--checkpoint", type=Path, required=True, help="RUN/checkpoint.pt of a nextframe run")
    p.add_argument("--steps", type=int, default=10, help="frames to predict (default 10)")
    p.add_argument("--index", type=int, default=0, help="which sequence of a multi-sequence .npy (default 0)")
    p.add_argument("--start", type=int, default=None,
                   help="the context starts at this frame (counted in --frame-steps; default: the last frames)")
    p.add_argument("--frame-step", type=int, default=None,
                   help="take every N-th frame of INPUT (default: the model's training --frame-step)")
    _config_argument(p, "layout", None, help="layout of a 4-D .npy (the model's own when not given)")
    p.add_argument("--samples", type=_positive("--samples"), default=1, metavar="N",
                   help="a model trained with --latent-dim: N futures, each in OUTPUT/sample_i/ (default 1: the "
                        "frames in OUTPUT itself)")
    p.add_argument("--seed", type=int, default=0, help="which futures: sample i is future seed+i (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing prediction in OUTPUT")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator of a checkpoint that also holds an EMA one")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    import numpy as np
    from PIL import Image

    from fractions import Fraction

    from pix2gan.files import replacing, save_image_atomic
    from pix2gan.data.video import is_video, probe, write_frames
    from pix2gan.predictor import FramePredictor

    if args.output.resolve() == args.input.resolve() or args.input.resolve() in args.output.resolve().parents:
        raise Pix2GanError(f"{args.output}: the output folder must not be the input or inside it")
    predictor = FramePredictor.from_checkpoint(args.checkpoint, args.device, ema=not args.no_ema)
    samples = _samples_of(predictor, args.samples, "future")
    folders = [args.output] if samples == 1 else [args.output / f"sample_{i}" for i in range(samples)]
    for folder in folders:
        if (folder / "rollout.gif").exists() and not args.overwrite:
            raise Pix2GanError(f"{folder}: already holds a prediction (--overwrite to replace it)")
    if args.layout:
        predictor.task.layout = args.layout
    if args.frame_step is not None:
        if args.frame_step < 1:
            raise Pix2GanError(f"--frame-step must be at least 1, got {args.frame_step}")
        predictor.task.frame_step = args.frame_step
    frames = predictor.read(args.input, args.index, args.start)
    fps = probe(args.input).fps / predictor.task.frame_step if is_video(args.input) else Fraction(25, 3)
    for i, folder in enumerate(folders):
        pred = predictor.predict(frames, args.steps, seed=args.seed + i)
        for t, frame in enumerate(pred, 1):
            save_image_atomic(Image.fromarray(frame), folder / f"pred_{t:03d}.png")
        movie = [np.asarray(Image.fromarray(f).convert("RGB")) for f in np.concatenate([frames, pred])]
        with replacing(folder / "rollout.gif") as tmp:
            Image.fromarray(movie[0]).save(tmp, save_all=True, append_images=[Image.fromarray(m) for m in movie[1:]],
                                           duration=round(1000 / fps), loop=0)
        with replacing(folder / "rollout.mp4") as tmp:
            write_frames(tmp, movie, fps)
    where = args.output if samples == 1 else f"{args.output}/sample_0 ... sample_{samples - 1}"
    print(f"{where}: {len(pred)} predicted frame(s) of {pred.shape[2]}×{pred.shape[1]}, rollout.gif and "
          f"rollout.mp4 ({float(fps):.3g} fps)")
    return 0


def _add_datasets(sub) -> None:
    p = sub.add_parser("datasets", help="list the built-in data sets (no download)",
                       description="The builtin:NAME sets that --data accepts; all are bundled or generated.")
    p.set_defaults(func=cmd_datasets)


def cmd_datasets(args) -> int:
    from pix2gan.data.photos import BUILTIN_SETS
    from pix2gan.data.sequences import BUILTIN_SEQUENCES

    for name, b in BUILTIN_SETS.items():
        print(f"builtin:{name:<26} colorize   {b.description}")
    for name, (desc, _) in BUILTIN_SEQUENCES.items():
        print(f"builtin:{name:<26} nextframe  {desc}")
    return 0


def _add_losses(sub) -> None:
    p = sub.add_parser("losses", help="list the GAN losses with their formulas and presets",
                       description="List the adversarial losses: formula (l_r = D(x, y), l_f = D(x, G(x)), raw "
                                   "logits) and the preset applied unless overridden.")
    p.set_defaults(func=cmd_losses)


def cmd_losses(args) -> int:
    from pix2gan.losses import GAN_LOSSES

    width = max(map(len, GAN_LOSSES))
    for loss in GAN_LOSSES.values():
        print(f"{loss.name:<{width}}  {loss.formula}")
        print(f"{'':<{width}}  preset: {loss.preset.describe()}")
    print(f"{'none':<{width}}  no discriminator: the explicit term alone (the L1/L2 baseline)")
    return 0


def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="summarise a run and plot its diagnostics",
                       description="Print a run's last figures and the warnings raised while training "
                                   "(vanishing gradient, mode collapse, non-convergence) with their steps, and write "
                                   "RUN/diagnostics.png.")
    p.add_argument("run", type=Path, help="a run folder (holding config.json and log.jsonl)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write RUN/tb/ TensorBoard events from log.jsonl and samples/ (for a run trained "
                        "without --tensorboard)")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args) -> int:
    from pix2gan.report import plot_diagnostics, summarize

    if args.tensorboard:
        from pix2gan.watch import convert

        folder, records, samples = convert(args.run)
        print(f"wrote {folder}: {records} logged steps, {samples} sample grids (tensorboard --logdir {folder})")

    print(summarize(args.run))
    print(f"wrote {plot_diagnostics(args.run)}")
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="every metric of a trained generator on held-out data",
                       description="PSNR, SSIM, L1, sharpness difference, blur (Laplacian variance, gradient "
                                   "magnitude, high-frequency fraction, blur effect) and colour (colourfulness, "
                                   "chroma) figures with prediction / ground-truth ratios, on fixed crops.")
    p.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint (any name) or exported .safetensors")
    p.add_argument("--data", default=None,
                   help="held-out images (a folder or builtin:NAME; all of it is used); default: the run's own "
                        "held-out split (trained with --holdout)")
    p.add_argument("--count", type=int, default=64, help="number of crops (default 64)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.add_argument("--samples", type=_positive("--samples"), default=8, metavar="N",
                   help="a model with a latent code: N answers per crop, the figures averaged over them, with "
                        "best_psnr, sample_spread and (builtin:bimodal-colors) coverage (default 8)")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator of a checkpoint that also holds an EMA one")
    p.add_argument("--hint-sweep", action="store_true",
                   help="colorize: PSNR and ΔE2000 of whole --data photos with 0, 1, 2, 5, 10, 20, 50, 100, 200 "
                        "simulated clicks (random pixels coloured with the truth's 5×5 mean; docs/hints.md)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    import json

    from pix2gan.checkpoint import load_checkpoint
    from pix2gan.files import atomic_write_bytes
    from pix2gan.compare import evaluate_runs
    from pix2gan.models import pick_device

    if args.count < 1:
        raise Pix2GanError(f"--count must be at least 1, got {args.count}")
    if args.hint_sweep:
        return _hint_sweep(args)
    cfg = load_checkpoint(args.checkpoint)["config"]
    if args.data is None and not cfg.get("holdout"):
        raise Pix2GanError(f"{args.checkpoint}: the run held no images out (--holdout 0); give --data with "
                           f"held-out images")
    run = {"run": args.checkpoint}
    result = evaluate_runs(run, args.data, args.count, pick_device(args.device), ema=not args.no_ema,
                           samples=args.samples)["run"]
    width = max(map(len, result.metrics))
    for name, value in result.metrics.items():
        print(f"{name:<{width}}  {value:.5g}")
    if args.json:
        atomic_write_bytes(args.json, (json.dumps(result.metrics, indent=2) + "\n").encode())
    return 0


def _hint_sweep(args) -> int:
    import json

    from pix2gan.colorizer import Colorizer
    from pix2gan.files import atomic_write_bytes
    from pix2gan.hint_sweep import folder_sweep

    if args.data is None or not Path(args.data).is_dir():
        raise Pix2GanError(f"--hint-sweep needs --data FOLDER of held-out colour photos, got {args.data}")
    curve = folder_sweep(Colorizer.from_checkpoint(args.checkpoint, args.device, ema=not args.no_ema), Path(args.data))
    print("points  psnr     delta_e")
    for n, row in curve.items():
        print(f"{n:<7} {row['psnr']:<8.3f} {row['delta_e']:.3f}")
    if args.json:
        atomic_write_bytes(args.json, (json.dumps({str(n): r for n, r in curve.items()}, indent=2) + "\n").encode())
    return 0


def _add_compare(sub) -> None:
    from pix2gan.compare import COMPARE_DEFAULTS, COMPARE_OPTIONS
    from pix2gan.config import FIELDS

    p = sub.add_parser("compare", help="train loss variants identically and report their blur and colour",
                       description="Train each variant with the same seed, data split, architecture and step "
                                   "count (or evaluate existing runs with --runs), evaluate all on the same "
                                   "held-out crops, and write OUT/index.html, metrics.csv, metrics.json, grid.png "
                                   "and curves.png. Variant syntax: RECON[*WEIGHT][+GANLOSS][+zZ[kl]], e.g. l2, "
                                   "l1, l1+nonsaturating, l1*10+hinge, none+lsgan; l1+nonsaturating+z8 adds a "
                                   "latent code of 8 with a code discriminator (+z8kl: with a KL code loss), "
                                   "whose answers are sampled --samples times per crop.")
    p.add_argument("--variants", default="l2,l1,l1+nonsaturating", help="comma-separated (default "
                                                                        "l2,l1,l1+nonsaturating)")
    p.add_argument("--runs", default=None, help="comma-separated run folders to evaluate instead of training")
    p.add_argument("--out", type=Path, required=True, help="report folder (runs are trained in OUT/runs/)")
    p.add_argument("--eval-count", type=int, default=64, help="held-out crops evaluated (default 64)")
    p.add_argument("--samples", type=_positive("--samples"), default=8,
                   help="answers per held-out crop when a variant has a latent code (+zZ): metrics averaged over "
                        "them, with best_psnr, sample_spread and, on builtin:bimodal-colors, coverage (default 8)")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator of a checkpoint that also holds an EMA one")
    g = p.add_argument_group("training every variant alike (as train's options; the defaults train small)")
    _config_argument(g, "data", None, help=f"a folder or builtin:NAME (default {COMPARE_DEFAULTS['data']}; with "
                                           f"--runs, the runs' own data and held-out split)")
    for name in COMPARE_OPTIONS[1:]:  # data above, with its own help
        _config_argument(g, name, COMPARE_DEFAULTS.get(name, FIELDS[name].default))
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from pix2gan.compare import (COMPARE_DEFAULTS, COMPARE_OPTIONS, compare, compare_config, evaluate_runs,
                                 markdown_table, write_report)
    from pix2gan.models import pick_device

    title = f"pix2gan compare: {args.data or COMPARE_DEFAULTS['data']}"
    if args.runs:
        runs = {}
        for item in args.runs.split(","):
            path = Path(item.strip())
            if not RunDir(path).checkpoint.exists():
                raise Pix2GanError(f"{path}: not a run folder (no checkpoint.pt)")
            runs[path.name] = path
        results = evaluate_runs(runs, args.data, args.eval_count, pick_device(args.device), ema=not args.no_ema,
                                samples=args.samples)
        page = write_report(results, runs, args.out, title)
    else:
        values = {k: getattr(args, k) for k in COMPARE_OPTIONS}
        base = compare_config(**{**values, "data": args.data or COMPARE_DEFAULTS["data"]})
        results, _ = compare(base, args.variants, args.out, eval_count=args.eval_count, samples=args.samples,
                             ema=not args.no_ema, progress=not args.quiet, title=title)
        page = args.out / "index.html"
    print(markdown_table(results, ["psnr", "ssim", "sharpness_diff", "grad_mag_ratio", "colourfulness_ratio",
                                   "chroma_ratio", "ripple_ratio", "hue_hit_rate", "shape_chroma_ratio", "hue_hit_min", "coverage",
                                   "best_psnr", "sample_spread"]))
    print(f"wrote {page}")
    return 0


def _add_export(sub) -> None:
    from pix2gan.export import FORMATS

    p = sub.add_parser("export", help="export a trained generator as ONNX or safetensors",
                       description="Write the generator of a checkpoint as ONNX (dynamic batch, height and width; "
                                   "its input/output contract in the model's metadata; checked against PyTorch in "
                                   "onnxruntime at two odd sizes before it is written) or as safetensors "
                                   "(weights + the JSON config in its metadata; --checkpoint of every command "
                                   "accepts it).")
    p.add_argument("output", type=Path, help="the file to write (.onnx or .safetensors)")
    p.add_argument("--checkpoint", type=Path, required=True, help="a pix2gan checkpoint (any path)")
    p.add_argument("--format", choices=FORMATS, default=None, help="default: from OUTPUT's extension")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="ONNX: largest |onnxruntime − PyTorch| accepted (default 1e-3)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator of a checkpoint that also holds an EMA one")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from pix2gan.checkpoint import INFERENCE_DEFAULTS, load_checkpoint
    from pix2gan.export import FORMATS, export_onnx, export_safetensors
    from pix2gan.models import generator_from_state

    fmt = args.format or args.output.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise Pix2GanError(f"{args.output}: say --format {' or --format '.join(FORMATS)} (the extension "
                           f"{args.output.suffix or '(none)'} does not tell)")
    if args.output.exists() and not args.overwrite:
        raise Pix2GanError(f"{args.output}: already exists (--overwrite to replace it)")
    if args.output.resolve() == args.checkpoint.resolve():
        raise Pix2GanError(f"{args.output}: is the checkpoint itself; choose another output")
    state = load_checkpoint(args.checkpoint)
    G, cfg = generator_from_state(state, args.checkpoint, ema=not args.no_ema)
    defaults = {k: state[k] for k in INFERENCE_DEFAULTS if k in state}  # the bundled colorizer's strength, size
    if fmt == "safetensors":
        export_safetensors(G, cfg, args.output, defaults)
    else:
        print(f"exporting {args.checkpoint} to ONNX (tracing the generator takes a minute) ...", file=sys.stderr)
        export_onnx(G, cfg, args.output, args.tolerance, log=lambda line: print(line, file=sys.stderr),
                    defaults=defaults)
    print(f"wrote {args.output} ({fmt}, {args.output.stat().st_size / 2**20:.1f} MiB)")
    return 0


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="colorize in the browser: a local web page and its API",
                       description="Serve a local page (drop photos, slide the strength, click colours where they "
                                   "belong, download the result) and its API (/api/colorize, /api/suggest, "
                                   "/api/model). Needs the serve extra: pip install -e \".[serve]\".")
    p.add_argument("--checkpoint", type=Path, help="a colorization checkpoint (default: the bundled colorizer)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_positive("--port"), default=7860, help="default %(default)s")
    p.add_argument("--max-upload-mb", type=float, default=50,
                   help="largest request body accepted, in MiB (default %(default)s); larger: 413")
    p.add_argument("--queue", type=_positive("--queue"), default=8,
                   help="requests admitted at once for the one model (default %(default)s); more: 503")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    from pix2gan.models import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="fast: 8-bit photos converted through tables; bf16: the same with the generator in bf16 "
                        "(CPUs with native bf16); torch: the reference path (default auto: bf16 where the CPU has "
                        "native bf16, else fast; docs/speed.md)")
    p.add_argument("--verbose", action="store_true", help="say which backend runs")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    import importlib.util

    from pix2gan.colorizer import Colorizer

    if any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn", "multipart")):
        raise Pix2GanError('serve needs Starlette, uvicorn and python-multipart: pip install -e ".[serve]"')
    from pix2gan.serve import serve

    if not args.max_upload_mb > 0:
        raise Pix2GanError(f"--max-upload-mb must be > 0, got {args.max_upload_mb:g}")
    model = (Colorizer.from_checkpoint(args.checkpoint, args.device, backend=args.backend)
             if args.checkpoint is not None else Colorizer.default(args.device, backend=args.backend))
    if args.verbose:
        print(f"backend: {model.backend}", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach port {args.port} can use this server",
              file=sys.stderr)
    serve(model, args.host, args.port, args.max_upload_mb, args.queue)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pix2gan import __version__

    parser = argparse.ArgumentParser(prog="pix2gan", description="Image-to-image GANs where the discriminator is "
                                                                 "the loss.")
    parser.add_argument("--version", action="version", version=f"pix2gan {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    _add_colorize(sub)
    _add_predict(sub)
    _add_translate(sub)
    _add_datasets(sub)
    _add_losses(sub)
    _add_inspect(sub)
    _add_evaluate(sub)
    _add_compare(sub)
    _add_export(sub)
    _add_serve(sub)
    return parser


#: The folder commands whose network shares the CPU with a reader and a writer thread (every backend but torch).
PIPELINED = ("colorize", "translate")


def _idle_threads_sleep(argv: list[str]) -> None:
    """Before torch is imported, for a pipelined command (not ``--backend torch``, the reference path kept as it
    was): PyTorch's OpenMP threads (GNU libgomp, which reads this once, on loading) sleep between parallel regions
    instead of spinning ~300,000 times, which took the core the writer thread needed (docs/speed.md: ~1.2× the
    folder's images/s on 2 cores). A user's own ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` wins."""
    backend = next((b.split("=", 1)[1] for b in argv if b.startswith("--backend=")), None)
    if "--backend" in argv[:-1]:
        backend = argv[argv.index("--backend") + 1]
    if (argv and argv[0] in PIPELINED and backend != "torch" and "torch" not in sys.modules
            and "GOMP_SPINCOUNT" not in os.environ):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    _idle_threads_sleep(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("PIX2GAN_DEBUG") == "1"
    try:
        return args.func(args)
    except Pix2GanError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line for the user, the traceback with --debug
        if debug:
            raise
        print(f"error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
