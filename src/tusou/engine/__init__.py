"""The engine: library kinds, the Library service and the Engine that owns them."""

from tusou.engine.engine import Engine, validate_library_name
from tusou.engine.kinds import KINDS, KindSpec, kind_spec
from tusou.engine.library import Library, SearchHit, SearchPage, make_filter, make_labels
from tusou.engine.params import Page, parse_tags, validate_brief, validate_page
from tusou.engine.sources import ImageSource

__all__ = ["Engine", "ImageSource", "KINDS", "KindSpec", "Library", "Page", "SearchHit",
           "SearchPage", "kind_spec", "make_filter", "make_labels", "parse_tags",
           "validate_brief", "validate_library_name", "validate_page"]
