"""Picture processing with Pillow: prove it is an image, orient, strip metadata, shrink.

Everything here is synchronous and CPU-bound; :mod:`node.services.media` runs it in a
thread so the event loop keeps serving. Only JPEG, PNG, GIF and WebP are accepted (no
SVG: it is a document that can carry scripts). The size in the header is checked before
any pixel is decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

from node.services.blurhash import encode_blurhash

__all__ = [
    "FORMATS",
    "Encoded",
    "ImageError",
    "Processed",
    "Purpose",
    "process_image",
]

Purpose = Literal["attachment", "avatar", "header"]

#: Pillow format → (content type, file extension).
FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
#: Originals larger than this are scaled down (Mastodon keeps at most 3840 × 2160 px).
ORIGINAL_PIXELS = 8_294_400
#: The longest side of a preview (Mastodon's ``small`` is 640 px wide).
PREVIEW_SIDE = 640
AVATAR_SIDE = 400
HEADER_SIZE = (1500, 500)
_BLURHASH_SIDE = 32


class ImageError(ValueError):
    """The upload is not a picture we accept; the message is for the person uploading."""


@dataclass(frozen=True)
class Encoded:
    """One re-encoded picture."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


@dataclass(frozen=True)
class Processed:
    """A processed upload: the cleaned original, its preview and its blurhash."""

    original: Encoded
    preview: Encoded
    blurhash: str


def _encode(
    image: Image.Image,
    fmt: str,
    *,
    frames: list[Image.Image] | None = None,
    duration: int | None = None,
) -> Encoded:
    """Write *image* afresh: no EXIF, XMP, ICC or text chunks travel along (nothing is passed
    to ``save`` and ``info`` is emptied, which is where Pillow would take them from)."""
    image.info = {}
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode not in {"RGB", "L"}:
            image = image.convert("RGB")
        # No ``optimize``: Pillow then encodes the whole picture in one call that holds the
        # GIL, and the event loop stalls for as long (bench/media.py measured 740 ms).
        image.save(out, "JPEG", quality=85)
    elif fmt == "GIF" and frames:
        image.save(
            out, "GIF", save_all=True, append_images=frames, loop=0, duration=duration or 100
        )
    elif fmt == "WEBP":
        if image.mode not in {"RGB", "RGBA"}:
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(out, "WEBP", quality=85)
    else:
        image.save(out, fmt)
    content_type, extension = FORMATS[fmt]
    return Encoded(out.getvalue(), content_type, extension, image.width, image.height)


def _blurhash(image: Image.Image) -> str:
    small = image.convert("RGB")
    small.thumbnail((_BLURHASH_SIDE, _BLURHASH_SIDE))
    raw = small.tobytes()
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    return encode_blurhash(pixels, small.width, small.height)


def _preview_format(fmt: str) -> str:
    return "PNG" if fmt == "GIF" else fmt  # a GIF's preview is a still of its first frame


def process_image(data: bytes, *, max_pixels: int, purpose: Purpose = "attachment") -> Processed:
    """Decode *data*, apply its EXIF orientation, and re-encode it without metadata.

    Attachments keep their aspect (scaled down to :data:`ORIGINAL_PIXELS`) and get a preview
    of at most :data:`PREVIEW_SIDE` px; avatars are cropped square, headers to 3:1.
    Raises :class:`ImageError` for anything that is not a whole JPEG, PNG, GIF or WebP
    within *max_pixels*.
    """
    if not data:
        raise ImageError("the file is empty")
    try:
        source = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except UnidentifiedImageError:
        raise ImageError("the file is not a JPEG, PNG, GIF or WebP picture") from None
    except Image.DecompressionBombError:  # Pillow's own last line, far above max_pixels
        raise ImageError(f"the picture is larger than {max_pixels} pixels") from None
    except (OSError, ValueError, SyntaxError):
        raise ImageError("the picture could not be read") from None
    fmt = source.format or ""
    if fmt not in FORMATS:  # pragma: no cover - open() was limited to these
        raise ImageError("the file is not a JPEG, PNG, GIF or WebP picture")
    width, height = source.size
    if width < 1 or height < 1:
        raise ImageError("the picture has no pixels")
    if width * height > max_pixels:
        raise ImageError(f"the picture is larger than {max_pixels} pixels ({width}×{height})")
    animated = fmt == "GIF" and getattr(source, "n_frames", 1) > 1 and purpose == "attachment"
    if animated and width * height * int(getattr(source, "n_frames", 1)) > max_pixels:
        raise ImageError(f"the animation has more than {max_pixels} pixels in all its frames")
    duration = source.info.get("duration")
    try:
        if animated:
            frames = _frames(source)
            image = frames[0]
        else:
            source.load()
            image = ImageOps.exif_transpose(source)
            frames = []
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ImageError("the picture is damaged or incomplete") from None
    if purpose == "avatar":
        image = ImageOps.fit(image, (min(AVATAR_SIDE, width, height),) * 2)
        fmt = "PNG" if fmt == "GIF" else fmt
    elif purpose == "header":
        image = ImageOps.fit(image, _header_size(width, height))
        fmt = "PNG" if fmt == "GIF" else fmt
    elif not animated and width * height > ORIGINAL_PIXELS:
        scale = (ORIGINAL_PIXELS / (width * height)) ** 0.5
        image = image.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    original = _encode(
        image.copy(),
        fmt,
        frames=frames[1:] if animated else None,
        duration=duration if isinstance(duration, int) else None,
    )
    still = image.copy()
    still.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    preview = _encode(still, _preview_format(fmt))
    return Processed(original, preview, _blurhash(still))


def _header_size(width: int, height: int) -> tuple[int, int]:
    target_w, target_h = HEADER_SIZE
    scale = min(1.0, width / target_w, height / target_h)
    return max(1, int(target_w * scale)), max(1, int(target_h * scale))


def _frames(image: Image.Image) -> list[Image.Image]:
    """Every frame of an animated picture, decoded."""
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frames.append(image.convert("RGBA"))
    return frames
