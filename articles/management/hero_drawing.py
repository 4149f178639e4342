"""A drawn hero illustration for stories without a photo: the demo stories and seed_bulk's articles."""

import hashlib
import io
import random

from PIL import Image, ImageDraw

PALETTES = [
    ((11, 31, 58), (0, 128, 110)),
    ((32, 18, 77), (0, 110, 190)),
    ((60, 16, 40), (200, 90, 40)),
    ((8, 45, 52), (40, 160, 90)),
    ((24, 24, 36), (120, 70, 200)),
]


def draw_hero(slug, size=(1600, 900)):
    """A deterministic abstract 'data centre' illustration: a gradient, server racks and light trails."""
    seed = int.from_bytes(hashlib.sha256(slug.encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 -- a repeatable drawing, not a secret
    dark, light = PALETTES[seed % len(PALETTES)]
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for x in range(width):
        t = x / (width - 1)
        colour = tuple(round(d + (lt - d) * t * 0.85) for d, lt in zip(dark, light, strict=True))
        draw.line([(x, 0), (x, height)], fill=colour)
    rack_width = rng.randint(90, 130)
    for left in range(60, width - rack_width, rack_width + rng.randint(30, 60)):
        top = rng.randint(120, 260)
        draw.rounded_rectangle([left, top, left + rack_width, height - 80], radius=10, fill=(14, 22, 36))
        for y in range(top + 20, height - 100, 28):
            lit = rng.random() < 0.6
            led = (46, 230, 197) if lit else (60, 70, 90)
            draw.rectangle([left + 12, y, left + rack_width - 12, y + 14], fill=(30, 42, 62))
            draw.ellipse([left + rack_width - 28, y + 3, left + rack_width - 20, y + 11], fill=led)
    for _ in range(6):
        y = rng.randint(60, height - 60)
        draw.line([(0, y), (width, y + rng.randint(-120, 120))], fill=(255, 176, 32), width=3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    out.seek(0)
    return out
