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


BOARD_GREENS = [(18, 84, 52), (20, 60, 90), (40, 40, 48), (70, 24, 40)]


def draw_board(name, size=(1600, 1000)):
    """A deterministic drawing of a circuit board seen from above: the demo teardown's pictures.

    Chips with pins, capacitors, traces and a label: enough detail that the formats' sizes compare
    as they would on a product photo's edges, not on a flat gradient."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    rng = random.Random(seed)  # noqa: S311 -- a repeatable drawing, not a secret
    width, height = size
    green = BOARD_GREENS[seed % len(BOARD_GREENS)]
    image = Image.new("RGB", size, (28, 30, 34))
    draw = ImageDraw.Draw(image)
    margin = 60
    draw.rounded_rectangle([margin, margin, width - margin, height - margin], radius=28, fill=green)
    for _ in range(140):  # traces
        x, y = rng.randint(margin, width - margin), rng.randint(margin, height - margin)
        for _ in range(rng.randint(2, 5)):
            nx = min(max(x + rng.choice((-1, 1)) * rng.randint(20, 160), margin), width - margin)
            ny = min(max(y + rng.choice((-1, 1)) * rng.randint(20, 120), margin), height - margin)
            shade = tuple(min(255, c + 45) for c in green)
            draw.line([(x, y), (nx, y), (nx, ny)], fill=shade, width=3)
            x, y = nx, ny
    for _ in range(rng.randint(4, 7)):  # chips with pins
        w, h = rng.randint(110, 300), rng.randint(110, 260)
        left, top = (
            rng.randint(margin + 30, width - margin - w - 30),
            rng.randint(margin + 30, height - margin - h - 30),
        )
        for offset in range(12, w - 8, 14):
            draw.rectangle([left + offset, top - 10, left + offset + 6, top], fill=(200, 200, 190))
            draw.rectangle([left + offset, top + h, left + offset + 6, top + h + 10], fill=(200, 200, 190))
        draw.rounded_rectangle([left, top, left + w, top + h], radius=8, fill=(22, 22, 26))
        draw.text((left + 16, top + 16), f"CX-{rng.randint(100, 999)}", fill=(170, 170, 170))
    for _ in range(rng.randint(20, 40)):  # capacitors
        x, y, r = (
            rng.randint(margin + 20, width - margin - 20),
            rng.randint(margin + 20, height - margin - 20),
            14,
        )
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(190, 180, 150), outline=(90, 80, 60), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    buffer.seek(0)
    return buffer
