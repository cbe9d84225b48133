"""BlurHash encoding (the woltapp/blurhash algorithm, as Mastodon sends it in ``blurhash``).

A hash is a few dozen base-83 characters describing a blurred picture with a handful of
cosine components; apps draw it while the real picture loads. We encode from a small
thumbnail (≈32 px), so pure Python is fast enough and needs no extra dependency. 4 × 4
components, as Mastodon's ``BlurhashTranscoder`` uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["BASE83", "base83", "encode_blurhash"]

BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def base83(value: int, length: int) -> str:
    """*value* as *length* base-83 digits, most significant first."""
    return "".join(BASE83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))


def _to_linear(channel: int) -> float:
    v = channel / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _to_srgb(value: float) -> int:
    v = min(max(value, 0.0), 1.0)
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def encode_blurhash(
    pixels: Sequence[tuple[int, int, int]],
    width: int,
    height: int,
    *,
    x_components: int = 4,
    y_components: int = 4,
) -> str:
    """The BlurHash of an RGB picture given row by row as *pixels* (``width × height``)."""
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("blurhash components must be between 1 and 9")
    if width < 1 or height < 1 or len(pixels) != width * height:
        raise ValueError("pixels do not match the size")
    linear = [(_to_linear(r), _to_linear(g), _to_linear(b)) for r, g, b in pixels]
    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        cos_y = [math.cos(math.pi * j * y / height) for y in range(height)]
        for i in range(x_components):
            cos_x = [math.cos(math.pi * i * x / width) for x in range(width)]
            r = g = b = 0.0
            for y in range(height):
                row = y * width
                for x in range(width):
                    basis = cos_x[x] * cos_y[y]
                    lr, lg, lb = linear[row + x]
                    r += basis * lr
                    g += basis * lg
                    b += basis * lb
            scale = (1 if i == 0 and j == 0 else 2) / (width * height)
            factors.append((r * scale, g * scale, b * scale))
    dc, ac = factors[0], factors[1:]
    out = base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(c) for f in ac for c in f)
        quantised = int(max(0, min(82, math.floor(actual_max * 166 - 0.5))))
        maximum = (quantised + 1) / 166
        out += base83(quantised, 1)
    else:
        maximum = 1.0
        out += base83(0, 1)
    out += base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for f in ac:
        q = [int(max(0, min(18, math.floor(_sign_pow(c / maximum, 0.5) * 9 + 9.5)))) for c in f]
        out += base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return out
