"""Image intake: decoding and its limits, base64, content signatures, SSRF-safe URL fetching.

No test sends traffic off the machine: the fetch tests talk to a server on 127.0.0.1 and every
other address is given by a resolver stub and refused before any connection is made.
"""

from __future__ import annotations

import base64
import io
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage import data as skdata

from tusou.errors import (
    DecompressionBomb,
    EmptyImage,
    ImageDimensionsInvalid,
    ImageTooLarge,
    ImageTypeMismatch,
    InvalidBase64,
    InvalidParameter,
    MissingParameter,
    ParameterTooLong,
    UndecodableImage,
    UnsupportedImageFormat,
    UrlFetchFailed,
    UrlForbidden,
    UrlTimeout,
)
from tusou.images.decode import DecodedImage, decode_base64, decode_image
from tusou.images.fetch import UrlFetcher, _PinnedBackend, is_public_address
from tusou.images.limits import MAX_DECLARED_PIXELS, ImageLimits
from tusou.images.signature import cont_sign, parse_cont_sign, parse_cont_sign_list

BASE = ImageLimits()
ALL_FORMATS = ImageLimits(formats=frozenset({"jpeg", "png", "bmp", "gif", "webp", "tiff", "ppm"}))
SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval-dev" / "dedup-variants"


# --- helpers ------------------------------------------------------------------------------


def encode(image: Image.Image | np.ndarray, fmt: str, **options: object) -> bytes:
    img = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def noise(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def blank_png(width: int, height: int) -> bytes:
    return encode(np.zeros((height, width, 3), np.uint8), "PNG")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` 8-bit RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


# --- decode: basics and size limits -------------------------------------------------------


def test_decodes_png_to_rgb_array() -> None:
    pixels = noise(80, 60)
    decoded = decode_image(encode(pixels, "PNG"), BASE)
    assert isinstance(decoded, DecodedImage)
    assert (decoded.width, decoded.height, decoded.format) == (80, 60, "png")
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape == (60, 80, 3)
    assert decoded.pixels.flags.c_contiguous and not decoded.pixels.flags.writeable
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert decoded.data == encode(pixels, "PNG")


def test_empty_bytes() -> None:
    with pytest.raises(EmptyImage) as err:
        decode_image(b"", BASE)
    assert err.value.field == "image"


def test_max_bytes_edge() -> None:
    data = blank_png(60, 60)
    assert decode_image(data, ImageLimits(max_bytes=len(data))).width == 60
    with pytest.raises(ImageTooLarge) as err:
        decode_image(data, ImageLimits(max_bytes=len(data) - 1))
    assert err.value.field == "image"


@pytest.mark.parametrize(("width", "height"), [(50, 50), (50, 4096), (4096, 50), (4096, 4096)])
def test_side_limits_accepted_at_edge(width: int, height: int) -> None:
    decoded = decode_image(blank_png(width, height), BASE)
    assert (decoded.width, decoded.height) == (width, height)


@pytest.mark.parametrize(("width", "height"), [(49, 80), (80, 49), (4097, 60), (60, 4097)])
def test_side_limits_rejected_just_past_edge(width: int, height: int) -> None:
    with pytest.raises(ImageDimensionsInvalid) as err:
        decode_image(blank_png(width, height), BASE)
    assert f"{width}x{height}" in err.value.message and err.value.field == "image"


def test_min_side_is_per_kind() -> None:
    assert decode_image(blank_png(30, 30), ImageLimits(min_side=30)).width == 30
    with pytest.raises(ImageDimensionsInvalid, match="at least 31"):
        decode_image(blank_png(30, 30), ImageLimits(min_side=31))


@pytest.mark.parametrize(("width", "height"), [(500, 50), (50, 500), (1000, 100)])
def test_aspect_ten_to_one_accepted(width: int, height: int) -> None:
    assert decode_image(blank_png(width, height), ImageLimits(max_aspect=10.0)).width == width


@pytest.mark.parametrize(("width", "height"), [(1001, 100), (100, 1001), (501, 50)])
def test_aspect_past_ten_to_one_rejected(width: int, height: int) -> None:
    with pytest.raises(ImageDimensionsInvalid, match="aspect"):
        decode_image(blank_png(width, height), ImageLimits(max_aspect=10.0))


def test_aspect_unlimited_by_default() -> None:
    assert decode_image(blank_png(4000, 50), BASE).width == 4000


# --- decode: orientation and colour handling ----------------------------------------------


def test_exif_orientation_applied_before_size_checks() -> None:
    # 60 wide x 40 high, red on the left half, blue on the right.
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, :30] = (255, 0, 0)
    pixels[:, 30:] = (0, 0, 255)
    data = jpeg_with_orientation(pixels, 6)  # "rotate 90 degrees clockwise to display"
    decoded = decode_image(data, ImageLimits(min_side=40))
    assert (decoded.width, decoded.height) == (40, 60)
    top, bottom = decoded.pixels[5, 20], decoded.pixels[55, 20]
    assert top[0] > 200 and top[2] < 60, "the left edge must have turned into the top"
    assert bottom[2] > 200 and bottom[0] < 60
    with pytest.raises(ImageDimensionsInvalid, match="40x60"):
        decode_image(data, ImageLimits(min_side=41))


def test_exif_orientation_swaps_sides_for_max_side_too() -> None:
    data = jpeg_with_orientation(np.zeros((50, 120, 3), np.uint8), 8)
    decoded = decode_image(data, ImageLimits(max_side=120))
    assert (decoded.width, decoded.height) == (50, 120)
    with pytest.raises(ImageDimensionsInvalid, match="50x120"):
        decode_image(data, ImageLimits(max_side=119))


def test_rgba_png_composited_on_white() -> None:
    rgba = np.zeros((60, 60, 4), np.uint8)
    rgba[:, :20] = (10, 20, 30, 0)  # fully transparent
    rgba[:, 20:40] = (10, 20, 30, 255)  # opaque
    rgba[:, 40:] = (0, 0, 0, 128)  # half-transparent black
    out = decode_image(encode(rgba, "PNG"), BASE).pixels
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 30]) == (10, 20, 30)
    assert tuple(out[0, 50]) == (127, 127, 127)


def test_skimage_sample_with_alpha_gradient_on_white() -> None:
    rgba = np.dstack([skdata.chelsea(), np.tile(np.linspace(0, 255, 451).astype(np.uint8), (300, 1))])
    alpha = rgba[:, :, 3:].astype(np.uint16)
    expected = (rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
    out = decode_image(encode(rgba, "PNG"), BASE).pixels
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_la_png_on_white() -> None:
    img = Image.new("LA", (60, 60), (0, 0))
    out = decode_image(encode(img, "PNG"), BASE).pixels
    assert (out == 255).all()


def test_palette_png_with_transparency_on_white() -> None:
    img = Image.new("P", (60, 60), 0)
    img.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    img.paste(1, (30, 0, 60, 60))
    data = encode(img, "PNG", transparency=0)
    out = decode_image(data, BASE).pixels
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 45]) == (200, 10, 10)


def test_rgb_png_with_trns_colour_on_white() -> None:
    pixels = np.full((60, 60, 3), 7, np.uint8)
    pixels[:, 30:] = (1, 2, 3)
    out = decode_image(encode(pixels, "PNG", transparency=(7, 7, 7)), BASE).pixels
    assert tuple(out[0, 0]) == (255, 255, 255) and tuple(out[0, 45]) == (1, 2, 3)


def test_sixteen_bit_grey_png_scaled_not_clipped() -> None:
    values = np.zeros((60, 60), np.uint16)
    values[:, 20:40] = 32896  # 128 * 257
    values[:, 40:] = 65535
    img = Image.fromarray(values)
    assert img.mode == "I;16"
    out = decode_image(encode(img, "PNG"), BASE).pixels
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert tuple(out[0, 30]) == (128, 128, 128)
    assert tuple(out[0, 50]) == (255, 255, 255)


def test_sixteen_bit_pgm_scaled() -> None:
    header = b"P5\n60 60\n65535\n"
    body = np.full((60, 60), 257 * 100, ">u2").tobytes()
    out = decode_image(header + body, ALL_FORMATS).pixels
    assert (out == 100).all()


def test_float_tiff_scaled_from_unit_range() -> None:
    img = Image.fromarray(np.full((60, 60), 0.5, np.float32))
    assert img.mode == "F"
    out = decode_image(encode(img, "TIFF"), ALL_FORMATS).pixels
    assert (out == 128).all()


def test_cmyk_jpeg_converted() -> None:
    img = Image.new("CMYK", (60, 60), (0, 0, 0, 0))  # white
    img.paste((0, 255, 255, 0), (30, 0, 60, 60))  # red
    decoded = decode_image(encode(img, "JPEG", quality=95), BASE)
    assert decoded.format == "jpeg"
    white, red = decoded.pixels[30, 5].astype(int), decoded.pixels[30, 55].astype(int)
    assert (white > 240).all()
    assert red[0] > 230 and red[1] < 25 and red[2] < 25


def test_one_bit_and_grey_images() -> None:
    horse = skdata.horse()  # bool silhouette -> mode "1"
    out = decode_image(encode(Image.fromarray(horse), "PNG"), BASE).pixels
    assert set(np.unique(out)) <= {0, 255}
    np.testing.assert_array_equal(out[:, :, 0] == 255, horse)
    camera = skdata.camera()
    grey = decode_image(encode(camera, "PNG"), BASE).pixels
    for channel in range(3):
        np.testing.assert_array_equal(grey[:, :, channel], camera)


def test_gif_first_frame() -> None:
    frames = [Image.new("RGB", (60, 60), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(buf.getvalue(), ALL_FORMATS)
    assert decoded.format == "gif"
    assert tuple(decoded.pixels[10, 10]) == (255, 0, 0)


def test_multi_page_tiff_first_page() -> None:
    pages = [Image.new("RGB", (60, 60), colour) for colour in ((0, 255, 0), (255, 0, 0))]
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    assert tuple(decode_image(buf.getvalue(), ALL_FORMATS).pixels[0, 0]) == (0, 255, 0)


def test_skimage_samples_lossless_round_trip() -> None:
    for sample in (skdata.astronaut(), skdata.chelsea(), skdata.coffee()):
        for fmt in ("PNG", "BMP"):
            np.testing.assert_array_equal(decode_image(encode(sample, fmt), BASE).pixels, sample)


def test_mpo_is_reported_as_jpeg() -> None:
    frames = [Image.new("RGB", (60, 60), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "MPO", save_all=True, append_images=frames[1:])
    decoded = decode_image(buf.getvalue(), BASE, declared_mime="image/jpeg")
    assert decoded.format == "jpeg"
    assert decoded.pixels[30, 30, 0] > 240 and decoded.pixels[30, 30, 2] < 20


def test_webp_and_ppm_when_allowed() -> None:
    pixels = noise(64, 64)
    assert decode_image(encode(pixels, "WEBP", lossless=True), ALL_FORMATS).format == "webp"
    decoded = decode_image(encode(pixels, "PPM"), ALL_FORMATS)
    assert decoded.format == "ppm"
    np.testing.assert_array_equal(decoded.pixels, pixels)


# --- decode: refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PPM"])
def test_format_outside_kind_is_unsupported(fmt: str) -> None:
    with pytest.raises(UnsupportedImageFormat) as err:
        decode_image(encode(noise(60, 60), fmt), BASE)
    assert "bmp, jpeg, png" in err.value.message and err.value.field == "image"


def test_truncated_jpeg_and_png() -> None:
    jpeg = encode(noise(200, 200), "JPEG", quality=90)
    png = encode(noise(200, 200), "PNG")
    for data in (jpeg[: len(jpeg) // 2], jpeg[:-100], jpeg[:700], png[: len(png) // 2], png[:-100], png[:100]):
        with pytest.raises(UndecodableImage) as err:
            decode_image(data, BASE)
        assert err.value.field == "image"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_missing_only_iend_is_accepted() -> None:
    # All pixel data present, only the closing IEND chunk lost: still the image.
    pixels = noise(60, 60)
    np.testing.assert_array_equal(decode_image(encode(pixels, "PNG")[:-12], BASE).pixels, pixels)


def test_corrupt_png_data() -> None:
    png = bytearray(encode(noise(100, 100), "PNG"))
    start = png.index(b"IDAT") + 4  # the zlib stream itself
    png[start : start + 200] = b"\xff" * 200
    with pytest.raises(UndecodableImage):
        decode_image(bytes(png), BASE)


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<rect width="100" height="100" fill="red"/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"/>',
        b"just some text, certainly not an image\n" * 10,
        b"<html><body>404 not found</body></html>",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
    ],
    ids=["random", "svg-xml", "svg", "text", "html", "png-signature-only", "jpeg-soi-only"],
)
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(UndecodableImage):
        decode_image(data, BASE)


@pytest.mark.parametrize(
    "mime", ["image/png", "image/gif", "image/bmp", "image/x-ms-bmp", "image/webp", "image/svg+xml"]
)
def test_declared_type_mismatch(mime: str) -> None:
    with pytest.raises(ImageTypeMismatch) as err:
        decode_image(encode(noise(60, 60), "JPEG"), BASE, declared_mime=mime)
    assert mime in err.value.message and "jpeg" in err.value.message


@pytest.mark.parametrize(
    "mime",
    [None, "", "image/jpeg", "image/jpg", "IMAGE/JPEG; charset=binary", "image/pjpeg",
     "application/octet-stream", "image/*", "image/x-citrix-jpeg", "text/plain"],
)
def test_declared_type_without_conflict(mime: str | None) -> None:
    assert decode_image(encode(noise(60, 60), "JPEG"), BASE, declared_mime=mime).format == "jpeg"


def test_mismatch_checked_before_format_support() -> None:
    gif = encode(noise(60, 60), "GIF")
    with pytest.raises(ImageTypeMismatch):
        decode_image(gif, BASE, declared_mime="image/png")
    with pytest.raises(UnsupportedImageFormat):
        decode_image(gif, BASE, declared_mime="image/gif")


def test_png_bomb_refused_fast_without_allocating() -> None:
    data = png_declaring(100_000, 100_000)
    assert len(data) < 100
    filters_before = list(warnings.filters)
    start = time.perf_counter()
    with pytest.raises(DecompressionBomb) as err:
        decode_image(data, BASE)
    assert time.perf_counter() - start < 0.5
    assert err.value.field == "image"
    assert warnings.filters == filters_before
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's default, untouched


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8193, 8193),  # just over our own declared-pixel limit, under Pillow's warning
        (10_000, 10_000),  # Pillow warns: that warning must become our refusal
        (1, MAX_DECLARED_PIXELS + 1),
    ],
)
def test_declared_pixel_limit(width: int, height: int) -> None:
    assert width * height > MAX_DECLARED_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray DecompressionBombWarning either
        with pytest.raises(DecompressionBomb):
            decode_image(png_declaring(width, height), BASE)


def test_oversized_but_not_bomb_refused_before_decoding() -> None:
    # 8000x8000 = 64M pixels: under the bomb limit, over max_side; refused from the header.
    with pytest.raises(ImageDimensionsInvalid, match="8000x8000"):
        decode_image(png_declaring(8000, 8000), BASE)


# --- base64 -------------------------------------------------------------------------------


def test_base64_round_trip_and_data_url() -> None:
    raw = encode(noise(60, 60), "PNG")
    text = base64.b64encode(raw).decode()
    assert decode_base64(text, max_chars=10**6) == (raw, None)
    assert decode_base64(text.encode(), max_chars=10**6) == (raw, None)
    assert decode_base64(f"  data:image/png;base64,{text}\n", max_chars=10**6) == (raw, "image/png")
    assert decode_base64(f"DATA:Image/JPEG;name=a.jpg;BASE64,{text}", max_chars=10**6) == (raw, "image/jpeg")
    assert decode_base64(f"data:;base64,{text}", max_chars=10**6) == (raw, None)
    decoded, mime = decode_base64(f"data:image/png;base64,{text}", max_chars=10**6)
    assert decode_image(decoded, BASE, declared_mime=mime).format == "png"


def test_base64_max_chars_edge() -> None:
    text = base64.b64encode(bytes(range(30))).decode()  # 40 characters
    assert decode_base64(text, max_chars=40)[0] == bytes(range(30))
    assert decode_base64(f"data:image/png;base64,{text}", max_chars=40)[0] == bytes(range(30))
    assert decode_base64(f" \n{text}\t ", max_chars=40)[0] == bytes(range(30))
    with pytest.raises(ImageTooLarge):
        decode_base64(text, max_chars=39)
    with pytest.raises(ImageTooLarge):
        decode_base64(text + "\n" + "QQ", max_chars=42)  # embedded line break counts


def test_base64_length_checked_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):  # invalid, but too long is what is reported
        decode_base64("!" * 101, max_chars=100)


def test_base64_padding_and_line_breaks_tolerated() -> None:
    raw = bytes(range(256)) * 3
    text = base64.encodebytes(raw).decode()  # MIME: a line break every 76 characters
    assert "\n" in text.strip()
    assert decode_base64(text, max_chars=10**6)[0] == raw
    assert decode_base64(text.replace("\n", "\r\n"), max_chars=10**6)[0] == raw
    assert decode_base64("QQ", max_chars=10)[0] == b"A"
    assert decode_base64("QQ=", max_chars=10)[0] == b"A"
    assert decode_base64("QUI", max_chars=10)[0] == b"AB"


def test_base64_url_safe_alphabet_accepted() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF]) * 10
    assert decode_base64(base64.urlsafe_b64encode(raw).decode(), max_chars=100)[0] == raw
    assert decode_base64(base64.urlsafe_b64encode(raw).decode().rstrip("="), max_chars=100)[0] == raw


@pytest.mark.parametrize(
    "text",
    ["QUJD+-__", "QU JD", "QUJD*", "QQ==QQ==", "QUJD=", "QQ===", "Q", "QUJDR", "data:image/png,QUJD",
     "data:image/png;base64", "QUJD\x00", "Q\u00e9JD"],
)
def test_base64_invalid(text: str) -> None:
    with pytest.raises(InvalidBase64):
        decode_base64(text, max_chars=100)


def test_base64_space_hint_mentions_form_decoding() -> None:
    with pytest.raises(InvalidBase64, match="form"):
        decode_base64("ab c", max_chars=100)


@pytest.mark.parametrize("text", ["", "   \n", "data:image/png;base64,", b""])
def test_base64_empty(text: str | bytes) -> None:
    with pytest.raises(EmptyImage):
        decode_base64(text, max_chars=100)


# --- content signatures ---------------------------------------------------------------------


def test_cont_sign_same_pixels_same_sign_across_formats() -> None:
    pixels = skdata.astronaut()
    png = decode_image(encode(pixels, "PNG"), BASE)
    bmp = decode_image(encode(pixels, "BMP"), BASE)
    assert png.data != bmp.data
    assert cont_sign(png.pixels) == cont_sign(bmp.pixels) == cont_sign(pixels.copy())
    high, low = (int(part) for part in cont_sign(pixels).split(","))
    assert 0 <= high <= 0xFFFFFFFF and 0 <= low <= 0xFFFFFFFF


def test_cont_sign_is_deterministic_and_content_sensitive() -> None:
    pixels = noise(64, 48, seed=7)
    assert cont_sign(pixels) == cont_sign(pixels.copy())
    changed = pixels.copy()
    changed[47, 63, 2] ^= 1
    assert cont_sign(changed) != cont_sign(pixels)
    # Same bytes, other shape: a different image, a different sign.
    assert cont_sign(pixels.reshape(48 * 2, 32, 3)) != cont_sign(pixels)
    # Views sign like their contiguous copies.
    view = noise(100, 100)[::2, ::2]
    assert cont_sign(view) == cont_sign(np.ascontiguousarray(view))


def test_cont_sign_known_value() -> None:
    # Pins the algorithm: a change here would orphan every stored cont_sign.
    assert cont_sign(np.zeros((2, 3, 3), np.uint8)) == "3524099054,1091927917"
    pixels = noise(5, 4, seed=11)
    assert cont_sign(pixels) == _reference_sign(pixels)


def _reference_sign(pixels: np.ndarray) -> str:
    import hashlib

    digest = hashlib.sha256(b"tusou-rgb8-v1" + struct.pack(">II", *pixels.shape[:2]) + pixels.tobytes()).digest()
    return "{},{}".format(*struct.unpack(">II", digest[:8]))


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)]
)
def test_cont_sign_rejects_non_rgb8(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        cont_sign(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0,0", "0,0"), ("4294967295,4294967295", "4294967295,4294967295"), (" 12,34\n", "12,34"),
     ("0012,000", "12,0"), ("00000000000004294967295,1", "4294967295,1")],
)
def test_parse_cont_sign_valid(text: str, expected: str) -> None:
    assert parse_cont_sign(text) == expected


@pytest.mark.parametrize(
    "text",
    ["4294967296,1", "1,4294967296", "99999999999,1", "-1,2", "1,-2", "+1,2", "1, 2", "1 ,2", "12",
     "1,2,3", "", " ", ",", "1,", ",1", "a,b", "1.5,2", "0x10,2", "\u0661,\u0662", "1;2", "1" * 100 + ",1"],
)
def test_parse_cont_sign_invalid(text: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        parse_cont_sign(text)
    assert err.value.field == "cont_sign"


def test_parse_cont_sign_list() -> None:
    assert parse_cont_sign_list("1,2;3,4;;01,2; 5,6 ;", max_count=3) == ["1,2", "3,4", "5,6"]
    assert parse_cont_sign_list("1,2|3,4", max_count=2, sep="|") == ["1,2", "3,4"]
    with pytest.raises(InvalidParameter):
        parse_cont_sign_list("1,2;3,4;5,6", max_count=2)
    with pytest.raises(InvalidParameter):
        parse_cont_sign_list("1,2;oops", max_count=5)
    for empty in ("", " ; ;", ";"):
        with pytest.raises(MissingParameter):
            parse_cont_sign_list(empty, max_count=5)


# --- URL fetching ---------------------------------------------------------------------------


IMAGE_BYTES = encode(noise(64, 64, seed=3), "PNG")


class _Handler(BaseHTTPRequestHandler):
    stop: threading.Event

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: C901 - a routing table, flat on purpose
        path = self.path.split("?", 1)[0]
        if path == "/img.png":
            self._send(200, IMAGE_BYTES, "image/png")
        elif path == "/host":
            self._send(200, self.headers.get("Host", "").encode(), "text/plain")
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect("/img.png" if left == 0 else f"/chain/{left - 1}")
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/to-named":
            self._redirect(self.headers.get("X-Target", "http://metadata.test/"))
        elif path == "/to-ftp":
            self._redirect("ftp://example.com/a.png")
        elif path == "/no-location":
            self._send(302, b"", "text/plain")
        elif path == "/big":
            self._send(200, b"x" * 2000, "image/png")
        elif path == "/big-unsized":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 2000)
        elif path == "/empty":
            self._send(200, b"", "image/png")
        elif path == "/gzip":
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"abc")
        elif path == "/drip":
            self._drip()
        elif path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.stop.wait(3)
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        end = time.monotonic() + 5
        try:
            while time.monotonic() < end and not self.stop.is_set():
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.02)
        except OSError:
            pass  # the client hung up, as it should


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    stop = threading.Event()
    handler = type("Handler", (_Handler,), {"stop": stop})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    stop.set()
    httpd.shutdown()
    httpd.server_close()


def loopback_fetcher(**options: object) -> UrlFetcher:
    return UrlFetcher(allow_loopback=True, timeout_s=2.0, **options)  # type: ignore[arg-type]


def test_fetch_image_from_loopback_when_allowed(server: str) -> None:
    fetched = loopback_fetcher().fetch(f"{server}/img.png")
    assert fetched.data == IMAGE_BYTES
    assert fetched.content_type == "image/png"
    assert fetched.final_url == f"{server}/img.png"
    decoded = decode_image(fetched.data, BASE, declared_mime=fetched.content_type)
    assert decoded.width == 64


def test_loopback_forbidden_by_default(server: str) -> None:
    fetcher = UrlFetcher(timeout_s=2.0)
    port = server.rsplit(":", 1)[1]
    for url in (f"{server}/img.png", f"http://localhost:{port}/img.png", f"http://2130706433:{port}/img.png",
                f"http://0x7f.1:{port}/img.png", f"http://[::1]:{port}/img.png", f"http://0.0.0.0:{port}/img.png"):
        with pytest.raises(UrlForbidden) as err:
            fetcher.fetch(url)
        assert err.value.field == "url"


def test_numeric_host_normalised_by_resolver(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    assert loopback_fetcher().fetch(f"http://2130706433:{port}/img.png").data == IMAGE_BYTES


def test_redirect_chain_within_limit(server: str) -> None:
    fetched = loopback_fetcher(max_redirects=3).fetch(f"{server}/chain/2")  # 3 redirects
    assert fetched.data == IMAGE_BYTES and fetched.final_url == f"{server}/img.png"


@pytest.mark.parametrize("path", ["/chain/3", "/loop"])
def test_too_many_redirects(server: str, path: str) -> None:
    with pytest.raises(UrlFetchFailed, match="redirects"):
        loopback_fetcher(max_redirects=3).fetch(f"{server}{path}")


def test_redirect_to_metadata_address_refused(server: str) -> None:
    with pytest.raises(UrlForbidden):
        loopback_fetcher().fetch(f"{server}/to-metadata")


def test_redirect_to_name_resolving_private_refused(server: str) -> None:
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["169.254.169.254"]

    with pytest.raises(UrlForbidden):
        loopback_fetcher(resolver=resolver).fetch(f"{server}/to-named")
    assert asked == ["metadata.test"]


def test_redirect_to_other_scheme_refused(server: str) -> None:
    with pytest.raises(UrlForbidden):
        loopback_fetcher().fetch(f"{server}/to-ftp")


def test_redirect_without_location(server: str) -> None:
    with pytest.raises(UrlFetchFailed, match="302"):
        loopback_fetcher().fetch(f"{server}/no-location")


def test_endless_slow_body_hits_overall_deadline(server: str) -> None:
    start = time.monotonic()
    with pytest.raises(UrlTimeout) as err:
        UrlFetcher(allow_loopback=True, timeout_s=0.5).fetch(f"{server}/drip")
    assert 0.45 < time.monotonic() - start < 1.5
    assert err.value.field == "url"


def test_stalled_body_hits_overall_deadline(server: str) -> None:
    start = time.monotonic()
    with pytest.raises(UrlTimeout):
        UrlFetcher(allow_loopback=True, timeout_s=0.5).fetch(f"{server}/stall")
    assert time.monotonic() - start < 1.5


def test_slow_resolver_counts_against_deadline() -> None:
    def slow(host: str, port: int) -> list[str]:
        time.sleep(2)
        return ["127.0.0.1"]

    start = time.monotonic()
    with pytest.raises(UrlTimeout):
        UrlFetcher(allow_loopback=True, timeout_s=0.3, resolver=slow).fetch("http://slow.test/")
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_oversize_body(server: str, path: str) -> None:
    with pytest.raises(ImageTooLarge) as err:
        loopback_fetcher(max_bytes=1999).fetch(f"{server}{path}")
    assert err.value.field == "url"
    assert len(loopback_fetcher(max_bytes=2000).fetch(f"{server}{path}").data) == 2000


def test_http_error_status(server: str) -> None:
    with pytest.raises(UrlFetchFailed, match="404") as err:
        loopback_fetcher().fetch(f"{server}/missing.png")
    assert err.value.field == "url"


def test_empty_body(server: str) -> None:
    with pytest.raises(EmptyImage):
        loopback_fetcher().fetch(f"{server}/empty")


def test_compressed_body_refused(server: str) -> None:
    with pytest.raises(UrlFetchFailed, match="gzip"):
        loopback_fetcher().fetch(f"{server}/gzip")


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UrlFetchFailed):
        loopback_fetcher().fetch(f"http://127.0.0.1:{port}/img.png")


def test_dns_failure() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UrlFetchFailed, match="resolve"):
        UrlFetcher(resolver=failing).fetch("http://no-such-host.test/a.png")
    with pytest.raises(UrlFetchFailed):
        UrlFetcher(resolver=lambda host, port: []).fetch("http://no-such-host.test/a.png")


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.1"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"], ["::ffff:10.1.2.3"], ["100.64.0.1"],
     ["192.168.1.1"], ["172.16.0.1"], ["127.0.0.1"], ["0.0.0.0"], ["fd00::1"], ["fe80::1%eth0"],
     ["224.0.0.1"], ["240.0.0.1"], ["64:ff9b::a00:1"], ["2002:a00:1::1"], ["not-an-address"],
     ["93.184.216.34", "10.0.0.1"]],
)
def test_public_looking_host_resolving_private_refused(addresses: list[str]) -> None:
    def connect_guard(*args: object, **kwargs: object) -> None:
        raise AssertionError("must be refused before connecting")

    fetcher = UrlFetcher(timeout_s=1.0, resolver=lambda host, port: addresses)
    fetcher._get = connect_guard  # type: ignore[method-assign]
    with pytest.raises(UrlForbidden) as err:
        fetcher.fetch("https://images.example.com/cat.jpg")
    assert err.value.field == "url"
    assert "10.0.0.1" not in err.value.message  # internal addresses are not echoed back


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "192.168.0.1", "fd00::1", "0.0.0.0"])
def test_allow_loopback_allows_only_loopback(address: str) -> None:
    fetcher = UrlFetcher(allow_loopback=True, timeout_s=1.0, resolver=lambda host, port: [address])
    with pytest.raises(UrlForbidden):
        fetcher.fetch("http://images.example.com/cat.jpg")


def test_address_classification() -> None:
    for public in ("8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"):
        assert is_public_address(public)
    for loopback in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"):
        assert not is_public_address(loopback)
        assert is_public_address(loopback, allow_loopback=True)


def test_dns_pinned_to_validated_address(server: str) -> None:
    """DNS rebinding: the second answer (private) must never be used for the connection."""
    port = int(server.rsplit(":", 1)[1])
    answers = iter([["127.0.0.1"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers, ["10.0.0.1"])

    fetched = loopback_fetcher(resolver=rebinding).fetch(f"http://img.test:{port}/host")
    assert fetched.data == f"img.test:{port}".encode()  # Host header keeps the name
    assert calls == ["img.test"]


def test_backend_refuses_unvalidated_host() -> None:
    backend = _PinnedBackend({}, time.monotonic() + 5)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("evil.test", 80)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_unix_socket("/var/run/docker.sock")


def test_url_length_edge(server: str) -> None:
    base = f"{server}/img.png?pad="
    url = base + "a" * (200 - len(base))
    assert len(url) == 200
    assert loopback_fetcher(max_url_length=200).fetch(url).data == IMAGE_BYTES
    with pytest.raises(ParameterTooLong) as err:
        loopback_fetcher(max_url_length=199).fetch(url)
    assert err.value.field == "url"
    with pytest.raises(ParameterTooLong):  # counted in bytes, not characters
        loopback_fetcher(max_url_length=200).fetch(url[:-1] + "\u00e9")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("", MissingParameter),
        ("   ", MissingParameter),
        ("http://exa mple.com/a.png", InvalidParameter),
        ("http://[::1/a.png", InvalidParameter),
        ("http:///a.png", InvalidParameter),
        ("http://host:99999/a.png", InvalidParameter),
        ("http://ho%2Fst/a.png", InvalidParameter),
        ("http://host/a\nb.png", InvalidParameter),
        ("not a url", InvalidParameter),
        ("ftp://example.com/a.png", UrlForbidden),
        ("file:///etc/passwd", UrlForbidden),
        ("javascript:alert(1)", UrlForbidden),
        ("gopher://127.0.0.1:6379/_INFO", UrlForbidden),
        ("http://user:secret@example.com/a.png", UrlForbidden),
        ("http://user@example.com/a.png", UrlForbidden),
    ],
)
def test_bad_urls(url: str, error: type[Exception]) -> None:
    fetcher = UrlFetcher(resolver=lambda host, port: pytest.fail("must not resolve"))
    with pytest.raises(error) as err:
        fetcher.fetch(url)
    assert err.value.field == "url"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    """HTTPS on 127.0.0.1 with a self-signed certificate for img.test; records the SNI names."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=img.test",
         "-addext", "subjectAltName=DNS:img.test"],
        check=True, capture_output=True, timeout=30,
    )
    sni: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: sni.append(name or "")
    stop = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"stop": stop}))
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield str(httpd.server_address[1]), cert, sni
    stop.set()
    httpd.shutdown()
    httpd.server_close()


def test_https_pinned_address_keeps_sni_and_certificate_name(tls_server: tuple[str, Path, list[str]]) -> None:
    port, cert, sni = tls_server
    trust = ssl.create_default_context(cafile=str(cert))
    fetcher = UrlFetcher(allow_loopback=True, timeout_s=2.0, ssl_context=trust, resolver=lambda h, p: ["127.0.0.1"])
    fetched = fetcher.fetch(f"https://img.test:{port}/img.png")
    assert fetched.data == IMAGE_BYTES
    assert sni[-1] == "img.test"  # connected to the pinned IP, spoke TLS to the name
    # The certificate is still checked against the URL's host name.
    for url in (f"https://other.test:{port}/img.png", f"https://127.0.0.1:{port}/img.png"):
        with pytest.raises(UrlFetchFailed):
            fetcher.fetch(url)


# --- shared sample set (imagededup test data), when present ---------------------------------


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared dedup-variants data not present")


@needs_shared
def test_shared_format_images() -> None:
    files = sorted((SHARED / "formats_images").iterdir())
    assert files
    big = ImageLimits(formats=ALL_FORMATS.formats, max_bytes=16 * 1024 * 1024)  # Iggy.1024.ppm is 3 MiB
    for path in files:
        data = path.read_bytes()
        real = Image.open(io.BytesIO(data)).format.lower()  # the files' names are not their formats
        decoded = decode_image(data, big)
        assert decoded.format == real, path.name
        assert decoded.pixels.shape == (decoded.height, decoded.width, 3)
        if real not in BASE.formats:
            with pytest.raises(UnsupportedImageFormat):
                decode_image(data, ImageLimits(max_bytes=big.max_bytes))
        # A file whose extension lies about its content fails a type check on that extension.
        ext_mime = {"png": "image/png", "bmp": "image/bmp", "svg": "image/svg+xml", "gif": "image/gif"}
        claimed = ext_mime.get(path.suffix.lstrip(".").lower())
        if claimed and real != path.suffix.lstrip(".").lower():
            with pytest.raises(ImageTypeMismatch):
                decode_image(data, big, declared_mime=claimed)


@needs_shared
def test_shared_corrupt_and_originals() -> None:
    for corrupt in SHARED.rglob("ukbench09268_corrupt.jpg"):
        with pytest.raises(UndecodableImage):
            decode_image(corrupt.read_bytes(), BASE)
    originals = sorted((SHARED / "base_images").glob("*.jpg"))
    signs = {cont_sign(decode_image(path.read_bytes(), BASE).pixels) for path in originals}
    assert len(signs) == len(originals)
    rgba = decode_image((SHARED / "alpha_channel_image.png").read_bytes(), BASE)
    assert rgba.pixels.shape[2] == 3
