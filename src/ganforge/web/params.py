"""The query parameters of the serve API: parsed strictly, each bad one a 400 with a message that says
what is wrong (never a 500), so that any URL a browser or an attacker sends gets a clean answer."""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qs

from ganforge.sampling import MAX_TRUNCATION, MIN_TRUNCATION, parse_classes

INT_TEXT = re.compile(r"^[+-]?\d{1,19}$")


class ApiError(Exception):
    """An HTTP error with a message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- parsing request parameters (pure) ------------------------------------------------------------------
def parse_query(query: str, allowed: set[str]) -> dict[str, str]:
    """Query string -> one value per known key; repeated or unknown keys are errors."""
    try:
        pairs = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=32)
    except ValueError:
        raise ApiError(400, "too many parameters") from None
    unknown = sorted(set(pairs) - allowed)
    if unknown:
        raise ApiError(400, f"unknown parameter '{unknown[0]}'; expected: {', '.join(sorted(allowed))}")
    repeated = sorted(k for k, v in pairs.items() if len(v) > 1)
    if repeated:
        raise ApiError(400, f"parameter '{repeated[0]}' given more than once")
    return {k: v[0] for k, v in pairs.items()}


def int_param(params: dict[str, str], key: str, default: int, low: int, high: int, label: str) -> int:
    text = params.get(key, "").strip()
    if text == "":
        return default
    if not INT_TEXT.match(text):
        raise ApiError(400, f"{label} must be a whole number between {low} and {high}, got '{text[:20]}'")
    value = int(text)
    if not low <= value <= high:
        raise ApiError(400, f"{label} must be between {low} and {high}, got {value}")
    return value


def truncation_param(params: dict[str, str]) -> float | None:
    text = params.get("truncation", "").strip().lower()
    if text in ("", "none", "off"):
        return None
    try:
        value = float(text) if len(text) <= 32 else math.nan
    except ValueError:
        value = math.nan
    low, high = MIN_TRUNCATION, MAX_TRUNCATION  # the bounds LIMITS publishes to the page
    if not math.isfinite(value) or not low <= value <= high:
        raise ApiError(400, f"truncation must be empty (off) or a number between {low} and {high}, "
                            f"got '{text[:20]}'")
    return value


def class_param(params: dict[str, str], num_classes: int, class_names: list[str] | None) -> list[int] | None:

    text = params.get("class", "").strip()
    if text in ("", "all"):
        return None
    if len(text) > 2000:
        raise ApiError(400, "class list too long")
    return parse_classes(text, num_classes, class_names)  # GanforgeError -> 400


# -- the generator cache ------------------------------------------------------------------------------------
