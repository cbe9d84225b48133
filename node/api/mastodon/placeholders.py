"""The default avatar and header image, so Account URLs are never null (PROTOCOL.md C34).

Tusky and other apps require ``avatar`` and ``header`` to be URLs; an account without a
picture points here (the same paths Mastodon uses for its "missing" images).
"""

from __future__ import annotations

import struct
import zlib

from aiohttp import web

from node.api.mastodon.entities import DEFAULT_AVATAR_PATH, DEFAULT_HEADER_PATH

__all__ = ["routes", "solid_png"]

routes = web.RouteTableDef()


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one colour (PNG spec §5: signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


_AVATAR = solid_png(120, 120, (0x9B, 0xA4, 0xB0))
_HEADER = solid_png(300, 100, (0xD9, 0xE1, 0xE8))


def _image(body: bytes) -> web.Response:
    return web.Response(
        body=body,
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@routes.get(DEFAULT_AVATAR_PATH)
async def avatar(_request: web.Request) -> web.StreamResponse:
    """The picture of an account that has none."""
    return _image(_AVATAR)


@routes.get(DEFAULT_HEADER_PATH)
async def header(_request: web.Request) -> web.StreamResponse:
    """The header of an account that has none."""
    return _image(_HEADER)
