"""Picture processing: what one typical 12 MP phone photo costs the node.

A 4000 × 3000 JPEG with photo-like content (gradients plus sensor-like noise, quality 92,
EXIF with GPS) is processed the way ``POST /api/v2/media`` does it: decode, orient, scale
to the 8.3 MP cap, re-encode without metadata, a 640 px preview and a blurhash. It is also
processed as an avatar and a header. While one upload runs in a thread
(``asyncio.to_thread``, as the node runs it), a 1 ms ticker measures how late the event
loop gets to run.

    python -m bench.media [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time

from PIL import Image

from bench.report import machine, median, table
from node.services.blurhash import encode_blurhash
from node.services.images import Purpose, process_image

__all__ = ["main", "photo"]

LIMIT = 33_177_600


def photo(width: int = 4000, height: int = 3000) -> bytes:
    """A JPEG that compresses like a photo (about 3–6 MB at 12 MP), with EXIF GPS."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 16)
    image = Image.merge("RGB", (gradient, noise, Image.blend(gradient, noise, 0.5)))
    exif = Image.Exif()
    exif[0x010F] = "Phone"
    exif[0x8825] = {1: "N", 2: (52.0, 5.0, 30.0), 3: "E", 4: (4.0, 53.0, 10.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def _time(data: bytes, purpose: Purpose, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each run (CPU time is what a busy machine does not
    inflate)."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        process_image(data, max_pixels=LIMIT, purpose=purpose)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return wall, cpu


async def _loop_lag(data: bytes) -> tuple[float, float, int]:
    """(processing ms, worst ticker delay ms, ticks) with processing in a thread."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - start) * 1000 - 1)

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    await asyncio.to_thread(process_image, data, max_pixels=LIMIT)
    elapsed = (time.perf_counter() - start) * 1000
    done.set()
    await task
    return elapsed, max(lags, default=0.0), len(lags)


def run(runs: int) -> str:
    data = photo()
    rows: list[list[object]] = []
    for purpose in ("attachment", "avatar", "header"):
        wall, cpu = _time(data, purpose, runs)
        rows.append([purpose, f"{len(data) / 1e6:.1f} MB", median(wall), max(wall), median(cpu)])
    thumb = Image.open(io.BytesIO(data)).convert("RGB")
    thumb.thumbnail((32, 32))
    raw = thumb.tobytes()
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    hash_times = []
    for _ in range(runs):
        start = time.perf_counter()
        encode_blurhash(pixels, thumb.width, thumb.height)
        hash_times.append((time.perf_counter() - start) * 1000)
    rows.append(["blurhash alone (32 px, 4×4)", "", median(hash_times), max(hash_times), ""])
    elapsed, lag, ticks = asyncio.run(_loop_lag(data))
    return "\n".join(
        [
            f"Machine: {machine()}",
            table(
                f"Processing a 4000 × 3000 JPEG ({runs} runs)",
                ["purpose", "upload", "median ms", "max ms", "median CPU ms"],
                rows,
            ),
            table(
                "Event loop while one upload is processed in a thread",
                ["processing ms", "1 ms ticks that ran", "worst tick delay ms"],
                [[elapsed, ticks, lag]],
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    print(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
