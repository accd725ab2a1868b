"""Where a query or new image comes from: raw bytes, base64 text or a URL."""

from __future__ import annotations

from dataclasses import dataclass

from tusou.errors import MissingParameter
from tusou.images.decode import DecodedImage, decode_base64, decode_image
from tusou.images.fetch import UrlFetcher
from tusou.images.limits import ImageLimits


@dataclass(frozen=True)
class ImageSource:
    """One image as the caller gave it. When several are set, bytes > base64 > url."""

    data: bytes | None = None
    base64: str | None = None
    url: str | None = None
    # The type the caller declared (multipart Content-Type); checked against the bytes.
    declared_mime: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.data is None and self.base64 is None and not self.url


def load_image(source: ImageSource, limits: ImageLimits, fetcher: UrlFetcher) -> DecodedImage:
    """Decode and validate ``source`` against ``limits``; raises the engine's image errors."""
    if source.data is not None:
        return decode_image(source.data, limits, declared_mime=source.declared_mime)
    if source.base64 is not None:
        data, mime = decode_base64(source.base64, max_chars=limits.max_base64_chars)
        return decode_image(data, limits, declared_mime=mime)
    if source.url:
        fetched = fetcher.capped(limits.max_bytes).fetch(source.url)
        # Servers mislabel images too often for their Content-Type to be held against them.
        return decode_image(fetched.data, limits)
    raise MissingParameter("an image is required (file, base64 image or url)", field="image")
