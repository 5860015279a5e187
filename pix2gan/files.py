"""Writing files: the project's one atomic-write mechanism and the image and figure writers built on it.

Checkpoints, configs, logs, images, figures and reports are all written through :func:`replacing`: never a
half-written file at the destination.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Iterator

from PIL import Image

_counter = itertools.count()

#: zlib level of the PNGs pix2gan writes (1: 3–4× faster to encode than Pillow's default 6, files about 10% larger;
#: docs/speed.md has the measurement).
PNG_COMPRESSION = 1


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary name beside ``path`` (same suffix, so writers pick the format); when the block succeeds it
    is renamed to ``path``, when it fails it is removed: never a half-written file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # short (a name near the 255-byte limit must still get one) and unique in its folder
    tmp = path.with_name(f".p2g-{os.getpid()}-{next(_counter)}.tmp{path.suffix}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`replacing`, flushed to disk before the rename: a crash or a failed
    write leaves the previous file (if any) untouched and no partial file behind."""
    with replacing(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def save_image(img: Image.Image, path: Path, png_compression: int = PNG_COMPRESSION) -> None:
    """``img.save(path)``, the format from the suffix; a PNG at zlib level ``png_compression`` (0–9)."""
    img.save(path, **({"compress_level": png_compression} if Path(path).suffix.lower() == ".png" else {}))


def save_image_atomic(img: Image.Image, path: Path, png_compression: int = PNG_COMPRESSION) -> None:
    """:func:`save_image` through :func:`replacing`."""
    with replacing(path) as tmp:
        save_image(img, tmp, png_compression)


def save_figure_atomic(fig, path: Path) -> None:
    """A matplotlib figure's ``savefig`` through :func:`replacing`."""
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100)
