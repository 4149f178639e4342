"""Bytes of each rendition format, and what encoding them costs: the seed hero and the teardown gallery.

Every picture is prepared as an upload is (articles/images.py), then encoded at each rendition width in
every format the site writes, side by side in one run (the encode times share the machine's noise). It
also prints AVIF at a slower and a faster speed beside the site's, which is the trade-off behind
images.AVIF_OPTIONS. A browser that takes AVIF gets the AVIF column; before the library it got WebP.

    .venv/bin/python bench/image_formats.py
"""

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SEED_SLUG, setup_django  # noqa: E402

setup_django(defaults={"DJANGO_SETTINGS_MODULE": "tests.settings"})

from django.core.files import File  # noqa: E402
from PIL import Image  # noqa: E402

from articles import images  # noqa: E402
from articles.management.hero_drawing import draw_hero  # noqa: E402

TEARDOWN = Path(__file__).resolve().parent.parent / "articles" / "demo" / "teardown"
GALLERY = [
    "package-detail",
    "board-bottom",
    "heat-spreader",
    "vrm-close-up",
    "optical-cage",
    "connector-edge",
]
OTHER_AVIF_SPEEDS = {"avif s6": 6, "avif s8": 8}


def encode(frame, kind, options=None):
    pixels = images._flatten(frame) if kind == "jpeg" else frame
    started = time.perf_counter()
    buffer = io.BytesIO()
    pixels.save(buffer, kind.upper(), **(options or images._encode_options(kind.upper())))
    return len(buffer.getvalue()), time.perf_counter() - started


def measure(name, upload):
    prepared = images.prepare_upload(upload)
    with Image.open(io.BytesIO(prepared.content.read())) as im:
        im.load()
        source = im.convert("RGB")
    rows = []
    for width in images._rendition_widths(source.width):
        size = (width, max(1, round(source.height * width / source.width)))
        frame = source if width == source.width else source.resize(size, Image.Resampling.LANCZOS)
        row = {"width": width}
        for kind in images.RENDITION_FORMATS:
            row[kind] = encode(frame, kind)
        if "avif" in images.RENDITION_FORMATS:
            for label, speed in OTHER_AVIF_SPEEDS.items():
                row[label] = encode(frame, "avif", {**images.AVIF_OPTIONS, "speed": speed})
        rows.append(row)
    return name, rows


def kib(n):
    return f"{n / 1024:7.1f}"


def main():
    formats = ", ".join(images.RENDITION_FORMATS)
    print(f"formats written: {formats}; AVIF {images.AVIF_OPTIONS}, beside it AVIF at speeds 6 and 8")
    pictures = [measure("seed hero", File(draw_hero(SEED_SLUG), name="seed.jpg"))]
    for name in GALLERY:
        with (TEARDOWN / f"{name}.jpg").open("rb") as fh:
            pictures.append(measure(name, File(io.BytesIO(fh.read()), name=f"{name}.jpg")))
    kinds = [*images.RENDITION_FORMATS] + (
        list(OTHER_AVIF_SPEEDS) if "avif" in images.RENDITION_FORMATS else []
    )
    print(f"{'picture':<16}{'width':>6}" + "".join(f"{kind + ' KiB':>15}" for kind in kinds))
    totals = {kind: [0, 0.0] for kind in kinds}
    gallery_480 = dict.fromkeys(kinds, 0)
    for name, rows in pictures:
        for row in rows:
            print(f"{name:<16}{row['width']:>6}" + "".join(f"{kib(row[kind][0]):>15}" for kind in kinds))
            for kind in kinds:
                totals[kind][0] += row[kind][0]
                totals[kind][1] += row[kind][1]
                if name != "seed hero" and row["width"] == 480:
                    gallery_480[kind] += row[kind][0]
    print()
    print("all widths, all pictures:")
    for kind in kinds:
        print(f"  {kind:<10} {kib(totals[kind][0])} KiB, encoding {totals[kind][1]:6.2f} s")
    print("what a phone loads for the six-picture gallery (480 px each):")
    for kind in kinds:
        print(f"  {kind:<10} {kib(gallery_480[kind])} KiB")
    if "avif" in totals:
        for before in ("webp", "jpeg"):
            saved = 1 - totals["avif"][0] / totals[before][0]
            print(f"AVIF against {before.upper()}: {saved:.0%} fewer bytes over every width")


if __name__ == "__main__":
    main()
