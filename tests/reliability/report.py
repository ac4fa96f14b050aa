"""Counts of the reliability tests, for the README's "Reliability" table.

Each test calls :func:`record`; when ``VITALS_RELIABILITY_REPORT`` names a file the row is
appended to it as a JSON line (CI sets it and keeps the file). ``python -m
tests.reliability.report FILE`` prints the Markdown table, rows of one fault summed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def record(area: str, fault: str, **counts: int) -> None:
    """Append one result row (``counts`` like tried=, messages=, lost=)."""
    target = os.environ.get("VITALS_RELIABILITY_REPORT")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"area": area, "fault": fault, **counts}) + "\n")


def table(path: Path) -> str:
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        key = (row.pop("area"), row.pop("fault"))
        into = rows.setdefault(key, {})
        for name, value in row.items():
            into[name] = into.get(name, 0) + int(value)
    out = ["| area | fault or input | counts | lost |", "|---|---|---|---|"]
    for (area, fault), counts in rows.items():
        lost = counts.pop("lost", 0)
        shown = ", ".join(f"{name} {value:,}" for name, value in counts.items())
        out.append(f"| {area} | {fault} | {shown} | {lost} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
