"""Image files: find them, open them safely, convert their many modes to arrays."""

from __future__ import annotations

import io
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

from pix2gan.errors import Pix2GanError

#: File name endings that PIL can open (lower case, with the dot).
IMAGE_SUFFIXES = frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)

#: Images above this many pixels are refused (decompression-bomb guard); override with ``max_pixels``.
MAX_PIXELS = 178_956_970


def list_images(root: Path, suffixes: frozenset[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files (or other ``suffixes``) under ``root`` (recursive, sorted, hidden entries skipped, symlinked
    folders not followed)."""
    return [root / rel for rel in iter_images(root, suffixes)]


def iter_images(root: Path, suffixes: frozenset[str] = IMAGE_SUFFIXES) -> Iterator[str]:
    """The paths :func:`list_images` lists, relative to ``root`` in POSIX form, one at a time (``os.scandir``, one
    folder's entries held at a time): a folder's files in name order, then its sub-folders in name order."""
    stack = [("", str(root))]
    while stack:
        rel, folder = stack.pop()
        try:
            entries = [e for e in os.scandir(folder) if not e.name.startswith(".")]
        except OSError:  # unreadable folder: left out, as os.walk leaves it
            continue
        files, dirs = [], []
        for e in entries:
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not e.is_symlink():
                    dirs.append(e.name)
            elif os.path.splitext(e.name)[1].lower() in suffixes:
                files.append(e.name)
        yield from (rel + f for f in sorted(files))
        stack.extend((rel + d + "/", os.path.join(folder, d)) for d in sorted(dirs, reverse=True))


def read_image(path: Path | io.BytesIO, max_pixels: int = MAX_PIXELS, min_short: int | None = None,
               name: str | None = None) -> Image.Image:
    """Open and fully decode an image (a file, or an upload's bytes in a ``BytesIO`` called ``name`` in messages),
    EXIF orientation applied; an animation gives its first frame.

    ``min_short``: the caller will scale the image to this short side, so a JPEG may be decoded at a reduced scale
    (1/2, 1/4, 1/8: ``PIL.Image.draft``) as long as its short side stays at least ``min_short``; several times
    faster for photos much larger than the training scale.

    Raises:
        Pix2GanError: ``"<path>: <reason>"`` for a missing, empty, truncated, non-image or too large file
            (more than ``max_pixels`` pixels, checked from the header before anything is decoded).
    """
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels  # PIL's own bomb check, at our limit
    source, in_memory = path, isinstance(path, io.BytesIO)
    path = name or ("upload" if in_memory else path)  # what messages call it
    try:
        if (source.getbuffer().nbytes if in_memory else os.path.getsize(source)) == 0:
            raise Pix2GanError(f"{path}: empty file")
        with warnings.catch_warnings(record=True) as caught:  # PIL's warnings become one line naming the file
            warnings.simplefilter("always")
            with Image.open(source) as img:
                if img.width * img.height > max_pixels:
                    raise Image.DecompressionBombError(img.width * img.height)
                if min_short is not None and img.format == "JPEG":
                    s = min_short / min(img.size)
                    img.draft(None, (math.ceil(img.width * s), math.ceil(img.height * s)))
                img.load()
                img = ImageOps.exif_transpose(img)
                img.load()
        for message in dict.fromkeys(str(w.message) for w in caught
                                     if not issubclass(w.category, Image.DecompressionBombWarning)):
            print(f"warning: {path}: {message}", file=sys.stderr)
        return img
    except Pix2GanError:
        raise
    except Image.DecompressionBombError:
        raise Pix2GanError(f"{path}: more than {max_pixels} pixels, refused as a possible decompression bomb "
                           f"(raise the limit with --max-pixels)") from None
    except FileNotFoundError:
        raise Pix2GanError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise Pix2GanError(f"{path}: is a folder") from None
    except Image.UnidentifiedImageError:
        raise Pix2GanError(f"{path}: not an image PIL can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise Pix2GanError(f"{path}: cannot decode ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


#: Gray modes with more than 8 bits, read at full precision.
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def to_rgb_float(img: Image.Image) -> np.ndarray:
    """Any PIL mode → ``(H, W, 3)`` float32 sRGB in [0, 1], keeping 16-bit precision.

    16-bit gray (``I;16*``, and ``I`` as PNG 16-bit gray loads) is divided by 65535, float gray (``F``) clipped to
    [0, 1]; palette and alpha modes are converted through RGBA (alpha dropped; see :func:`alpha_channel`).
    """
    if img.mode in HIGH_DEPTH_MODES:
        a = np.asarray(img).astype(np.float32)
        gray = np.clip(a if img.mode == "F" else a / 65535.0, 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(_as_rgb8(img), dtype=np.float32) / 255.0


def to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Any PIL mode → ``(H, W, 3)`` uint8 sRGB (see :func:`to_rgb_float` for the conversions)."""
    if img.mode in HIGH_DEPTH_MODES:
        return (to_rgb_float(img) * 255 + 0.5).astype(np.uint8)
    return np.asarray(_as_rgb8(img), dtype=np.uint8).copy()


def pixels_u8(img: Image.Image) -> np.ndarray | None:
    """An 8-bit image's pixels as they are: gray ``(H, W)`` (L, LA) or sRGB ``(H, W, 3)`` uint8 (other 8-bit modes
    converted as :func:`to_rgb_uint8` does); None for 16-bit and float images, which need :func:`to_rgb_float`."""
    if img.mode in HIGH_DEPTH_MODES:
        return None
    if img.mode in ("L", "LA"):
        return np.asarray(img.getchannel("L"))
    return np.asarray(_as_rgb8(img))


def _as_rgb8(img: Image.Image) -> Image.Image:
    """An 8-bit mode (L, LA, P, PA, RGBA, CMYK, YCbCr, 1, ...) as an RGB image; palettes go through RGBA."""
    if img.mode == "RGB":
        return img
    return img.convert("RGBA").convert("RGB") if img.mode in ("P", "PA") else img.convert("RGB")


def alpha_channel(img: Image.Image) -> np.ndarray | None:
    """The alpha channel as ``(H, W)`` uint8, or None when the image has no transparency."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return np.asarray(img.convert("RGBA"))[..., 3].copy()
    return None
