from kiosk.catalog import FormField
from kiosk.forms import validate_form


def field(name, kind, required=True, **kw):
    return FormField(field=name, label=name.upper(), type=kind, required=required, **kw)


FIELDS = [
    field("phone", "phone"),
    field("idn", "id_number", required=False),
    field("bank", "choice", options=["中国银行", "中国农业银行"]),
    field("start", "date", required=False),
    field("acct", "number", required=False, max_length=6),
]


def test_valid_form_has_no_errors():
    values = {
        "phone": "13800138000",
        "idn": "11010519491231002X",
        "bank": "中国银行",
        "start": "2026-12-01",
        "acct": "123456",
    }
    assert validate_form(FIELDS, values) == {}


def test_each_problem_is_reported_per_field_in_chinese():
    values = {
        "phone": "1380013800",
        "idn": "110105194912310021",
        "bank": "工商",
        "start": "2026/12/01",
        "acct": "12a",
    }
    errors = validate_form(FIELDS, values)
    assert set(errors) == {"phone", "idn", "bank", "start", "acct"}
    assert errors["phone"] == "请输入11位手机号码。"
    assert "身份证号码不正确" in errors["idn"]


def test_required_fields_and_length():
    errors = validate_form(FIELDS, {"acct": "1234567"})
    assert errors["phone"] == "请填写PHONE。" and errors["bank"] == "请选择BANK。"
    assert "最多6个字" in errors["acct"]
    assert "idn" not in errors  # optional and empty is fine
