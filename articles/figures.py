"""Library images in a story's body: the Markdown that names them, and the figures and galleries made of them.

An editor writes (or the picker beside the body inserts) one standard Markdown image per line, pointing
at the library by number, with an optional layout after it:

    ![The board with its heat spreader off](image:42 "Caption, if not the library's")
    ![Alt text](image:43){.wide}
    ![Alt text](image:44){.full-bleed}

It reads as what it is, and it survives being copied into another story: the number is the library's.
A paragraph of one such line is a figure; two or more lines in one paragraph are a gallery.

The body is rendered in a forked child (articles/rendering.py) that must not touch the database, so the
parent looks the images up first (``references``) and hands the child ``FigureImage`` values.
"""

import html
import re
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join

# One figure: ![alt](image:N "caption"){.layout}, alone on its line.
FIGURE_LINE_RE = re.compile(
    r'[ ]{0,3}!\[(?P<alt>[^\]\n]{0,250})\]\(image:(?P<id>[1-9]\d{0,9})(?:[ ]+"(?P<caption>[^"\n]{0,300})")?\)'
    r"(?:\{\.(?P<layout>wide|full-bleed|inline)\})?[ ]*\Z"
)
# Every library number the body names, wherever: what the parent loads before rendering.
REFERENCE_RE = re.compile(r"\]\(image:([1-9]\d{0,9})[\s)\"]")

LAYOUTS = ("inline", "wide", "full-bleed")
# The width each layout takes on the page (static/css/site.css: .article is 46rem, wide figures 64rem).
SIZES = {
    "inline": "(min-width: 48rem) 46rem, 100vw",
    "wide": "(min-width: 66rem) 64rem, 100vw",
    "full-bleed": "100vw",
    "gallery": "(min-width: 40rem) 21rem, 100vw",
}
# Focal points are snapped to a 5 x 5 grid of classes (static/css/site.css): the page's CSP forbids
# style attributes, and a quarter of the picture is as close as a crop needs to be.
FOCUS_STEPS = 4


@dataclass(frozen=True)
class FigureImage:
    """What a figure needs of a library image, computed in the parent (URLs come from the storage)."""

    id: int
    alt: str
    caption: str
    credit: str
    width: int
    height: int
    avif_srcset: str
    webp_srcset: str
    jpeg_srcset: str
    fallback_url: str
    largest_url: str
    focus_class: str

    @classmethod
    def of(cls, image):
        return cls(
            id=image.pk,
            alt=image.alt,
            caption=image.caption,
            credit=image.credit,
            width=image.width,
            height=image.height,
            avif_srcset=image.avif_srcset,
            webp_srcset=image.webp_srcset,
            jpeg_srcset=image.jpeg_srcset,
            fallback_url=image.fallback_url,
            largest_url=image.largest_url,
            focus_class=focus_class(image.focal_x, image.focal_y),
        )


@dataclass(frozen=True)
class FigureLine:
    """One line of a figure paragraph, as written."""

    image_id: int
    alt: str
    caption: str | None
    layout: str


def focus_class(x: float, y: float) -> str:
    """The class that crops around a focal point: "focus-25-75" for a quarter across, three down."""

    def step(value):
        return round(min(max(value, 0.0), 1.0) * FOCUS_STEPS) * 100 // FOCUS_STEPS

    return f"focus-{step(x)}-{step(y)}"


# The link every figure wraps its picture in (_figure below) holds its largest rendition.
_FIGURE_LINK_RE = re.compile(r'<a class="figure__link" href="([^"]+)">')


def image_urls(body_html: str) -> list[str]:
    """The largest rendition of every figure of rendered body HTML, in order: for JSON-LD, at no query."""
    return [html.unescape(url) for url in _FIGURE_LINK_RE.findall(body_html)]


def references(body: str) -> set[int]:
    """The library numbers ``body`` names (a superset: one inside a code block counts too)."""
    return {int(number) for number in REFERENCE_RE.findall(body)}


def figure_lines(block: str) -> list[FigureLine] | None:
    """The figures of a Markdown paragraph made only of figure lines, else None."""
    lines = []
    for line in block.split("\n"):
        match = FIGURE_LINE_RE.match(line)
        if match is None:
            return None
        lines.append(
            FigureLine(
                image_id=int(match["id"]),
                alt=match["alt"].strip(),
                caption=match["caption"],
                layout=match["layout"] or "inline",
            )
        )
    return lines


def figures_html(lines: list[FigureLine], images: dict, *, eager: bool) -> str:
    """A figure, or a gallery of several, for lines whose images are known; "" when none is."""
    known = [(line, images[line.image_id]) for line in lines if line.image_id in images]
    known = [(line, image) for line, image in known if image.jpeg_srcset]
    if not known:
        return ""
    if len(known) == 1:
        line, image = known[0]
        return _figure(line, image, sizes=SIZES[line.layout], layout=line.layout, eager=eager)
    layout = "full-bleed" if any(line.layout == "full-bleed" for line, _ in known) else "wide"
    # data-of: phones show one picture at a time, numbered "2 of 6" by the stylesheet.
    frames = [
        _figure(line, image, sizes=SIZES["gallery"], layout="gallery", eager=eager and not n)
        for n, (line, image) in enumerate(known)
    ]
    items = format_html_join("", '<li data-of="{}">{}</li>', ((len(known), frame) for frame in frames))
    return format_html(
        '<div class="gallery gallery--{}" role="group" aria-label="Gallery of {} images">'
        '<ul class="gallery__items">{}</ul></div>',
        layout,
        len(known),
        items,
    )


def _figure(line: FigureLine, image: FigureImage, *, sizes: str, layout: str, eager: bool) -> str:
    alt = line.alt or image.alt
    caption = image.caption if line.caption is None else line.caption.strip()
    sources = format_html_join(
        "",
        '<source type="{}" srcset="{}" sizes="{}">',
        (
            (mime, srcset, sizes)
            for mime, srcset in (("image/avif", image.avif_srcset), ("image/webp", image.webp_srcset))
            if srcset
        ),
    )
    # Below the first screen the browser fetches a figure only as it scrolls near: the first figure of
    # a story may be in view at once, so it is fetched at once.
    loading = "" if eager else ' loading="lazy"'
    picture = format_html(
        '<picture>{}<img src="{}" srcset="{}" sizes="{}" width="{}" height="{}" alt="{}" class="{}"'
        + loading
        + ' decoding="async"></picture>',
        sources,
        image.fallback_url,
        image.jpeg_srcset,
        sizes,
        image.width,
        image.height,
        alt,
        image.focus_class,
    )
    credit = format_html(' <span class="credit">{}</span>', image.credit) if image.credit else ""
    figcaption = format_html("<figcaption>{}{}</figcaption>", caption, credit) if caption or credit else ""
    # The picture links to the largest rendition: a reader can open a product shot at full size, and
    # every picture of a gallery is a stop for the keyboard.
    return format_html(
        '<figure class="figure figure--{}"><a class="figure__link" href="{}">{}</a>{}</figure>',
        layout,
        image.largest_url,
        picture,
        figcaption,
    )
