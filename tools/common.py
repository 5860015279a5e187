"""What several tools share: the offline photo collection and its crops, pix2gan's trainer at the benchmark
settings, the U-Net's layer shapes. Tools import it as ``common`` (``python tools/NAME.py`` puts tools/ first on
the import path); everything else they use is the library itself.
"""

from __future__ import annotations

import io
import statistics
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pix2gan.data.photos import is_gray, skimage_photos, to_chw
from pix2gan.files import save_image_atomic


@dataclass
class Photo:
    source: str
    name: str
    path: str           # where it came from (a file, or a package function)
    image: Image.Image | None = None
    skipped: str = ""   # why it is not used ("" when used)


#: Files of the Debian packages that are illustrations, renders or textures, not photographs (looked at one by one).
NOT_PHOTOS = {
    "Fossa_by_Jasper_Roks.jpg": "illustration", "Painting-Colors_by__herobrine7gamer.jpg": "illustration",
    "2004default.jpg": "3-D render", "firstgeneration.jpg": "illustration", "rhythm.jpg": "3-D render",
    "string.jpg": "3-D render", "the-mouse.jpg": "illustration", "calla.png": "illustration",
    "city.png": "illustration", "desert.png": "illustration", "fluent-color.png": "illustration",
    "focal-ubuntukylin.png": "illustration", "goldfish.png": "illustration", "rollpaper.png": "illustration",
    "analogpattern_by_Peter_Nerlich.jpg": "abstract texture", "umang_by_Abhishek_Mudgal.jpg": "abstract gradient",
}
PACKAGES = {  # source name → (folder, file pattern, the package that installs it)
    "mate-backgrounds": ("/usr/share/backgrounds/mate/nature", "*.jpg", "mate-backgrounds"),
    "palapeli-data": ("/usr/share/palapeli/collection", "*.jpg", "palapeli-data"),
    "lomiri-wallpapers": ("/usr/share/backgrounds", "*_by_*.jpg", "lomiri-wallpapers-20.04"),
    "lomiri-wallpapers-16.04": ("/usr/share/backgrounds", "*_by_*.jpg", "lomiri-wallpapers-16.04"),
    "ukui-wallpapers": ("/usr/share/backgrounds", "*", "ukui-wallpapers"),
}
UKUI = {"2004default.jpg", "firstgeneration.jpg", "rhythm.jpg", "string.jpg", "the-mouse.jpg", "calla.png",
        "city.png", "desert.png", "fluent-color.png", "focal-ubuntukylin.png", "goldfish.png", "rollpaper.png"}
#: The photographs among opencv-doc's sample images, picked by eye: the rest are diagrams, logos, renders, text,
#: calibration checkerboards, gray test images, a painting (starry_night), a doctored copy (ela_modified) and the
#: second halves of stereo or flow pairs (aloeR, right, rubberwhale2, graf3).
OPENCV_DIR = "/usr/share/doc/opencv-doc/examples/data"
OPENCV_PHOTOS = ("aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg",
                 "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg",
                 "left.jpg", "leuvenA.jpg", "leuvenB.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg",
                 "rubberwhale1.png", "squirrel_cls.jpg", "stuff.jpg")
#: Stellarium's photographed landscape panoramas: each piece's opaque band (the sky is transparent) is a photo. Its
#: other landscapes are renders (ocean), planets, fog masks or fisheye light maps.
STELLARIUM_DIR = "/usr/share/stellarium/landscapes"
STELLARIUM_PHOTOS = ("garching/garching-gl*.png", "garching/garching-ground3.png", "guereins/guereins[1-8].png",
                     "guereins/guereinsb.png", "hurricane/hurricane[1-8].png", "hurricane/hurricaneb.png")
#: Tux Paint's stamps: photographed objects cut out on a transparent background (GPL-2), composited over training
#: photos (:func:`composite`). Left out: the cartoon, symbol, seasonal, road-sign, flag and planet folders, every stamp
#: drawn as SVG (a .svg beside the .png), and these drawings, silhouettes and renders, looked at one by one.
TUXPAINT_DIR = "/usr/share/tuxpaint/stamps"
TUXPAINT_SKIP_DIRS = {"cartoon", "symbols", "seasonal", "roadsigns", "flags", "planets"}
TUXPAINT_NOT_PHOTOS = {
    "bee": "silhouette", "echidna": "silhouette", "hedgehog": "cartoon", "button": "drawing", "pizza": "cartoon",
    "blue_fedora": "drawing", "feathered_hat": "drawing", "green_fedora": "drawing", "propeller_hat": "drawing",
    "sombrero": "drawing", "tophat": "drawing", "t_baseballcap": "line drawing", "t_glove": "line drawing",
    "t_jacket": "line drawing", "t_pants": "line drawing", "t_poloshirt": "line drawing", "t_scarf": "line drawing",
    "t_shirt": "line drawing", "t_sock": "line drawing", "t_tshirt": "line drawing", "highlighter": "render",
    "tooth": "cartoon", "old_naval_shell": "render", "eye": "cartoon", "rugby_goal_posts": "drawing",
    "inukshuk-outline": "line drawing",
}
#: Packages looked at that hold no photographs to use.
NO_PHOTOGRAPHS = {
    "gnome-backgrounds": "abstract and illustrated wallpapers (adwaita, grid, licorice, pixels, symbolic, truchet, "
                         "vnc, wood)",
    "sway-backgrounds": "the Sway logo on a flat colour",
    "desktop-base": "Debian's themes, SVG drawings and logos",
}
#: GCompris's activities whose images are photographs (Qt resource files, read by :func:`rcc_files`), and the few
#: paintings among them. Its other activities hold drawings, cartoons, paintings, renders of planets, or photos too
#: small to measure at short side 256 (categorization's, mostly 200 px).
GCOMPRIS_DIR = "/usr/share/gcompris-qt/rcc"
GCOMPRIS_ACTIVITIES = ("erase", "explore_farm_animals", "explore_monuments", "explore_world_animals", "details")
GCOMPRIS_NOT_PHOTOS = {"Eglise_dAuvers-sur-Oise_background": "painting", "Gogh4_background": "painting",
                       "PortraitOfPereTanguy_background": "painting", "Van_Gogh_The_Night_Cafe_background": "painting",
                       "VincentVanGogh0012_background": "painting", "VincentVanGogh0013_background": "painting",
                       "VincentVanGogh0019_background": "painting", "VincentVanGoghBridge_background": "painting"}
#: scikit-image's images that are scientific imaging rather than photographs of a scene.
SCIENTIFIC = {"hubble_deep_field": "astronomy image", "retina": "fundus photograph (medical)",
              "immunohistochemistry": "microscope slide"}


def installed_by(path: Path, package: str) -> bool:
    """Whether Debian's dpkg lists ``path`` as a file of ``package`` (True where dpkg keeps no list): two packages
    share /usr/share/backgrounds, and a photo of a package held out must not join another's source."""
    lists = list(Path("/var/lib/dpkg/info").glob(f"{package}.list")) + \
        list(Path("/var/lib/dpkg/info").glob(f"{package}:*.list"))
    if not lists:
        return True
    return any(str(path) in lst.read_text().splitlines() for lst in lists)


def gather_photos(stamps: bool = False) -> tuple[list[Photo], list[str]]:
    """Every offline photo found (with a reason when it is left out), and a line per source that is missing.
    ``stamps``: also Tux Paint's photographed objects, as RGBA cut-outs (for :func:`composite`)."""
    photos, missing = [], []
    for name, arr in skimage_photos():
        photos.append(Photo("scikit-image", name, f"skimage.data.{name}", Image.fromarray(arr[..., :3]),
                            SCIENTIFIC.get(name, "")))
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        photos.append(Photo("matplotlib", "grace_hopper", str(path), Image.open(path).convert("RGB")))
    except (ImportError, OSError):
        missing.append("matplotlib's grace_hopper.jpg (matplotlib not installed)")
    try:
        import sklearn.datasets

        for p in sorted((Path(sklearn.datasets.__file__).parent / "images").glob("*.jpg")):
            photos.append(Photo("scikit-learn", p.stem, str(p), Image.open(p).convert("RGB")))
    except ImportError:
        missing.append("scikit-learn's china.jpg and flower.jpg (pip install scikit-learn)")
    photos += _picked("opencv-doc", [Path(OPENCV_DIR) / n for n in OPENCV_PHOTOS], missing)
    photos += _picked("stellarium-data", [f for g in STELLARIUM_PHOTOS for f in sorted(Path(STELLARIUM_DIR).glob(g))],
                      missing)
    for source, (folder, pattern, package) in PACKAGES.items():
        files = sorted(f for f in Path(folder).glob(pattern) if installed_by(f, package))
        if source == "ukui-wallpapers":
            files = [f for f in files if f.name in UKUI]
        if not files:
            missing.append(f"Debian's {package} (apt-get install {package})")
        for f in files:
            reason = NOT_PHOTOS.get(f.name, "")
            photos.append(Photo(source, f.stem, str(f), None if reason else Image.open(f).convert("RGB"), reason))
    photos += gcompris_photos(missing)
    if stamps:
        photos += tuxpaint_stamps(missing)
    for p in photos:
        if p.image is not None and not p.skipped and is_gray(to_chw(shrink(on_gray(p.image), 128))):
            p.skipped = "gray photo"
    return photos, missing


def tuxpaint_stamps(missing: list[str]) -> list[Photo]:
    """Tux Paint's photographed stamps (RGBA, cropped to the object), named by their folder and file."""
    root = Path(TUXPAINT_DIR)
    files = sorted(f for f in root.glob("**/*.png")
                   if not TUXPAINT_SKIP_DIRS & set(f.relative_to(root).parts[:-1]) and "_thumb" not in f.stem
                   and "mirror" not in f.stem and not f.with_suffix(".svg").exists())
    if not files:
        missing.append("Debian's tuxpaint-stamps-default (apt-get install tuxpaint-stamps-default)")
    out = []
    for f in files:
        reason = TUXPAINT_NOT_PHOTOS.get(f.stem, "")
        img = None
        if not reason:
            img = Image.open(f).convert("RGBA")
            img = img.crop(img.getchannel("A").getbbox())
        out.append(Photo("tuxpaint-stamps-default", f.relative_to(root).with_suffix("").as_posix().replace("/", "-"),
                         str(f), img, reason))
    return out


def gcompris_photos(missing: list[str]) -> list[Photo]:
    """The photographs of :data:`GCOMPRIS_ACTIVITIES` (gcompris-qt-data, GPL-3+), named ACTIVITY-FILE; an image that
    repeats one already taken (the same monument in two activities) is left out as a copy."""
    root = Path(GCOMPRIS_DIR)
    if not root.is_dir():
        missing.append("Debian's gcompris-qt-data (apt-get install gcompris-qt-data)")
        return []
    out, seen = [], []
    for activity in GCOMPRIS_ACTIVITIES:
        path = root / f"{activity}.rcc"
        for name, blob in sorted(rcc_files(path.read_bytes()).items()) if path.exists() else ():
            if not name.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
                continue
            img = Image.open(io.BytesIO(blob)).convert("RGB")
            if min(img.size) < 256:
                continue
            stem = Path(name).stem
            thumb = np.asarray(img.convert("L").resize((16, 16), Image.BILINEAR), np.float32)
            reason = GCOMPRIS_NOT_PHOTOS.get(stem, "")
            if not reason and any(np.abs(thumb - t).mean() < 6 for t in seen):
                reason = "a copy of another activity's photo"
            seen.append(thumb)
            out.append(Photo("gcompris-qt-data", f"{activity}-{stem}", f"{path}:{name}", None if reason else img,
                             reason))
    return out


def rcc_files(blob: bytes) -> dict[str, bytes]:
    """The files in a Qt resource file (``rcc`` output, format versions 1–3): path → bytes (zlib-packed ones
    unpacked; zstd-packed ones left out)."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, data, names = struct.unpack(">4I", blob[4:20])
    node = 14 if version < 2 else 22  # a node: name, flags, then children or data; version 2 adds a timestamp

    def name_at(offset: int) -> str:
        n = struct.unpack(">H", blob[names + offset:names + offset + 2])[0]
        return blob[names + offset + 6:names + offset + 6 + 2 * n].decode("utf-16-be")

    out: dict[str, bytes] = {}
    stack = [(0, "")]
    while stack:
        i, prefix = stack.pop()
        at = tree + i * node
        name_offset, flags = struct.unpack(">IH", blob[at:at + 6])
        name = name_at(name_offset) if i else ""
        if flags & 2:  # a directory
            count, first = struct.unpack(">II", blob[at + 6:at + 14])
            stack += [(c, f"{prefix}{name}/" if name else prefix) for c in range(first, first + count)]
            continue
        offset = data + struct.unpack(">I", blob[at + 10:at + 14])[0]
        size = struct.unpack(">I", blob[offset:offset + 4])[0]
        raw = blob[offset + 4:offset + 4 + size]
        if flags & 4:  # zstd
            continue
        out[prefix + name] = zlib.decompress(raw[4:]) if flags & 1 else raw
    return out


def on_gray(img: Image.Image) -> Image.Image:
    """``img`` as RGB; a cut-out (RGBA) over mid-gray."""
    if img.mode != "RGBA":
        return img.convert("RGB")
    return Image.alpha_composite(Image.new("RGBA", img.size, (128, 128, 128, 255)), img).convert("RGB")


def composite(stamp: Image.Image, background: Image.Image, rng: np.random.Generator, tile: int) -> Image.Image:
    """A ``tile``² photo: a random crop of ``background`` (RGB, scaled to short side ``tile``) with the RGBA cut-out
    ``stamp`` pasted on it, its long side 45–90 % of the tile, at a random place inside."""
    bg = shrink(background, tile)
    x, y = int(rng.integers(0, bg.width - tile + 1)), int(rng.integers(0, bg.height - tile + 1))
    out = bg.crop((x, y, x + tile, y + tile))
    scale = tile * rng.uniform(0.45, 0.9) / max(stamp.size)
    obj = stamp.resize((max(1, round(stamp.width * scale)), max(1, round(stamp.height * scale))), Image.LANCZOS)
    out.paste(obj, (int(rng.integers(0, tile - obj.width + 1)), int(rng.integers(0, tile - obj.height + 1))), obj)
    return out


def _picked(package: str, files: list[Path], missing: list[str]) -> list[Photo]:
    """The photos of ``package`` named in a list picked by eye; one line in ``missing`` when it is not installed."""
    found = [f for f in files if f.exists()]
    if not found:
        missing.append(f"Debian's {package} (apt-get install {package})")
    return [Photo(package, f.stem, str(f), opaque_band(Image.open(f))) for f in found]


def opaque_band(img: Image.Image) -> Image.Image:
    """``img`` as RGB; with transparency, only its largest run of rows that are opaque across (a panorama piece
    without its transparent sky)."""
    if "A" not in img.getbands():
        return img.convert("RGB")
    alpha = np.asarray(img.getchannel("A"))
    opaque = (alpha >= 250).mean(1) > 0.99
    best, start = (0, 0), None
    for y, ok in enumerate(list(opaque) + [False]):
        if ok and start is None:
            start = y
        elif not ok and start is not None:
            best, start = max(best, (y - start, start)), None
    rows, top = best
    return img.convert("RGB").crop((0, top, img.width, top + rows))


def shrink(img: Image.Image, short: int) -> Image.Image:
    """``img`` with short side ``short`` (Lanczos)."""
    s = short / min(img.size)
    return img.resize((max(short, round(img.width * s)), max(short, round(img.height * s))), Image.LANCZOS)


def write_crops(img: Image.Image, stem: str, folder: Path, rng: np.random.Generator, tile: int,
                scales: tuple[float, ...], per_scale: int) -> list[str]:
    """``per_scale`` random ``tile``² crops of ``img`` scaled to short side ``tile × s`` for each s: views of the
    whole scene (s = 1) down to 1/s of it. Returns the file names written."""
    names = []
    for s in scales:
        big = shrink(img, round(tile * s))
        for k in range(per_scale if s > 1 else 2):
            x = int(rng.integers(0, big.width - tile + 1))
            y = int(rng.integers(0, big.height - tile + 1))
            names.append(f"{stem}_s{s:g}_{k}.png")
            save_image_atomic(big.crop((x, y, x + tile, y + tile)), folder / names[-1])
    return names


def make_trainer(args, profile: bool = False, size: int | None = None, precision: str | None = None,
                 quickstart: bool = False):
    """pix2gan's Trainer at the unet_256 setting, or (``quickstart``) at the README train command's setting."""
    from pix2gan.config import TrainConfig
    from pix2gan.train import Trainer

    quiet = dict(steps=10**9, device=args.device, precision=precision or args.precision, log_every=10**9,
                 sample_every=10**9, checkpoint_every=10**9)
    if quickstart:
        cfg = TrainConfig(data="builtin:photos", ngf=32, ndf=32, batch_size=16, **quiet)
    else:
        cfg = TrainConfig(data="builtin:photos", size=size or args.train_size, load_scale=1.0,
                          batch_size=args.train_batch, depth=8, ngf=64, ndf=64, d_layers=3, **quiet)
    return Trainer(cfg, "/tmp/pix2gan-bench", progress=False, profile=profile)


def unet_layers(depth: int = 8, ngf: int = 64, size: int = 256):
    """(name, "down" | "up", in channels, out channels, input side) of a U-Net's 4×4 stride-2 layers (pix2gan's
    UNet, 2 output channels), innermost level first."""
    width = [ngf * min(2 ** i, 8) for i in range(depth)]
    for level in range(depth - 1, -1, -1):
        side, c_in, c_out = size >> level, 1 if level == 0 else width[level - 1], width[level]
        yield f"down {level}", "down", c_in, c_out, side
        yield f"up {level}", "up", c_out if level == depth - 1 else 2 * c_out, 2 if level == 0 else c_in, side // 2


def median_ms(fn, iters: int, warmup: int = 3) -> float:
    """Median milliseconds of ``iters`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
