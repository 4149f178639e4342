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
