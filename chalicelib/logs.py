"""Structured JSON logs (Powertools Logger) that never carry message text, keys or whole numbers."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="sms-gateway", use_rfc3339=True)


def mask_phone(phone: str | None) -> str:
    """+14155550100 -> +1415*****00: enough to tell numbers apart in an incident, not to dial one."""
    if not phone:
        return ""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:5] + "*" * (len(phone) - 7) + phone[-2:]
