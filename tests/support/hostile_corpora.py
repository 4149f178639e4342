"""The hostile strings and file names of tests/corpora (see its README), as the hostile-input tests take them.

Each input takes a deterministic sample of every text corpus file (``per_file``), so that every file takes
part while the whole run stays near a minute; tests/test_hostile_harness.py checks that no file is left out.
"""

import json
from functools import cache

from tests.test_rendering_corpus import CORPORA, JSON_CORPORA, LINE_CORPORA, REDOS_CORPORA, inputs_of

IMAGES = CORPORA / "images"


def _lines(path):
    """Non-blank lines, '#' comment lines left out (blns.txt headers, fuzzdb comments)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return [line for line in lines if line.strip() and not line.startswith("#")]


@cache
def text_corpora():
    """{corpus file: [its distinct strings]} for every text corpus file (checked by the coverage test)."""
    corpora = {name: inputs_of(name) for name in [*JSON_CORPORA, *LINE_CORPORA]}
    corpora["xss/blns.txt"] = list(dict.fromkeys(_lines(CORPORA / "xss/blns.txt")))
    for name in REDOS_CORPORA:
        entries = json.loads((CORPORA / name).read_text())
        corpora[name] = list(dict.fromkeys(entry["markdown"] for entry in entries))
    for path in sorted((CORPORA / "upload_filenames").glob("*.txt")):
        corpora[str(path.relative_to(CORPORA))] = list(dict.fromkeys(_lines(path)))
    return corpora


def every_string():
    """[(corpus file, string)]: every distinct string of every text corpus, once."""
    seen, out = set(), []
    for name, values in text_corpora().items():
        for value in values:
            if value not in seen:
                seen.add(value)
                out.append((name, value))
    return out


def sample(values, k):
    """k values spread evenly over the list (all of them if there are no more than k): deterministic."""
    if len(values) <= k:
        return list(values)
    return [values[i * len(values) // k] for i in range(k)]


def per_file(k):
    """[(corpus file, string)]: up to k strings from every text corpus file, so each file takes part."""
    seen, out = set(), []
    for name, values in text_corpora().items():
        for value in sample(values, k):
            if value not in seen:
                seen.add(value)
                out.append((name, value))
    return out


def hostile_file_names():
    """Every upload file name of the fuzzdb lists, with their {EXT}/{PHPSCRIPT} placeholders filled in."""
    names = []
    for name, values in text_corpora().items():
        if name.startswith("upload_filenames/"):
            names += [v.replace("{EXT}", "jpg").replace("{PHPSCRIPT}", "shell") for v in values]
    return names
