"""articles.images against the image corpus (tests/corpora/images) and generated edge cases.

Which corpus files must be refused is derived from the manifest's Pillow 13.0.0 observations (see
expected_code): a file is refused when it is not JPEG/PNG/WebP/GIF (MPO counts as JPEG), when Pillow could
not open it or fully decode its first frame, when a frame walk hit a decompression bomb, or when it has more
than MAX_FRAMES frames. Everything else, however odd its metadata, is accepted and sanitised. So BMP/ICO
bombs count as unsupported formats, and sugarshack_no_data.mpo (broken second picture) is accepted.
"""

import io
import json
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.db import IntegrityError, connection, transaction
from PIL import Image, ImageChops, ImageCms, ImageStat

from articles import images
from articles.images import delete_renditions, prepare_upload, write_renditions
from articles.models import Image as LibraryImage
from tests.factories import jpeg_upload, library_image

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpora" / "images"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())["files"]
FILENAMES = REPO / "tests" / "corpora" / "upload_filenames"

PILLOW_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF"}
ALLOWED_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif"}
# Categories whose every file is hostile; the manifest-derived rule must agree with them.
REFUSED_CATEGORIES = {"bombs", "fuzz_crashers", "other_formats", "svg_xss", "fake_images"}
# Lower-cased byte strings from the payload files (see tests/corpora/README.md) that must not reach storage.
PAYLOAD_MARKERS = (
    b"<script",
    b"<?php",
    b"<?=$_",
    b"phpinfo",
    b"system(",
    b"passwd",
    b"alert(",
    b"onload=",
    b"onclick=",
    b"onmouseover=",
    b"<svg",
    b"xpacket",
    b"content-type",
    b"content-location",
)
TRANSPOSES = [None, *Image.Transpose]


def expected_code(entry):
    """The ValidationError code the corpus file must get, or None if it must be accepted."""
    seen = entry["observed_pillow_13_0_0"]
    header, suffix = seen["open"], Path(entry["file"]).suffix.lower()
    if isinstance(header, str):  # Image.open raised; the format allowlist is checked before pixel counts
        if "DecompressionBombError" in header and suffix in ALLOWED_SUFFIXES:
            return "too_many_pixels"
        return "unsupported_format"
    if header["format"] not in PILLOW_FORMATS:
        return "unsupported_format"
    if str(seen.get("load")).startswith("raise"):
        return "damaged"
    if "DecompressionBombError" in str(seen.get("load_all_frames")):
        return "too_many_pixels"
    if header["n_frames"] > images.MAX_FRAMES:
        return "too_many_frames"
    return None


def entries(accepted):
    return [pytest.param(e, id=e["file"]) for e in MANIFEST if (expected_code(e) is None) == accepted]


def corpus_file(entry_or_path):
    path = entry_or_path["file"] if isinstance(entry_or_path, dict) else entry_or_path
    return ContentFile((CORPUS / path).read_bytes(), name=Path(path).name)


def opened(data):
    im = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP"])
    im.load()
    return im


def mean_difference(a, b):
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def assert_upright(out, reference):
    """The output matches reference, and matches it better than any other flip or rotation would."""
    candidates = [(t, reference if t is None else reference.transpose(t)) for t in TRANSPOSES]
    scores = {t: mean_difference(out, c) for t, c in candidates if c.size == out.size}
    assert scores[None] < 8, scores
    assert min(v for t, v in scores.items() if t is not None) > 30, scores


def media_files():
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*"))


def ingest(upload, storage):
    """The upload path the admin will use: prepare, store the original, write renditions."""
    prepared = prepare_upload(upload)
    name = storage.save(f"articles/{prepared.content.name}", prepared.content)
    return name, write_renditions(name, storage)


def stored_bytes(storage, name, renditions):
    names = [name] + [s[k] for s in renditions["sizes"] for k in ("webp", "jpeg")]
    return {n: storage.open(n).read() for n in names}


def png_declaring(width, height):
    """A PNG whose header claims width x height but which carries almost no pixel data."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def gif_with_growing_frame(offset):
    """A 16x16 two-frame GIF whose second frame sits at (offset, offset), growing Pillow's canvas."""
    frames = [Image.new("P", (16, 16), colour) for colour in (0, 1)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 255, 255])
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    data = bytearray(buffer.getvalue())
    descriptor = [m.start() for m in re.finditer(rb"\x21\xf9\x04", data)][1] + 8  # after the 2nd GCE
    assert data[descriptor] == 0x2C
    struct.pack_into("<HH", data, descriptor + 1, offset, offset)
    return bytes(data)


def photo(width, height, mode="RGB", fmt="JPEG"):
    """A generated picture with some structure, encoded as fmt."""
    im = Image.linear_gradient("L").resize((width, height)).convert(mode)
    if mode == "RGBA":
        im.putalpha(Image.linear_gradient("L").resize((width, height)))  # transparent along the top
    buffer = io.BytesIO()
    im.save(buffer, fmt)
    return buffer.getvalue()


# --- the corpus ------------------------------------------------------------------------------------


def test_manifest_rule_refuses_every_hostile_category():
    hostile = [
        e
        for e in MANIFEST
        if e["category"] in REFUSED_CATEGORIES
        or e["file"].startswith("fuzzdb/")
        or e["file"] in ("h5sc/test.svg", "h5sc/test.html")
    ]
    assert len(hostile) > 80
    assert [e["file"] for e in hostile if expected_code(e) is None] == []


@pytest.mark.parametrize("entry", entries(accepted=False))
def test_refused_file_gets_a_specific_error_and_stores_nothing(entry):
    before = media_files()
    with pytest.raises(ValidationError) as caught:
        ingest(corpus_file(entry), default_storage)
    assert caught.value.code == expected_code(entry)
    message = caught.value.messages[0]
    assert len(message) > 30 and "%(" not in message
    assert media_files() == before


@pytest.mark.parametrize("entry", entries(accepted=True))
def test_accepted_file_is_reencoded_upright_and_metadata_free(entry):
    prepared = prepare_upload(corpus_file(entry))
    data = prepared.content.read()
    out = opened(data)
    assert out.format == prepared.format in {"JPEG", "PNG", "WEBP"}
    assert out.size == (prepared.width, prepared.height)
    assert list(out.size) == entry["observed_pillow_13_0_0"]["exif_transpose"]["size_after_exif_transpose"]
    assert getattr(out, "n_frames", 1) == 1
    assert len(out.getexif()) == 0
    assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment"} & set(out.info)
    assert getattr(out, "text", {}) == {}
    assert prepared.content.name.endswith({"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[prepared.format])


def test_animated_gif_keeps_only_its_first_frame():
    prepared = prepare_upload(corpus_file("pillow/animated/iss634.gif"))
    with Image.open(CORPUS / "pillow/animated/iss634.gif") as source:
        first = source.convert("RGB")
    assert prepared.format == "PNG"
    assert mean_difference(opened(prepared.content.read()), first) == 0


# --- bombs and caps --------------------------------------------------------------------------------

BOMB_RUNNER = textwrap.dedent(
    """
    import json, resource, sys, time
    import django
    from django.conf import settings
    settings.configure()
    django.setup()
    from django.core.exceptions import ValidationError
    from django.core.files.base import ContentFile
    from PIL import Image
    from articles.images import prepare_upload

    Image.init()  # load every plugin before the cap, so only decoding can need new memory
    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    headroom = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, vm + headroom))
    results = {}
    for path in sys.argv[2:]:
        with open(path, "rb") as fh:
            upload = ContentFile(fh.read(), name="upload")
        start = time.perf_counter()
        try:
            prepare_upload(upload)
            code = None
        except ValidationError as error:
            code = error.code
        results[path] = {"code": code, "seconds": time.perf_counter() - start}
    try:
        bytearray(2 * headroom)  # the control: the cap really is in force
        results["control"] = "allocated"
    except MemoryError:
        results["control"] = "MemoryError"
    print(json.dumps(results))
    """
)
BOMB_HEADROOM = 192 * 1024 * 1024
GENERATED_BOMBS = {
    "png_100_megapixels.png": lambda: png_declaring(10_000, 10_000),
    "png_just_over_cap.png": lambda: png_declaring(6_400, 6_400),
    "gif_frame_extents_49_megapixels.gif": lambda: gif_with_growing_frame(7_000),
}
BOMB_ENTRIES = [e for e in MANIFEST if e["category"] == "bombs" or e["file"].startswith("fuzzdb/")]


@pytest.fixture(scope="module")
def bomb_results(tmp_path_factory):
    """Run every bomb through prepare_upload in one child process whose address space is capped."""
    pytest.importorskip("resource")
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc to size the address-space cap")
    folder = tmp_path_factory.mktemp("bombs")
    paths = {e["file"]: str(CORPUS / e["file"]) for e in BOMB_ENTRIES}
    for name, build in GENERATED_BOMBS.items():
        (folder / name).write_bytes(build())
        paths[name] = str(folder / name)
    run = subprocess.run(  # noqa: S603 - our own interpreter and script, no shell
        [sys.executable, "-c", BOMB_RUNNER, str(BOMB_HEADROOM), *paths.values()],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    return {key: results[path] for key, path in paths.items()} | {"control": results["control"]}


def test_bomb_runner_cap_is_in_force(bomb_results):
    assert bomb_results["control"] == "MemoryError"


@pytest.mark.parametrize(
    ("key", "code"),
    [pytest.param(e["file"], expected_code(e), id=e["file"]) for e in BOMB_ENTRIES]
    + [pytest.param(name, "too_many_pixels", id=name) for name in GENERATED_BOMBS],
)
def test_bomb_is_refused_fast_without_a_large_allocation(bomb_results, key, code):
    # A decode attempt would either hit the cap (MemoryError, reported as "damaged") or take long.
    assert bomb_results[key]["code"] == code
    assert bomb_results[key]["seconds"] < 2


class BoundedReader(io.BytesIO):
    """An upload with no .size that fails any read() not bounded by the cap (a stream could be endless)."""

    def read(self, size=-1):
        assert 0 < size <= images.MAX_UPLOAD_BYTES + 1, f"unbounded read({size})"
        return super().read(size)


def test_file_over_the_byte_cap_is_refused_whatever_size_it_claims():
    body = b"\x89PNG\r\n\x1a\n" + bytes(images.MAX_UPLOAD_BYTES)
    lying = ContentFile(body, name="big.png")
    lying.size = 1000
    for upload in (ContentFile(body, name="big.png"), lying, BoundedReader(body)):
        with pytest.raises(ValidationError) as caught:
            prepare_upload(upload)
        assert caught.value.code == "file_too_large"
        assert "10 MB" in caught.value.messages[0]


def test_file_at_the_byte_cap_is_judged_on_its_content():
    with pytest.raises(ValidationError) as caught:
        prepare_upload(ContentFile(bytes(images.MAX_UPLOAD_BYTES), name="zeros.jpg"))
    assert caught.value.code == "unsupported_format"


def test_empty_file_is_refused():
    with pytest.raises(ValidationError) as caught:
        prepare_upload(ContentFile(b"", name="empty.jpg"))
    assert caught.value.code == "empty"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (png_declaring(6_400, 6_400), "too_many_pixels"),  # 40.96 MP: over our cap, far under Pillow's
        (png_declaring(6_000, 6_000), "damaged"),  # 36 MP: passes the cap, then fails to decode
        (gif_with_growing_frame(7_000), "too_many_pixels"),
    ],
    ids=["over-cap", "under-cap", "gif-extents"],
)
def test_pixel_cap_is_checked_on_the_header_before_decoding(data, code):
    global_limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ValidationError) as caught:
        prepare_upload(ContentFile(data, name="huge.png"))
    assert caught.value.code == code
    assert global_limit == Image.MAX_IMAGE_PIXELS


def test_pixel_cap_is_read_at_call_time(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    with pytest.raises(ValidationError) as caught:
        prepare_upload(corpus_file("pillow/valid_baseline/hopper.png"))  # 128 x 128
    assert caught.value.code == "too_many_pixels"
    assert "0.01 megapixels" in caught.value.messages[0]


@pytest.mark.parametrize(("setting", "value"), [("MAX_FRAMES", 10), ("MAX_ANIMATION_PIXELS", 245 * 245 * 10)])
def test_long_animations_are_refused(monkeypatch, setting, value):
    monkeypatch.setattr(images, setting, value)
    for name in ("iss634.gif", "iss634.webp", "iss634.apng"):  # 41-42 frames of 245 x 245
        with pytest.raises(ValidationError) as caught:
            prepare_upload(corpus_file(f"pillow/animated/{name}"))
        assert caught.value.code == "too_many_frames"
        assert "at most 10" in caught.value.messages[0]


# --- orientation and metadata ----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(9))
def test_exif_orientation_examples_come_out_landscape_and_upright(n):
    prepared = prepare_upload(corpus_file(f"exif_orientation/Landscape_{n}.jpg"))
    assert (prepared.width, prepared.height) == (1800, 1200)
    with Image.open(CORPUS / "exif_orientation/Landscape_1.jpg") as reference:
        assert_upright(opened(prepared.content.read()).reduce(10), reference.convert("RGB").reduce(10))


@pytest.mark.parametrize(
    "name", [f"hopper_orientation_{n}.{ext}" for n in range(2, 9) for ext in ("jpg", "webp")]
)
def test_pillow_orientation_files_match_the_baseline(name):
    prepared = prepare_upload(corpus_file(f"pillow/orientation/{name}"))
    with Image.open(CORPUS / "pillow/valid_baseline/hopper.jpg") as reference:
        assert_upright(opened(prepared.content.read()), reference)


def test_bomb_warning_is_an_error_even_when_our_own_cap_would_allow_it(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 10**12)
    side = int((1.5 * Image.MAX_IMAGE_PIXELS) ** 0.5)  # Pillow warns past MAX_IMAGE_PIXELS, raises past 2x
    with pytest.raises(ValidationError) as caught:
        prepare_upload(ContentFile(png_declaring(side, side), name="warned.png"))
    assert caught.value.code == "too_many_pixels"


def test_sixteen_bit_grey_is_scaled_not_clipped():
    buffer = io.BytesIO()
    Image.new("I;16", (8, 8), 32768).save(buffer, "PNG")  # 50% grey in 16 bits
    out = opened(prepare_upload(ContentFile(buffer.getvalue(), name="grey16.png")).content.read())
    assert out.getpixel((0, 0)) == (127, 127, 127)


def test_icc_profile_is_converted_to_srgb_then_dropped():
    path = CORPUS / "pillow/metadata/icc_profile_big.jpg"  # a 400 KB "TIFF RGB" profile, not sRGB
    with Image.open(path) as source:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(source.info["icc_profile"]))
        naive = source.convert("RGB")
        srgb = ImageCms.profileToProfile(naive, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    out = opened(prepare_upload(corpus_file("pillow/metadata/icc_profile_big.jpg")).content.read())
    assert "icc_profile" not in out.info
    assert mean_difference(out, srgb) < 3 < 6 < mean_difference(out, naive)


def test_gps_exif_is_stripped():
    path = "pillow/metadata/exif_gps.jpg"
    with Image.open(CORPUS / path) as source:
        assert source.getexif().get_ifd(0x8825)  # the input really carries a GPS IFD
    data = prepare_upload(corpus_file(path)).content.read()
    assert len(opened(data).getexif()) == 0
    assert b"Exif" not in data and b"GPS" not in data


PAYLOAD_FILES = [
    e["file"]
    for e in MANIFEST
    if e["category"] in ("metadata_payloads", "resize_survivors", "polyglot") and expected_code(e) is None
]
# Its PHP payload *is* pixel data, laid out to come out of deflate verbatim: any lossless re-encoding
# (every zlib level tried) reproduces it. It is inert here (stored as .png, served as image/png, never
# included or executed); the lossy renditions do drop it.
PIXEL_PAYLOAD = "payloadsallthethings/resize_survivors/PNG_32x32_resize_bypass_use_LFI.png"


@pytest.mark.parametrize("path", PAYLOAD_FILES)
def test_payloads_do_not_survive_into_any_stored_file(path):
    source = (CORPUS / path).read_bytes().lower()
    if "resize_survivors" not in path:  # these hide their payload in the pixels, so no plain marker
        assert any(marker in source for marker in PAYLOAD_MARKERS)
    storage = InMemoryStorage()
    name, renditions = ingest(corpus_file(path), storage)
    carrying = {
        stored
        for stored, data in stored_bytes(storage, name, renditions).items()
        if any(marker in data.lower() for marker in PAYLOAD_MARKERS)
    }
    if path == PIXEL_PAYLOAD:
        assert carrying == {name}
        pytest.xfail("payload encoded in the pixels survives lossless PNG re-encoding (inert, see above)")
    assert carrying == set()


# --- renditions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (2000, [480, 800, 1200, 1600]),
        (1600, [480, 800, 1200, 1600]),
        (700, [480, 700]),
        (300, [300]),
    ],
)
def test_renditions_are_written_through_storage_and_never_upscaled(width, expected):
    storage = InMemoryStorage()  # no filesystem behind it: any use of local paths would fail
    name, renditions = ingest(ContentFile(photo(width, width // 2), name="Hero Shot.JPG"), storage)
    assert name == "articles/hero-shot.jpg"
    assert json.loads(json.dumps(renditions)) == renditions
    assert (renditions["source"], renditions["width"], renditions["height"]) == (name, width, width // 2)
    assert [s["width"] for s in renditions["sizes"]] == expected
    for size in renditions["sizes"]:
        assert size["webp"] == f"articles/renditions/hero-shot-{size['width']}.webp"
        assert size["jpeg"] == f"articles/renditions/hero-shot-{size['width']}.jpg"
        for key, fmt in (("webp", "WEBP"), ("jpeg", "JPEG")):
            with Image.open(storage.open(size[key])) as im:
                assert (im.format, im.size) == (fmt, (size["width"], size["height"]))
                assert size["height"] == round(width // 2 * size["width"] / width)
                im.load()
    delete_renditions(renditions, storage)
    assert not any(storage.exists(s[k]) for s in renditions["sizes"] for k in ("webp", "jpeg"))
    assert storage.exists(name)
    delete_renditions(renditions, storage)  # already gone: still fine


def test_transparent_png_keeps_alpha_in_webp_and_is_flattened_on_white_in_jpeg():
    storage = InMemoryStorage()
    name, renditions = ingest(ContentFile(photo(900, 600, "RGBA", "PNG"), name="logo.png"), storage)
    assert name.endswith(".png")
    smallest = renditions["sizes"][0]
    with (
        Image.open(storage.open(smallest["webp"])) as webp,
        Image.open(storage.open(smallest["jpeg"])) as jpeg,
    ):
        assert webp.mode == "RGBA" and webp.getpixel((0, 0))[3] < 10
        assert jpeg.mode == "RGB" and min(jpeg.getpixel((0, 0))) > 245


def test_renditions_use_default_storage_when_none_is_given():
    name = default_storage.save("articles/default.jpg", ContentFile(photo(1000, 500)))
    renditions = write_renditions(name)
    files = [Path(default_storage.path(s[k])) for s in renditions["sizes"] for k in ("webp", "jpeg")]
    assert [s["width"] for s in renditions["sizes"]] == [480, 800, 1000]
    assert all(f.is_file() and f.is_relative_to(settings.MEDIA_ROOT) for f in files)
    delete_renditions(renditions)
    default_storage.delete(name)
    assert not any(f.exists() for f in files)


# --- upload objects and names ----------------------------------------------------------------------


def hostile_names():
    names = []
    for path in sorted(FILENAMES.glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="surrogateescape").split("\n"):
            if line.strip() and not line.startswith("#"):
                names.append(line.replace("{EXT}", "jpg").replace("{PHPSCRIPT}", "shell"))
    assert len(names) > 70
    extra = [
        "\x00.jpg",
        "evil.php\x00.jpg",
        "../../etc/passwd",
        "..\\..\\boot.ini",
        ".htaccess",
        "x" * 400 + ".jpg",
    ]
    return names + extra + ["shell.php.jpg", "C:\\photos\\a.jpg", "Ünïcödé 写真.jpg", "con.jpg", "", None]


SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}\.(jpg|png|webp)")


@pytest.fixture(scope="module")
def tiny_png():
    return (CORPUS / "payloadsallthethings/metadata_payloads/PHP_exif_system.png").read_bytes()


@pytest.mark.parametrize("raw_name", hostile_names())
def test_hostile_upload_names_become_safe_names_inside_media_root(tiny_png, raw_name):
    upload = io.BytesIO(tiny_png)
    upload.name = raw_name
    name = prepare_upload(upload).content.name
    assert SAFE_NAME.fullmatch(name), name
    assert name.count(".") == 1 and not {"/", "\\", "\0"} & set(name)
    assert name.split(".")[0] not in {"con", "prn", "aux", "nul", "com1", "lpt1"}
    stored = default_storage.save(f"articles/{name}", ContentFile(tiny_png))
    try:
        assert (
            Path(default_storage.path(stored)).resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())
        )
    finally:
        default_storage.delete(stored)


@pytest.mark.parametrize("kind", ["simple", "temporary"])
def test_django_upload_classes_are_accepted(kind):
    data = (CORPUS / "pillow/valid_baseline/hopper.jpg").read_bytes()
    if kind == "simple":
        upload = SimpleUploadedFile("hopper.jpg", data, "image/jpeg")
    else:
        upload = TemporaryUploadedFile("hopper.jpg", "image/jpeg", len(data), None)
        upload.write(data)  # leaves the position at the end, as an upload handler does
    prepared = prepare_upload(upload)
    assert (prepared.content.name, prepared.width, prepared.format) == ("hopper.jpg", 128, "JPEG")
    upload.close()


def stored_files():
    return {str(path.relative_to(settings.MEDIA_ROOT)) for path in Path(settings.MEDIA_ROOT).rglob("*.*")}


def library_upload(name, **colour):
    """A library image not yet saved, holding a checked upload, as the library's admin form makes one."""
    return LibraryImage(
        alt="A blue test card", credit="Agency", file=prepare_upload(jpeg_upload(name, **colour)).content
    )


# The original and one file per width and format (AVIF only where Pillow encodes it).
FILES_PER_IMAGE = 1 + 4 * len(images.RENDITION_FORMATS)


def test_a_save_that_rolls_back_leaves_no_upload_or_renditions_behind(db):
    """Files are no part of a transaction: what a failed save wrote is deleted when it rolls back."""
    before = stored_files()
    with pytest.raises(RuntimeError), transaction.atomic():
        image = library_upload("rolled-back.jpg")
        image.save()
        written = {image.file.name, *images.rendition_names(image.renditions)}
        assert len(written) == FILES_PER_IMAGE and written <= stored_files()
        raise RuntimeError("a story that cannot be saved, say")
    assert stored_files() == before
    assert not LibraryImage.objects.exists()


def test_a_replaced_image_keeps_its_renditions_until_the_replacement_commits(
    article_with_image, django_capture_on_commit_callbacks
):
    image = article_with_image.hero
    old_index = image.renditions
    old_renditions = set(images.rendition_names(old_index))
    with pytest.raises(RuntimeError), transaction.atomic():
        image.file = prepare_upload(jpeg_upload("replacement.jpg", colour=(200, 40, 40))).content
        image.save()
        raise RuntimeError
    # The row still names the old set, and every file of it is still there for the page.
    assert LibraryImage.objects.get(pk=image.pk).renditions == old_index
    assert old_renditions <= stored_files()

    replaced = LibraryImage.objects.get(pk=image.pk)
    with django_capture_on_commit_callbacks(execute=True):
        replaced.file = prepare_upload(jpeg_upload("replacement.jpg", colour=(200, 40, 40))).content
        replaced.save()
    assert not old_renditions & stored_files()  # gone once the new set is committed
    assert set(images.rendition_names(replaced.renditions)) <= stored_files()


def test_an_upload_whose_row_cannot_be_written_is_deleted(db):
    """The upload is stored while the row is written (FileField.pre_save): a taken primary key fails
    that write after the file is there."""
    taken = library_image()
    before = stored_files()
    image = library_upload("taken-key.jpg")
    image.pk = taken.pk
    with pytest.raises(IntegrityError):
        image.save(force_insert=True)
    assert stored_files() == before


@pytest.mark.django_db(transaction=True)
def test_committed_files_stay_when_an_earlier_commit_hook_fails():
    """Django drops the on_commit callbacks left after one raises, the commit itself standing: the
    guard that cleans up after rollbacks then sees the files named by a saved row and keeps them."""

    def failing_hook():
        raise OSError("a storage blip in some other after-commit work")

    with pytest.raises(OSError), transaction.atomic():
        transaction.on_commit(failing_hook)
        image = library_upload("committed.jpg")
        image.save()
    saved = LibraryImage.objects.get(pk=image.pk)
    assert saved.file.name == image.file.name  # committed
    written = {saved.file.name, *images.rendition_names(saved.renditions)}
    assert len(written) == FILES_PER_IMAGE and written <= stored_files()


@pytest.mark.django_db(transaction=True)
def test_a_save_rolled_back_for_real_deletes_its_files_and_leaves_the_connection_usable():
    """Not inside a test's transaction: the guard is dropped in the middle of Django's own rollback,
    where no query may run (it runs none), and the connection is ready for the next request."""
    before = stored_files()
    with pytest.raises(RuntimeError), transaction.atomic():
        library_upload("rolled-back-for-real.jpg").save()
        raise RuntimeError
    assert stored_files() == before
    assert connection.get_autocommit() and not connection.in_atomic_block
    assert not LibraryImage.objects.exists()
