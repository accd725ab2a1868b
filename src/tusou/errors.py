"""The engine's error types.

Every face translates these into its own wire format (HTTP status + JSON for the native API,
error codes for the vendor faces), so each error carries a stable machine-readable ``code``,
a human message, and the offending ``field`` where there is one. Nothing here knows HTTP.
"""

from __future__ import annotations

from typing import Any


class TusouError(Exception):
    """Base class: a failure the caller can act on."""

    code: str = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details: dict[str, Any] = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r})"


# --- request parameters -------------------------------------------------------------------


class InvalidParameter(TusouError):
    code = "invalid_parameter"


class MissingParameter(TusouError):
    code = "missing_parameter"


class ParameterTooLong(TusouError):
    code = "parameter_too_long"


# --- images -------------------------------------------------------------------------------


class ImageError(TusouError):
    """Base for everything wrong with an image the caller sent."""

    code = "invalid_image"


class EmptyImage(ImageError):
    code = "empty_image"


class InvalidBase64(ImageError):
    code = "invalid_base64"


class ImageTooLarge(ImageError):
    """The encoded image (bytes or base64 text) is over the size limit."""

    code = "image_too_large"


class UndecodableImage(ImageError):
    """Not an image at all, or a truncated / corrupt one."""

    code = "undecodable_image"


class UnsupportedImageFormat(ImageError):
    """A real image, but of a format the library kind does not accept."""

    code = "unsupported_image_format"


class ImageTypeMismatch(ImageError):
    """The declared type (data: URL or Content-Type) says one format, the bytes another."""

    code = "image_type_mismatch"


class DecompressionBomb(ImageError):
    """Declared dimensions far beyond any limit: refused before decoding the pixels."""

    code = "decompression_bomb"


class ImageDimensionsInvalid(ImageError):
    """Shortest side under the kind's minimum, longest side over 4096 px, or bad aspect."""

    code = "image_dimensions_invalid"


# --- URLs ---------------------------------------------------------------------------------


class UrlError(TusouError):
    code = "url_error"


class UrlForbidden(UrlError):
    """Scheme not http(s), or the host resolves to a private / loopback / link-local address."""

    code = "url_forbidden"


class UrlFetchFailed(UrlError):
    code = "url_fetch_failed"


class UrlTimeout(UrlError):
    code = "url_timeout"


# --- library and image state --------------------------------------------------------------


class LibraryNotFound(TusouError):
    code = "library_not_found"


class LibraryExists(TusouError):
    code = "library_exists"


class ImageNotFound(TusouError):
    code = "image_not_found"


class DuplicateImage(TusouError):
    """The same image is already in the library; ``cont_sign`` names it."""

    code = "duplicate_image"

    def __init__(self, cont_sign: str) -> None:
        super().__init__(f"image already exists in this library (cont_sign {cont_sign})",
                         field="image", cont_sign=cont_sign)
        self.cont_sign = cont_sign


class FeatureExtractionFailed(TusouError):
    code = "feature_extraction_failed"
