"""Validate, sanitise and resize uploaded article images.

Everything works on bytes and storage names, never local paths, so any Django storage (S3 included) works.
"""

import contextlib
import io
import logging
import posixpath
import re
import struct
import warnings
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections, transaction
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageCms, ImageOps, features

from articles.timelimit import ChildDied, TimeLimitExceeded, run_with_time_limit

logger = logging.getLogger(__name__)

RENDITION_WIDTHS = (480, 800, 1200, 1600)
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_FRAMES = 1000
# Walking GIF/APNG frames decodes them (about 50 megapixels a second here), so the walk has a budget too.
MAX_ANIMATION_PIXELS = 100_000_000
MAX_STEM_LENGTH = 60
# Caps bound the work; a hostile file within them is still refused after this long (see prepare_upload).
IMAGE_TIME_LIMIT = 10.0

# The prepared original is encoded again for every rendition, so it keeps more quality than they do.
ORIGINAL_QUALITY = 90
JPEG_OPTIONS = {"quality": 85, "progressive": True, "optimize": True}
WEBP_OPTIONS = {"quality": 80, "method": 4}
# Speed 7 of 10: about a tenth fewer bytes than speed 8 for twice its time (0.65 s an upload for
# every width here), and half the time of speed 6 for 8 % more bytes (bench/image_formats.py).
AVIF_OPTIONS = {"quality": 60, "speed": 7}
# AVIF where the installed Pillow encodes it (the wheels do); pages offer it only when every width has it.
RENDITION_FORMATS = ("avif", "webp", "jpeg") if features.check("avif") else ("webp", "jpeg")
_RENDITION_EXTENSION = {"avif": "avif", "webp": "webp", "jpeg": "jpg"}

# GIF stills become PNG: lossless, smaller, and nothing is lost by dropping the animation.
_OUTPUT_FORMAT = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "GIF": "PNG"}
_EXTENSION = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Pillow's decoders raise all of these on hostile input (see Pillow's own Tests/test_fuzzers.py).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError) + (
    ArithmeticError, MemoryError, NotImplementedError, struct.error)  # fmt: skip
_WINDOWS_DEVICES = re.compile(r"(con|prn|aux|nul|com\d|lpt\d)")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_LANCZOS = Image.Resampling.LANCZOS

_MESSAGES = {
    "empty": _("The file is empty."),
    "file_too_large": _("The file is larger than %(limit)s MB. Please upload a smaller image."),
    "unsupported_format": _(
        "This file is not a JPEG, PNG, WebP or GIF image. Other formats (SVG, HEIC, TIFF, BMP, PDF "
        "and so on) are not accepted: please export the picture as JPEG or PNG."
    ),
    "too_many_pixels": _(
        "This image is too large: it has (or claims to have) more than %(limit)s megapixels. "
        "Please scale it down and upload it again."
    ),
    "too_many_frames": _(
        "This animation has too many frames (at most %(limit)s at this size). "
        "Article images are stills: please upload a single frame."
    ),
    "too_slow": _(
        "This image took too long to process (over %(limit)s seconds). "
        "Please export it again from your image editor as an ordinary JPEG or PNG."
    ),
    "damaged": _(
        "This image file is damaged or incomplete, so it cannot be used. "
        "Please export it again from your image editor and upload the new file."
    ),
}


@dataclass(frozen=True)
class PreparedImage:
    content: ContentFile  # re-encoded pixels only, upright, named safely
    width: int
    height: int
    format: str  # "JPEG" | "PNG" | "WEBP"


def prepare_upload(uploaded_file, square=None) -> PreparedImage:
    """Validate and sanitise an uploaded image file; raise ValidationError if it is not acceptable.

    With ``square`` (pixels), the picture is centre-cropped to a square no larger than that: avatars.
    The decoding runs in a child process stopped after IMAGE_TIME_LIMIT seconds: within the caps a
    hostile file can still be slow to decode, and a request must not wait on it.
    """
    data = _read_capped(uploaded_file)
    Image.init()  # Pillow's lazy plugin imports, in this process before the fork (see timelimit)
    try:
        encoded, width, height, out_format = run_with_time_limit(_prepare, (data, square), IMAGE_TIME_LIMIT)
    except TimeLimitExceeded:
        raise _error("too_slow") from None
    except ChildDied:
        raise _error("damaged") from None
    name = _safe_name(getattr(uploaded_file, "name", None), out_format)
    return PreparedImage(ContentFile(encoded, name=name), width, height, out_format)


def _prepare(data, square):
    """The decoded, checked, upright and re-encoded image: (bytes, width, height, format)."""
    with warnings.catch_warnings():
        # Pillow warns about corrupt metadata, which is thrown away anyway; only bomb warnings matter.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as im:
                if im.format not in _OUTPUT_FORMAT:
                    raise _error("unsupported_format")
                _check_pixels(im.size)
                # MPO "frames" are separate pictures (thumbnails, gain maps) that are never decoded here.
                if im.format != "MPO" and getattr(im, "is_animated", False):
                    _check_frames(im)
                im.load()
                icc = im.info.get("icc_profile")
                ImageOps.exif_transpose(im, in_place=True)
                out_format = _OUTPUT_FORMAT[im.format]
                pixels = _normalise(im, icc)
            if square:
                side = min(square, pixels.width, pixels.height)
                pixels = ImageOps.fit(pixels, (side, side), _LANCZOS)
            if out_format == "JPEG":
                pixels = _flatten(pixels)
            encoded = _encode(pixels, out_format, ORIGINAL_QUALITY)
        except Image.UnidentifiedImageError:
            raise _error("unsupported_format") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _error("too_many_pixels") from None
        except _DECODE_ERRORS:
            raise _error("damaged") from None
    return encoded, pixels.width, pixels.height, out_format


def write_renditions(source_name: str, storage=None) -> dict:
    """Write AVIF, WebP and JPEG renditions of a stored, prepared image next to it; return a JSON-able
    index."""
    storage = storage or default_storage
    source = _open_source(source_name, storage)
    width, height = source.size
    index = {"source": source_name, "width": width, "height": height, "sizes": []}
    for target in _rendition_widths(width):
        index["sizes"].append({"width": target, "height": max(1, round(height * target / width))})
    return _write_formats(index, source, storage, RENDITION_FORMATS)


def add_missing_formats(renditions: dict, storage=None) -> dict:
    """The index with the formats it lacks written (older images gain AVIF); files it names stay as
    they are, so every address already handed out keeps answering."""
    storage = storage or default_storage
    missing = missing_formats(renditions)
    if not missing:
        return renditions
    index = {**renditions, "sizes": [dict(entry) for entry in renditions["sizes"]]}
    source = _open_source(renditions["source"], storage)
    return _write_formats(index, source, storage, [kind for kind in RENDITION_FORMATS if kind in missing])


def _open_source(source_name, storage):
    with storage.open(source_name, "rb") as fh:
        data = fh.read()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as im:
            _check_pixels(im.size)
            im.load()
            return im.copy() if im.mode in ("RGB", "RGBA") else _normalise(im, None)


def _write_formats(index, source, storage, kinds):
    """Write ``kinds`` for every width of ``index`` that lacks them; on failure delete what this wrote."""
    folder, filename = posixpath.split(index["source"])
    base = posixpath.join(folder, "renditions", posixpath.splitext(filename)[0])
    written = []
    try:
        for entry in index["sizes"]:
            size = (entry["width"], entry["height"])
            frame = source if size == source.size else source.resize(size, _LANCZOS, reducing_gap=3)
            for kind in kinds:
                if entry.get(kind):
                    continue
                pixels = _flatten(frame) if kind == "jpeg" else frame
                name = f"{base}-{size[0]}.{_RENDITION_EXTENSION[kind]}"
                entry[kind] = storage.save(name, ContentFile(_encode(pixels, kind.upper())))
                written.append(entry[kind])
    except BaseException:
        for name in written:  # no half-written sets left behind
            storage.delete(name)
        raise
    return index


def missing_formats(renditions: dict) -> set:
    """The formats this machine writes that some width of ``renditions`` lacks (older images: AVIF)."""
    return {
        kind for entry in renditions.get("sizes", ()) for kind in RENDITION_FORMATS if not entry.get(kind)
    }


def delete_renditions(renditions: dict, storage=None) -> None:
    """Delete the files listed by write_renditions(); files already gone are ignored."""
    storage = storage or default_storage
    for name in rendition_names(renditions):
        storage.delete(name)  # Django storages treat a missing file as already deleted


def delete_if_rolled_back(names, storage, using) -> None:
    """Delete these newly stored files if the transaction that wrote them (on database ``using``) is
    rolled back.

    Files are not part of a transaction: an upload or renditions written by a save that then fails
    (a tag that cannot be saved, a database error) would stay in storage, named by no row. Django has
    on_commit and no "on rollback", but it drops an on_commit callback, uncalled, when the transaction
    or the savepoint it was registered in rolls back. The guard registered here is held by nothing
    else, so that drop is its end, and it then deletes the files. Django also drops the callbacks left
    when an earlier one raises after a commit: the guard tells the two apart without the database (it
    may be dropped in the middle of a rollback, where no query may run) by the connection's mode. A
    rollback drops it inside the transaction; those hooks run once autocommit is back on.
    """
    transaction.on_commit(_DeletedUnlessCommitted(names, storage, using), using=using, robust=True)


class _DeletedUnlessCommitted:
    def __init__(self, names, storage, using):
        self.names, self.storage, self.using, self.committed = [n for n in names if n], storage, using, False

    def __call__(self):  # on commit: the files are the database's now
        self.committed = True

    def __del__(self):
        if self.committed or not self.names or connections[self.using].autocommit:
            return  # committed, or dropped after a commit (see delete_if_rolled_back)
        for name in self.names:
            try:
                self.storage.delete(name)
            except Exception:  # a finaliser must not raise; the file is left for a person to remove
                logger.warning("Could not delete %s after a rolled-back save", name, exc_info=True)


def rendition_names(renditions: dict) -> list:
    return [
        entry[key]
        for entry in (renditions or {}).get("sizes", ())
        for key in _RENDITION_EXTENSION
        if entry.get(key)
    ]


def _error(code, **params):
    defaults = {
        "file_too_large": f"{MAX_UPLOAD_BYTES / 2**20:g}",
        "too_many_pixels": f"{MAX_PIXELS / 1e6:g}",
        "too_slow": f"{IMAGE_TIME_LIMIT:g}",
    }
    if code in defaults:
        params.setdefault("limit", defaults[code])
    return ValidationError(_MESSAGES[code], code=code, params=params)


def _read_capped(uploaded_file) -> bytes:
    if (getattr(uploaded_file, "size", None) or 0) > MAX_UPLOAD_BYTES:
        raise _error("file_too_large")
    with contextlib.suppress(AttributeError, OSError, ValueError):
        uploaded_file.seek(0)
    # Never trust .size: read one byte past the cap to find out.
    data = uploaded_file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise _error("file_too_large")
    if not data:
        raise _error("empty")
    return data


def _check_pixels(size) -> None:
    # Read at call time, and never via Image.MAX_IMAGE_PIXELS: that global is shared by the whole process.
    if size[0] < 1 or size[1] < 1:
        raise _error("damaged")
    if size[0] * size[1] > MAX_PIXELS:
        raise _error("too_many_pixels")


def _check_frames(im) -> None:
    """Walk every frame header under the caps; GIF frames may grow the canvas (extent bombs)."""
    budget, frame = MAX_ANIMATION_PIXELS, 0
    while True:
        _check_pixels(im.size)  # before the next seek() decodes this frame at its new size
        budget -= im.size[0] * im.size[1]
        if frame >= MAX_FRAMES or budget < 0:
            limit = min(MAX_FRAMES, MAX_ANIMATION_PIXELS // (im.size[0] * im.size[1]))
            raise _error("too_many_frames", limit=limit)
        frame += 1
        try:
            im.seek(frame)
        except EOFError:
            break
    im.seek(0)


def _normalise(im, icc):
    """Return a new 8-bit RGB or RGBA image in sRGB, carrying no metadata at all."""
    alpha = im.has_transparency_data
    if im.mode.startswith("I") or im.mode == "F":
        # convert() clips 16-bit samples at 255, which turns most of the picture white; scale them instead.
        grey = im.convert("I").point(lambda v: v / 257).convert("L")
        if alpha:
            grey.putalpha(im.convert("RGBA").getchannel("A"))
        im, icc = grey, None
    mode = "RGBA" if alpha else "RGB"
    out = None
    if icc:
        with contextlib.suppress(OSError, TypeError, ValueError):  # unusable profile: keep stored colours
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, profile, _SRGB, outputMode=mode)
    out = out or im.convert(mode)
    out.info = {}  # convert() and profileToProfile() copy or add metadata; the pixels are all we keep
    return out


def _flatten(im):
    if im.mode != "RGBA":
        return im
    background = Image.new("RGB", im.size, "white")
    background.paste(im, mask=im.getchannel("A"))
    return background


def _encode_options(fmt):
    return {"JPEG": JPEG_OPTIONS, "WEBP": WEBP_OPTIONS, "AVIF": AVIF_OPTIONS, "PNG": {}}[fmt]


def _encode(im, fmt="JPEG", quality=None) -> bytes:
    options = _encode_options(fmt)
    if quality and options:
        options = {**options, "quality": quality}
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def _rendition_widths(width):
    widths = {w for w in RENDITION_WIDTHS if w <= width}
    if width < RENDITION_WIDTHS[-1]:
        widths.add(width)  # a narrow source still gets its own full-size rendition, never an upscale
    return sorted(widths)


def _safe_name(uploaded_name, fmt) -> str:
    # Only a slug of the stem survives: no directories, dots, control characters or client extension.
    filename = re.split(r"[\\/]", str(uploaded_name or ""))[-1]
    stem = slugify(filename.rsplit(".", 1)[0])[:MAX_STEM_LENGTH].strip("-_") or "image"
    if _WINDOWS_DEVICES.fullmatch(stem):
        stem += "-image"  # reserved device names on Windows; keep the media tree copyable anywhere
    return f"{stem}.{_EXTENSION[fmt]}"


# Thumbnails of embeds (articles/embeds/): another site's picture, never shown from there.
THUMBNAIL_MAX_WIDTH = 1280


def prepare_thumbnail(data: bytes, max_width: int = THUMBNAIL_MAX_WIDTH):
    """A downloaded picture checked as an upload is (formats, size and pixel caps, decompression bombs,
    EXIF orientation, every piece of metadata dropped), in a child stopped after IMAGE_TIME_LIMIT, then
    scaled down to at most ``max_width`` and encoded as WebP: (bytes, width, height).

    Raises ValidationError, as for an upload, when the bytes are refused.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise _error("file_too_large")
    if not data:
        raise _error("empty")
    Image.init()  # Pillow's lazy plugin imports, before the fork
    try:
        return run_with_time_limit(_thumbnail, (data, max_width), IMAGE_TIME_LIMIT)
    except TimeLimitExceeded:
        raise _error("too_slow") from None
    except ChildDied:
        raise _error("damaged") from None


def _thumbnail(data, max_width):
    encoded, width, height, _format = _prepare(data, None)
    with Image.open(io.BytesIO(encoded)) as im:
        im.load()
        pixels = im
        if width > max_width:
            size = (max_width, max(1, round(height * max_width / width)))
            pixels = im.resize(size, _LANCZOS, reducing_gap=3)
        return _encode(pixels, "WEBP"), pixels.width, pixels.height
