"""HTTP faces over the engine: the native REST API and the vendor-compatible faces."""

from tusou.api.app import create_app

__all__ = ["create_app"]
