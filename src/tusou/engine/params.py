"""Parameter rules shared by every face: briefs, tags, class ids and paging."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tusou.errors import InvalidParameter, MissingParameter, ParameterTooLong

# ASCII digits only (str.isdigit() also accepts '²'), and few enough to stay an int64.
_INTEGER = re.compile(r"-?[0-9]{1,12}")

MAX_BRIEF_BYTES = 256
MAX_TAGS = 2
TAG_MIN, TAG_MAX = 1, 65535
DEFAULT_RN = 300
RESULT_WINDOW = 1000


def validate_brief(brief: str | None, *, required: bool) -> str | None:
    if brief is None or (required and not brief):
        if required:
            raise MissingParameter("brief is required", field="brief")
        return None
    if not isinstance(brief, str):
        raise InvalidParameter("brief must be a string", field="brief")
    if len(brief.encode("utf-8")) > MAX_BRIEF_BYTES:
        raise ParameterTooLong(f"brief is {len(brief.encode('utf-8'))} bytes; at most "
                               f"{MAX_BRIEF_BYTES} bytes of UTF-8", field="brief")
    return brief


def _parse_int(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidParameter(f"{field} must be an integer", field=field)
    if isinstance(value, int):
        return value
    text = str(value).strip() if isinstance(value, str) else ""
    if not _INTEGER.fullmatch(text):
        raise InvalidParameter(f"{field} must be an integer, got {value!r}", field=field)
    return int(text)


def validate_tag_value(value: object, field: str) -> int:
    number = _parse_int(value, field)
    if not TAG_MIN <= number <= TAG_MAX:
        raise InvalidParameter(f"{field} must be in {TAG_MIN}..{TAG_MAX}, got {number}",
                               field=field)
    return number


def parse_tags(value: str | Sequence[object] | None, field: str = "tags") -> tuple[int, ...]:
    """Tags as ``"1,2"`` or a list; at most two, each in 1..65535; duplicates collapse."""
    if value is None:
        return ()
    items: Sequence[object]
    if isinstance(value, str):
        if not value.strip():
            return ()
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise InvalidParameter(f"{field} must be a list of integers or '1,2'", field=field)
    if len(items) > MAX_TAGS:
        raise InvalidParameter(f"at most {MAX_TAGS} {field}, got {len(items)}", field=field)
    tags: list[int] = []
    for item in items:
        tag = validate_tag_value(item, field)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def parse_class_ids(class_id1: object, class_id2: object) -> tuple[int | None, int | None] | None:
    """Product class ids by position; None when neither is given (empty counts as absent)."""
    raw = (class_id1, class_id2)
    if all(v is None or v == "" for v in raw):
        return None
    first, second = (None if v is None or v == "" else validate_tag_value(v, name)
                     for v, name in zip(raw, ("class_id1", "class_id2"), strict=True))
    return first, second


@dataclass(frozen=True)
class Page:
    pn: int = 0
    rn: int = DEFAULT_RN

    @property
    def end(self) -> int:
        return min(self.pn + self.rn, RESULT_WINDOW)


def validate_page(pn: object = None, rn: object = None) -> Page:
    """``pn`` is the offset (0..999), ``rn`` the count (1..1000); the window stops at 1000."""
    start = 0 if pn is None or pn == "" else _parse_int(pn, "pn")
    count = DEFAULT_RN if rn is None or rn == "" else _parse_int(rn, "rn")
    if not 0 <= start < RESULT_WINDOW:
        raise InvalidParameter(f"pn must be in 0..{RESULT_WINDOW - 1}, got {start}", field="pn")
    if not 1 <= count <= RESULT_WINDOW:
        raise InvalidParameter(f"rn must be in 1..{RESULT_WINDOW}, got {count}", field="rn")
    return Page(start, count)


def validate_threshold(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidParameter(f"threshold must be a number, got {value!r}",
                               field="threshold") from None
    if not 0.0 <= number <= 1.0:
        raise InvalidParameter("threshold must be in 0..1", field="threshold")
    return number
