"""Turn untrusted encoded bytes into RGB pixels, refusing anything a library must not take.

The checks run cheapest first and everything that can be decided from the header (format,
declared type, declared dimensions) is decided before a single pixel is decompressed.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps

from tusou.errors import (
    DecompressionBomb,
    EmptyImage,
    ImageDimensionsInvalid,
    ImageTooLarge,
    ImageTypeMismatch,
    InvalidBase64,
    UndecodableImage,
    UnsupportedImageFormat,
)
from tusou.images.limits import MAX_DECLARED_PIXELS, ImageLimits

_FIELD = "image"

# Pillow names a JPEG carrying extra frames (phone cameras) "MPO"; its first frame is an
# ordinary JPEG and users call the file a JPEG, so it is accepted and reported as one.
_FORMAT_ALIASES = {"mpo": "jpeg"}

# Specific image MIME types -> the format the bytes must then be. Subtypes not listed here
# are vendor oddities (image/x-citrix-jpeg...) that say nothing we can check.
_MIME_FORMATS: dict[str, str] = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/png": "png",
    "image/x-png": "png",
    "image/apng": "png",
    "image/bmp": "bmp",
    "image/x-bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/tiff": "tiff",
    "image/x-tiff": "tiff",
    "image/x-portable-anymap": "ppm",
    "image/x-portable-pixmap": "ppm",
    "image/x-portable-graymap": "ppm",
    "image/x-portable-bitmap": "ppm",
    "image/x-icon": "ico",
    "image/vnd.microsoft.icon": "ico",
    "image/jp2": "jpeg2000",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/jxl": "jxl",
    "image/svg+xml": "svg",
}

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class DecodedImage:
    """An accepted image: oriented RGB pixels plus what it was sent as."""

    pixels: np.ndarray  # HxWx3 uint8 RGB, C-contiguous, read-only
    format: str  # Pillow format, lower-case: 'jpeg', 'png', 'bmp', 'gif', 'webp', 'tiff', 'ppm'...
    data: bytes  # the original encoded bytes

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_image(data: bytes, limits: ImageLimits, *, declared_mime: str | None = None) -> DecodedImage:
    """Decode and validate ``data``; raises an ``ImageError`` subclass for any refusal."""
    if not data:
        raise EmptyImage("image is empty", field=_FIELD)
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"image is {len(data)} bytes; the limit is {limits.max_bytes}", field=_FIELD)
    data = bytes(data)
    # Pillow only *warns* between its two bomb thresholds; turn that into a refusal here
    # rather than touching Image.MAX_IMAGE_PIXELS or the process-wide filters for good.
    # (catch_warnings is not thread-safe before Python 3.14: a race can leave this filter
    # installed or undo one set meanwhile elsewhere. Neither changes what is accepted, since
    # anything Pillow warns about is over our own MAX_DECLARED_PIXELS anyway.)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open(data) as img:
            fmt = _FORMAT_ALIASES.get(img.format.lower(), img.format.lower()) if img.format else ""
            _check_declared_type(declared_mime, fmt)
            if fmt not in limits.formats:
                accepted = ", ".join(sorted(limits.formats))
                raise UnsupportedImageFormat(
                    f"image format {fmt or 'unknown'!r} is not accepted (accepted: {accepted})", field=_FIELD
                )
            width, height = img.size
            if width * height > MAX_DECLARED_PIXELS:
                raise DecompressionBomb(
                    f"image declares {width}x{height} pixels, over the {MAX_DECLARED_PIXELS} pixel limit",
                    field=_FIELD,
                )
            # A 90-degree turn keeps the short side, long side and aspect, so the declared
            # size can refuse an oversized image before its pixels are decompressed.
            _check_dimensions(*_oriented_size(img), limits)
            _load(img)
            pixels = oriented_rgb(img)
    # Re-checked on the real pixels: a few plugins only learn the final size while loading.
    _check_dimensions(pixels.shape[1], pixels.shape[0], limits)
    pixels.setflags(write=False)
    return DecodedImage(pixels=pixels, format=fmt, data=data)


def declared_format(mime: str | None) -> str | None:
    """The format a declared MIME type commits to, or None when it commits to nothing."""
    if not mime:
        return None
    base = mime.split(";", 1)[0].strip().lower()
    return _MIME_FORMATS.get(base)


def _check_declared_type(mime: str | None, fmt: str) -> None:
    expected = declared_format(mime)
    if expected is not None and expected != fmt:
        base = mime.split(";", 1)[0].strip().lower() if mime else ""
        raise ImageTypeMismatch(
            f"declared type {base} does not match the image data, which is {fmt or 'unknown'}",
            field=_FIELD,
        )


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(f"image declares too many pixels: {exc}", field=_FIELD) from exc
    except Exception as exc:  # any parser failure on untrusted bytes means "not an image"
        raise UndecodableImage("data is not a recognisable image", field=_FIELD) from exc


def _load(img: Image.Image) -> None:
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(f"image declares too many pixels: {exc}", field=_FIELD) from exc
    except Exception as exc:  # truncated or corrupt: decoders raise all sorts of types
        raise UndecodableImage(f"image data is truncated or corrupt ({exc})", field=_FIELD) from exc


def _check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    short, long = min(width, height), max(width, height)
    if short < limits.min_side:
        raise ImageDimensionsInvalid(
            f"image is {width}x{height}; the shorter side must be at least {limits.min_side} px", field=_FIELD
        )
    if long > limits.max_side:
        raise ImageDimensionsInvalid(
            f"image is {width}x{height}; the longer side must be at most {limits.max_side} px", field=_FIELD
        )
    # True division of two ints is correctly rounded, so exactly 10:1 equals a 10.0 limit.
    if limits.max_aspect is not None and long / short > limits.max_aspect:
        raise ImageDimensionsInvalid(
            f"image is {width}x{height}; its aspect ratio {long / short:.3g}:1 exceeds "
            f"{limits.max_aspect:g}:1",
            field=_FIELD,
        )


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    """Size after EXIF orientation, read from the header without decoding anything.

    ``img.getexif()`` is not used here: for PNG it loads the pixels, and a failed load
    leaves Pillow thinking the image is loaded, so a later ``load()`` would not fail.
    """
    width, height = img.size
    raw = img.info.get("exif")
    if not raw:
        return width, height
    try:
        exif = Image.Exif()
        exif.load(raw)
        orientation = int(exif.get(ExifTags.Base.Orientation, 1))
    except Exception:  # broken EXIF is metadata damage, not a reason to refuse the picture
        return width, height
    return (height, width) if orientation in _SWAPPING_ORIENTATIONS else (width, height)


def oriented_rgb(img: Image.Image) -> np.ndarray:
    """``img``'s pixels as a library stores them (HxWx3 uint8 RGB): EXIF orientation applied,
    16-bit and float samples scaled to 8 bits, transparency laid on white. Callers that
    make pictures from stored ones (the evaluation's copies) must see the same pixels."""
    return _to_rgb(_apply_orientation(img))


def _apply_orientation(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # broken EXIF: keep the pixels as stored rather than refuse them
        return img


def _to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        gray = _deep_to_uint8(np.asarray(img), is_float=mode == "F")
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    try:
        if img.has_transparency_data:
            rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)
            alpha = rgba[:, :, 3:4]
            # Composite on white, rounded: transparent areas read as paper, not as black.
            rgb = (rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
            return np.ascontiguousarray(rgb, dtype=np.uint8)
        return np.ascontiguousarray(np.asarray(img.convert("RGB")), dtype=np.uint8)
    except ValueError as exc:  # colour modes Pillow cannot turn into RGB (LAB...)
        raise UnsupportedImageFormat(f"image colour mode {mode} is not supported", field=_FIELD) from exc


def _deep_to_uint8(values: np.ndarray, *, is_float: bool) -> np.ndarray:
    if is_float:
        arr = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        # Float images are conventionally 0..1; anything else is taken as already 0..255.
        if arr.size and arr.max() <= 1.0 and arr.min() >= 0.0:
            arr = arr * 255.0
        return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    # Pillow's deep integer modes hold 16-bit samples (16-bit PNG/TIFF, PGM with maxval > 255).
    arr = np.clip(values.astype(np.int64), 0, 65535)
    return ((arr * 255 + 32767) // 65535).astype(np.uint8)


# Base64 text: RFC 4648 standard alphabet, or the URL-safe one when used consistently (Java's
# and Python's URL encoders are common among clients). Line breaks are dropped the way MIME
# decoders do; padding may be missing. Anything else (spaces included) is refused.
_STD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")
_LINE_BREAKS = b"\r\n"
# "data:" + a MIME type with parameters never needs more than this before the comma.
_MAX_DATA_URL_HEADER = 256


def decode_base64(text: str | bytes, *, max_chars: int) -> tuple[bytes, str | None]:
    """Decode base64 image text, optionally a ``data:`` URL; returns (bytes, declared mime).

    ``max_chars`` applies to the payload as sent (after the ``data:`` header and surrounding
    whitespace are removed, embedded line breaks counted) and is checked before decoding.
    """
    raw = text.encode("ascii", errors="replace") if isinstance(text, str) else bytes(text)
    raw = raw.strip()
    raw, mime = _split_data_url(raw)
    if len(raw) > max_chars:
        raise ImageTooLarge(
            f"base64 image is {len(raw)} characters; the limit is {max_chars}", field=_FIELD
        )
    if not raw:
        raise EmptyImage("image is empty", field=_FIELD)
    payload = raw.translate(None, _LINE_BREAKS)
    if b"-" in payload or b"_" in payload:
        if b"+" in payload or b"/" in payload:
            raise InvalidBase64("base64 mixes the standard and URL-safe alphabets", field=_FIELD)
        payload = payload.translate(_URLSAFE_TO_STD)
    body = payload.rstrip(b"=")
    padding = len(payload) - len(body)
    bad = body.translate(None, _STD_ALPHABET)
    if bad:
        hint = " (a '+' may have been turned into a space by form decoding)" if b" " in bad else ""
        raise InvalidBase64(f"base64 contains invalid characters{hint}", field=_FIELD)
    # Missing or partial padding is tolerated; more '=' than the length needs is not.
    if len(body) % 4 == 1 or padding > -len(body) % 4:
        raise InvalidBase64("base64 has an impossible length or padding", field=_FIELD)
    try:
        decoded = base64.b64decode(body + b"=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64(f"invalid base64: {exc}", field=_FIELD) from exc
    if not decoded:
        raise EmptyImage("image is empty", field=_FIELD)
    return decoded, mime


def _split_data_url(raw: bytes) -> tuple[bytes, str | None]:
    if raw[:5].lower() != b"data:":
        return raw, None
    comma = raw.find(b",", 5, _MAX_DATA_URL_HEADER)
    if comma < 0:
        raise InvalidBase64("malformed data: URL (no ',' after the header)", field=_FIELD)
    parts = [p.strip().lower() for p in raw[5:comma].split(b";")]
    if parts[-1] != b"base64":
        raise InvalidBase64("data: URL is not base64-encoded", field=_FIELD)
    mime = parts[0].decode("ascii", errors="replace") if len(parts) > 1 and parts[0] else None
    return raw[comma + 1 :].strip(), mime
