"""Picture processing and blurhash, without a node: metadata is gone, sizes are right, bad
input is refused (SECURITY.md row 16: ``test_media_reencoded_and_type_allowlisted``)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from node.services.blurhash import BASE83, base83, encode_blurhash
from node.services.images import ORIGINAL_PIXELS, ImageError, process_image

LIMIT = 33_177_600


def _decode83(text: str) -> int:
    value = 0
    for char in text:
        value = value * 83 + BASE83.index(char)
    return value


def _encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def test_base83_digits() -> None:
    assert base83(0, 1) == "0"
    assert base83(82, 1) == "~"
    assert base83(83, 2) == "10"
    assert _decode83(base83(123_456, 4)) == 123_456


def _ac(value: str, index: int) -> tuple[int, int, int]:
    """The quantised (r, g, b) of AC component *index* (0 = the first after the DC)."""
    packed = _decode83(value[6 + 2 * index : 8 + 2 * index])
    return packed // (19 * 19), packed // 19 % 19, packed % 19


def test_blurhash_of_one_colour() -> None:
    value = encode_blurhash([(255, 0, 0)] * (8 * 6), 8, 6)
    assert len(value) == 4 + 2 * 4 * 4
    assert value[0] == base83(3 + 3 * 9, 1)  # 4×4 components
    assert _decode83(value[2:6]) == 0xFF0000  # the average colour, back in sRGB
    grey = encode_blurhash([(128, 128, 128)] * (8 * 6), 8, 6)
    assert _decode83(grey[2:6]) == 0x808080
    # Grey stays grey in every component: red, green and blue move together.
    assert all(len(set(_ac(grey, i))) == 1 for i in range(15))


def test_blurhash_follows_the_picture() -> None:
    # Dark left half, light right half: the change runs left to right; the average is grey.
    width, height = 16, 8
    pixels = [
        (0, 0, 0) if x < width // 2 else (255, 255, 255)
        for y in range(height)
        for x in range(width)
    ]
    value = encode_blurhash(pixels, width, height, x_components=2, y_components=2)
    assert _ac(value, 0)[0] < 9  # the first horizontal component is negative
    assert _ac(value, 0)[0] < _ac(value, 1)[0]  # and stronger than the vertical one
    grey = _decode83(value[2:6]) >> 16
    assert 180 < grey < 200  # sRGB of linear 0.5
    with pytest.raises(ValueError, match="components"):
        encode_blurhash(pixels, width, height, x_components=10)


def test_jpeg_loses_exif_xmp_and_comments_and_stands_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 270°
    exif[0x8825] = {1: "N", 2: (52.0, 5.0, 30.0)}
    data = _encoded(
        Image.new("CMYK", (30, 20), (0, 255, 255, 0)),
        "JPEG",
        exif=exif.tobytes(),
        comment=b"secret comment",
        xmp=b"<x:xmpmeta>secret-xmp</x:xmpmeta>",
    )
    assert b"secret-xmp" in data
    result = process_image(data, max_pixels=LIMIT)
    body = result.original.data
    assert b"secret" not in body and b"Exif" not in body and b"xmpmeta" not in body
    cleaned = Image.open(io.BytesIO(body))
    assert cleaned.size == (20, 30) and cleaned.mode == "RGB"
    assert result.original.content_type == "image/jpeg"
    assert (result.preview.width, result.preview.height) == (20, 30)


def test_png_text_and_webp_exif_are_dropped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret author")
    png = _encoded(Image.new("RGBA", (10, 10), (1, 2, 3, 128)), "PNG", pnginfo=info)
    result = process_image(png, max_pixels=LIMIT)
    assert b"secret author" not in result.original.data
    assert Image.open(io.BytesIO(result.original.data)).mode == "RGBA"

    exif = Image.Exif()
    exif[0x010F] = "secret camera"
    webp = _encoded(Image.new("RGB", (10, 10)), "WEBP", exif=exif.tobytes())
    assert b"secret camera" in webp
    result = process_image(webp, max_pixels=LIMIT)
    assert b"secret camera" not in result.original.data
    assert result.original.content_type == "image/webp"


def test_animated_gif_keeps_its_frames_and_previews_as_a_still() -> None:
    frames = [Image.new("RGB", (12, 12), colour) for colour in ("red", "green", "blue")]
    data = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    result = process_image(data, max_pixels=LIMIT)
    assert getattr(Image.open(io.BytesIO(result.original.data)), "n_frames", 1) == 3
    assert result.preview.content_type == "image/png"
    with pytest.raises(ImageError, match="frames"):
        process_image(data, max_pixels=12 * 12 * 2)


def test_sizes_for_attachments_avatars_and_headers() -> None:
    big = _encoded(Image.new("RGB", (4000, 2500), "white"), "JPEG")
    result = process_image(big, max_pixels=LIMIT)
    assert result.original.width * result.original.height <= ORIGINAL_PIXELS
    assert max(result.preview.width, result.preview.height) == 640
    photo = _encoded(Image.new("RGB", (900, 600), "white"), "PNG")
    avatar = process_image(photo, max_pixels=LIMIT, purpose="avatar")
    assert (avatar.original.width, avatar.original.height) == (400, 400)
    header = process_image(photo, max_pixels=LIMIT, purpose="header")
    assert (header.original.width, header.original.height) == (900, 300)
    small = _encoded(Image.new("RGB", (100, 50), "white"), "PNG")
    assert process_image(small, max_pixels=LIMIT, purpose="avatar").original.width == 50


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GIF89a but not really", "not a JPEG"),
        (b'{"type": "Create", "@context": "https://www.w3.org/ns/activitystreams"}', "not a JPEG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a JPEG"),
        (_encoded(Image.new("RGB", (8, 8)), "BMP"), "not a JPEG"),
        (_encoded(Image.new("RGB", (8, 8)), "TIFF"), "not a JPEG"),
        (_encoded(Image.new("RGB", (100, 100)), "PNG"), "larger than"),
        (_encoded(Image.new("RGB", (64, 64), "red"), "JPEG")[:300], "could not be read|damaged"),
        (_encoded(Image.effect_noise((60, 60), 64).convert("RGB"), "JPEG")[:-900], "damaged"),
    ],
    ids=[
        "empty",
        "fake-gif",
        "json",
        "svg",
        "bmp",
        "tiff",
        "too-many-pixels",
        "truncated-header",
        "truncated-pixels",
    ],
)
def test_what_is_not_an_acceptable_picture(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        process_image(data, max_pixels=5000)
