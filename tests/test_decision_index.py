"""docs/decisions/README.md lists every decision record with its status, and nothing else.

Helpers add records in parallel; a record missing from the index (or a row
whose file was renamed) fails here rather than going unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path

DECISIONS = Path(__file__).resolve().parents[1] / "docs" / "decisions"
ROW = re.compile(r"^\| \[(?P<number>\d{4})\]\((?P<file>[^)]+)\) \| (?P<title>[^|]+) \| (?P<status>[^|]+) \|$")
STATUS = re.compile(r"^(accepted|proposed|partly superseded by|superseded|superseded by|retired by)\b")


def index_rows() -> list[re.Match[str]]:
    lines = (DECISIONS / "README.md").read_text().splitlines()
    return [match for line in lines if (match := ROW.match(line))]


def test_every_record_is_in_the_index_and_every_row_names_a_record():
    records = {path.name for path in DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md")}
    listed = [row["file"] for row in index_rows()]
    assert sorted(set(records) - set(listed)) == [], "records missing from docs/decisions/README.md"
    assert sorted(set(listed) - set(records)) == [], "index rows naming no record file"
    assert len(listed) == len(set(listed)), "a record is listed twice"


def test_each_row_has_the_records_number_and_a_status_that_names_existing_records():
    numbers = {path.name[:4] for path in DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md")}
    for row in index_rows():
        assert row["file"].startswith(row["number"] + "-"), row.group(0)
        status = row["status"].strip()
        assert STATUS.match(status), f"{row['number']}: status {status!r} does not start with a known word"
        for named in re.findall(r"\b\d{4}\b", status):
            assert named in numbers, f"{row['number']}: status names record {named}, which does not exist"
