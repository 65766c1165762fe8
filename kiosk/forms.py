"""Form validation for catalog items: each problem is one short sentence for the citizen, in the
citizen's language (the field's label is the catalog's own, in Chinese)."""

from __future__ import annotations

import datetime as dt
import re

from kiosk.catalog import FormField
from kiosk.i18n import _
from kiosk.idnumber import is_valid_id_number

_PHONE = re.compile(r"^1[3-9]\d{9}$")


def _check(spec: FormField, value: str) -> str | None:
    if spec.max_length and len(value) > spec.max_length:
        return _("{label}最多{count}个字，请删减。").format(label=spec.label, count=spec.max_length)
    match spec.type:
        case "phone" if not _PHONE.match(value):
            return _("请输入11位手机号码。")
        case "id_number" if not is_valid_id_number(value):
            return _("身份证号码不正确，请核对后重新输入。")
        case "number" if not value.isdigit():
            return _("{label}只能填数字。").format(label=spec.label)
        case "choice" if value not in (spec.options or []):
            return _("请选择{label}。").format(label=spec.label)
        case "date":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return _("{label}请按“年-月-日”填写，例如 2026-01-31。").format(label=spec.label)
    return None


def validate_form(fields: list[FormField], values: dict[str, str]) -> dict[str, str]:
    """Return {field: message} for every problem; an empty dict means the form can be submitted."""
    errors: dict[str, str] = {}
    for spec in fields:
        value = values.get(spec.field, "").strip()
        if not value:
            if spec.required:
                ask = _("请填写{label}。") if spec.type != "choice" else _("请选择{label}。")
                errors[spec.field] = ask.format(label=spec.label)
            continue
        problem = _check(spec, value)
        if problem:
            errors[spec.field] = problem
    return errors
