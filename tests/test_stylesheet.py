"""static/css/site.css keeps to its own rules: CSS that parses but means something else fails nothing
in a browser, so these read the file itself."""

import re
from pathlib import Path

SITE_CSS = Path(__file__).resolve().parent.parent / "static" / "css" / "site.css"


def selectors():
    """Every selector list of the stylesheet (comments and declarations removed)."""
    css = re.sub(r"/\*.*?\*/", "", SITE_CSS.read_text(), flags=re.S)
    css = re.sub(r"\{[^{}]*\}", ";", css)  # declaration blocks, innermost first
    return [
        part.strip() for part in re.split(r"[;{}]", css) if part.strip() and not part.strip().startswith("@")
    ]


def test_every_class_name_keeps_its_dot():
    # Our class names are BEM (block__element, block--modifier); no HTML element has "__" in its name,
    # so such a word without its "." is an edit gone wrong (it was: "}site-footer__links {").
    bare = [s for s in selectors() if re.search(r"(?<![.\w-])[a-z][\w-]*__[\w-]*", s)]
    assert bare == []


def test_font_sizes_come_from_the_type_scale():
    sizes = re.findall(r"font-size:\s*([^;}]+)", SITE_CSS.read_text())
    off_scale = [
        size for size in sizes if not re.fullmatch(r"var\(--(step-+\d|text-prose)\)|[\d.]+(em|pt)", size)
    ]
    assert off_scale == []


def test_the_braces_balance():
    css = re.sub(r"/\*.*?\*/", "", SITE_CSS.read_text(), flags=re.S)
    depth = 0
    for char in css:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0


def _relative_luminance(colour):
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one, other):
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    light, dark = sorted([_relative_luminance(one), _relative_luminance(other)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def palettes():
    """(name, {variable: colour}) for the light palette (:root) and the dark one (its media query)."""
    css = re.sub(r"/\*.*?\*/", "", SITE_CSS.read_text(), flags=re.S)
    light, dark = css.split("@media (prefers-color-scheme: dark)", 1)
    variables = re.compile(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;")
    return [("light", dict(variables.findall(light))), ("dark", dict(variables.findall(dark)))]


def test_every_colour_of_highlighted_code_reads_on_the_code_background():
    """Code sits on --paper-alt in both schemes; WCAG AA asks 4.5:1 of text that size."""
    weak = []
    for scheme, colours in palettes():
        code_colours = {name: value for name, value in colours.items() if name.startswith("code-")}
        assert len(code_colours) >= 7, f"{scheme}: the code palette is missing"
        weak += [
            f"{scheme} --{name} {value}: {contrast(value, colours['paper-alt']):.2f}:1"
            for name, value in code_colours.items()
            if contrast(value, colours["paper-alt"]) < 4.5
        ]
    assert weak == []


def test_the_contrast_check_can_fail():
    assert contrast("#777777", "#ffffff") < 4.5 < contrast("#595959", "#ffffff")
