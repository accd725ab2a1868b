"""The metadata store: SQL, the source of truth for libraries, images and their descriptors."""

from tusou.store.repository import ImageRecord, LibraryRecord, NewImage, Store, TagFilter

__all__ = ["ImageRecord", "LibraryRecord", "NewImage", "Store", "TagFilter"]
