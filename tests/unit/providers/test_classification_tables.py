"""docs/providers.md's classification tables say what the code does: each vendor's table is read, every code it
names is classified by the adapter's own table, and every code the adapter knows is in the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.providers import Outcome
from chalicelib.vendors.aws import adapter as aws_sms
from chalicelib.vendors.twilio import adapter as twilio
from chalicelib.vendors.vonage import adapter as vonage

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "providers.md"
CLASSES = {
    "accepted": Outcome.ACCEPTED,
    "refused": Outcome.REFUSED,
    "refused here": Outcome.REFUSED_HERE,
    "throttled": Outcome.THROTTLED,
    "provider failure": Outcome.PROVIDER_FAILURE,
    "provider failure, configuration": "configuration",
}


def table_rows(section: str) -> list[tuple[str, str]]:
    """(first cell, outcome cell) of each row of the first table under ``## {section}`` whose second column is
    ``outcome``."""
    text = DOC.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = body.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\| [^|]+ \| outcome \|", line))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0], cells[1]))
    return rows


def documented(section: str, code_pattern: str) -> dict[str, Outcome | str]:
    """Each code the table names -> the class its row gives (rows whose outcome is one of CLASSES)."""
    found: dict[str, Outcome | str] = {}
    for first, outcome in table_rows(section):
        if outcome not in CLASSES:
            continue
        for code in re.findall(code_pattern, first):
            assert code not in found, f"{section}: {code} is in two rows"
            found[code] = CLASSES[outcome]
    return found


def test_twilios_table_is_the_adapters():
    docs = documented("Twilio", r"\b\d{5}\b")
    code = {str(number): outcome for number, (outcome, _) in twilio.ERROR_CODES.items()}
    assert docs == code


def test_twilios_unlisted_4xx_is_documented_as_the_provider_failure_it_is():
    [(_, outcome)] = [row for row in table_rows("Twilio") if row[0] == "any other 4xx"]
    assert outcome.startswith("provider failure")
    assert twilio.classify(400, b'{"code": 21999}').outcome is Outcome.PROVIDER_FAILURE


def test_vonages_table_is_the_adapters():
    docs = documented("Vonage", r"^\d{1,2}$|(?<=, )\d{1,2}\b|^\d{1,2}(?=,)")
    docs.pop("0", None)  # "0 (every part)": accepted, not an entry of STATUSES
    code = {status: outcome for status, (outcome, _) in vonage.STATUSES.items()}
    assert docs == code


AWS_NAME = re.compile(r"`([A-Za-z_]+)`")


def aws_rows() -> list[tuple[str, list[str], Outcome | str]]:
    """(exception, the Reasons the row names, class) per row naming ValidationException or ConflictException,
    and (code, [], class) per code of the other rows."""
    rows = []
    for first, outcome in table_rows("AWS"):
        if outcome not in CLASSES:
            continue
        names = AWS_NAME.findall(first)
        if names and names[0] in ("ValidationException", "ConflictException"):
            rows.append((names[0], [name for name in names[1:] if name.isupper()], CLASSES[outcome]))
        else:
            rows += [(name, [], CLASSES[outcome]) for name in names if name in aws_sms.ERROR_CODES]
    return rows


def test_aws_table_is_the_adapters():
    for code, reasons, outcome in aws_rows():
        for reason in reasons or [None]:
            assert aws_sms._class_of(code, reason, 400) == outcome, (code, reason)


def test_every_reason_and_code_the_aws_adapter_knows_is_in_the_table():
    named = {(code, reason) for code, reasons, _ in aws_rows() for reason in reasons or [None]}
    known = {("ValidationException", reason) for reason in
             aws_sms.VALIDATION_REFUSED_HERE | aws_sms.VALIDATION_CONFIGURATION}
    known |= {("ConflictException", reason) for reason in aws_sms.CONFLICT_REFUSALS | aws_sms.CONFLICT_REFUSED_HERE}
    known |= {(code, None) for code in aws_sms.ERROR_CODES}
    assert known <= named, known - named


def test_every_outcome_is_in_the_general_table():
    text = DOC.read_text().split("## What every answer becomes", 1)[1].split("\n## ", 1)[0]
    assert {outcome.value for outcome in Outcome} <= set(re.findall(r"^\| `([a-z_]+)`", text, re.MULTILINE))
