"""Moving-MNIST-style sequences built offline: digits drawn with PIL's bundled font, bouncing in a square.

``make_moving_digits(n)`` returns ``(T, N, H, W)`` uint8 (the Moving-MNIST layout); overlapping digits combine by
maximum. With ``stochastic=True`` each digit may turn to a new random direction at random times, so the next frame
is genuinely multimodal: an L2 predictor must blur, a learned loss need not.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DIGIT = 28  # glyph box, pixels (as MNIST)


def digit_glyphs(seed: int = 0, per_digit: int = 4) -> list[np.ndarray]:
    """``10 * per_digit`` glyphs ``(28, 28)`` uint8: each digit at a few sizes, stroke widths and slants."""
    rng = np.random.default_rng(seed)
    glyphs = []
    for d in range(10):
        for _ in range(per_digit):
            font = ImageFont.load_default(size=int(rng.integers(26, 33)))
            img = Image.new("L", (DIGIT, DIGIT))
            ImageDraw.Draw(img).text((DIGIT / 2, DIGIT / 2), str(d), fill=255, font=font, anchor="mm",
                                     stroke_width=int(rng.integers(1, 3)), stroke_fill=255)
            img = img.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
            glyphs.append(np.asarray(img))
    return glyphs


def make_moving_digits(n: int = 500, frames: int = 20, size: int = 64, digits: int = 2, seed: int = 0,
                       stochastic: bool = False, turn_prob: float = 0.15, return_positions: bool = False):
    """``n`` sequences of ``frames`` frames, ``(frames, n, size, size)`` uint8.

    Each digit starts at a random place with a random direction and speed 2–4 px/frame and bounces off the walls.
    ``stochastic``: at each frame, with probability ``turn_prob``, a digit turns to a new random direction.
    ``return_positions`` also returns the top-left corners ``(n, digits, frames, 2)`` (for tests).
    """
    rng = np.random.default_rng(seed)
    glyphs = digit_glyphs(seed)
    out = np.zeros((frames, n, size, size), np.uint8)
    positions = np.zeros((n, digits, frames, 2))
    span = size - DIGIT
    for i in range(n):
        for k in range(digits):
            glyph = glyphs[rng.integers(len(glyphs))]
            pos = rng.uniform(0, span, 2)
            angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(2, 4)
            vel = speed * np.array([np.sin(angle), np.cos(angle)])
            for t in range(frames):
                y, x = int(round(pos[0])), int(round(pos[1]))
                positions[i, k, t] = pos
                np.maximum(out[t, i, y:y + DIGIT, x:x + DIGIT], glyph, out=out[t, i, y:y + DIGIT, x:x + DIGIT])
                if stochastic and rng.random() < turn_prob:
                    angle = rng.uniform(0, 2 * np.pi)
                    vel = speed * np.array([np.sin(angle), np.cos(angle)])
                pos = pos + vel
                for axis in range(2):  # bounce
                    if pos[axis] < 0:
                        pos[axis], vel[axis] = -pos[axis], -vel[axis]
                    elif pos[axis] > span:
                        pos[axis], vel[axis] = 2 * span - pos[axis], -vel[axis]
    return (out, positions) if return_positions else out
