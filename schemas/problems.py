"""A pydantic refusal in words a clerk can act on: each field and the reason, never the value
(the value may be a citizen ID), no pydantic boilerplate."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

# The common structural errors in Chinese first; custom validators already speak both.
REASONS = {
    "missing": "必填项缺失 (required)",
    "extra_forbidden": "不允许的字段 (not a field of this form)",
    "string_too_short": "内容过短 (too short)",
    "string_too_long": "内容过长 (too long)",
    "too_short": "至少须有一项 (needs at least one item)",
    "string_type": "须为文字 (must be text)",
    "bool_type": "须为 true 或 false (must be true or false)",
    "int_type": "须为整数 (must be a whole number)",
    "int_parsing": "须为整数 (must be a whole number)",
    "date_type": "须为日期 YYYY-MM-DD (must be a date)",
    "date_parsing": "须为日期 YYYY-MM-DD (must be a date)",
    "date_from_datetime_parsing": "须为日期 YYYY-MM-DD (must be a date)",
    "model_type": "须为 JSON 对象 (must be a JSON object)",
    "model_attributes_type": "须为 JSON 对象 (must be a JSON object)",
    "dict_type": "须为 JSON 对象 (must be a JSON object)",
    "list_type": "须为列表 (must be a list)",
    "timezone_aware": "须带时区, 如 +08:00 (must give its offset, e.g. +08:00)",
}
PREFIXES = ("Value error, ", "Assertion failed, ")


def reason(error: ErrorDetails) -> str:
    if found := REASONS.get(error["type"]):
        return found
    if error["type"] == "enum":  # the allowed values, never the input
        return f"须为以下之一 (must be one of) {error.get('ctx', {}).get('expected', '')}"
    message = error["msg"]
    for prefix in PREFIXES:
        message = message.removeprefix(prefix)
    return message


def field(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "input"


def problems(error: ValidationError) -> list[str]:
    """One line per problem: `field: reason`."""
    return [
        f"{field(e)}: {reason(e)}" for e in error.errors(include_url=False, include_input=False)
    ]
