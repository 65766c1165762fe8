"""Form validation for catalog items: each problem is one short Chinese sentence for the citizen."""

from __future__ import annotations

import datetime as dt
import re

from kiosk.catalog import FormField
from kiosk.idnumber import is_valid_id_number

_PHONE = re.compile(r"^1[3-9]\d{9}$")


def _check(spec: FormField, value: str) -> str | None:
    if spec.max_length and len(value) > spec.max_length:
        return f"{spec.label}最多{spec.max_length}个字，请删减。"
    match spec.type:
        case "phone" if not _PHONE.match(value):
            return "请输入11位手机号码。"
        case "id_number" if not is_valid_id_number(value):
            return "身份证号码不正确，请核对后重新输入。"
        case "number" if not value.isdigit():
            return f"{spec.label}只能填数字。"
        case "choice" if value not in (spec.options or []):
            return f"请选择{spec.label}。"
        case "date":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return f"{spec.label}请按“年-月-日”填写，例如 2026-01-31。"
    return None


def validate_form(fields: list[FormField], values: dict[str, str]) -> dict[str, str]:
    """Return {field: message} for every problem; an empty dict means the form can be submitted."""
    errors: dict[str, str] = {}
    for spec in fields:
        value = values.get(spec.field, "").strip()
        if not value:
            if spec.required:
                errors[spec.field] = (
                    f"请填写{spec.label}。" if spec.type != "choice" else f"请选择{spec.label}。"
                )
            continue
        problem = _check(spec, value)
        if problem:
            errors[spec.field] = problem
    return errors
