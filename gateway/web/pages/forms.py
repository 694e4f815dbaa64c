"""What the form pages share: reading a posted form as text, GOV.UK error lists, and a
``GatewayError`` shown next to the field it is about (its detail names the field)."""

from __future__ import annotations

import re
from typing import Any

from gateway.core.errors import GatewayError

MAX_FIELD = 4000


def text(form: Any, name: str, limit: int = MAX_FIELD) -> str:
    """A posted field as text (a file or anything else posted under the name reads as "")."""
    value = form.get(name, "")
    return value.strip()[:limit + 1] if isinstance(value, str) else ""


def error(text_: str, field: str) -> dict[str, str]:
    """One entry of the GOV.UK error summary, linking to the field."""
    return {"text": text_, "href": f"#{field}"}


def by_field(errors: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """The errors keyed by field id, for the message shown next to each field."""
    return {e["href"].removeprefix("#"): {"text": e["text"]} for e in errors}


def field_of(exc: GatewayError, fields: dict[str, str], default: str) -> str:
    """The form field a refusal is about: the first field name that its detail mentions as a
    word (``fields`` maps the names the back end uses to the form's ids)."""
    detail = exc.detail or ""
    for name, field in fields.items():
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", detail):
            return field
    return default


def refusal(exc: GatewayError, fields: dict[str, str], default: str) -> dict[str, str]:
    return error(exc.text, field_of(exc, fields, default))


# Characters XML 1.0 cannot carry (as ``workflow.chasing`` refuses them): a field holding one
# could never be signed into a message, so it is refused at the field, never a 500.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def unsendable(form: Any) -> list[dict[str, str]]:
    """An error for each posted field holding a character no message can carry (a control
    character pasted from another system)."""
    return [error("Remove the control character from this field: it cannot be sent", key)
            for key, value in form.items()
            if isinstance(value, str) and _NOT_XML.search(value)]
