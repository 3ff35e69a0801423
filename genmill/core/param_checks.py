"""Checks on a submission that a model's pydantic params do not make themselves.

Pydantic's lax mode turns `true` into 1 for an integer and accepts "inf" or "nan" for a
float. A client that sends `true` for a number made a mistake worth naming, and a
non-finite number cannot be stored: PostgreSQL's JSON columns refuse NaN and Infinity.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from genmill.core.errors import InvalidRequest


def refuse_bools_for_numbers(sent: dict[str, Any], params: BaseModel) -> None:
    """A field sent as true/false whose validated value is a number: a 400 naming it."""
    for name, value in sent.items():
        if not isinstance(value, bool):
            continue
        validated = getattr(params, name, None)
        if isinstance(validated, int | float) and not isinstance(validated, bool):
            raise InvalidRequest(f"{name}: must be a number, not {str(value).lower()}", name)


def refuse_non_finite(values: Any, path: str = "") -> None:
    """NaN or ±Infinity anywhere in the validated params: a 400 naming the field."""
    if isinstance(values, float) and not math.isfinite(values):
        field = path or "body"
        raise InvalidRequest(f"{field}: must be a finite number, not {values}", field)
    if isinstance(values, dict):
        for key, value in values.items():
            refuse_non_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(values, list | tuple):
        for index, value in enumerate(values):
            refuse_non_finite(value, f"{path}[{index}]")
