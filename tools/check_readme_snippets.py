#!/usr/bin/env python3
"""Checks that README.md's code snippets are the code that CI compiles and runs.

A snippet in the README is a fenced code block right after a marker line
    <!-- snippet: examples/futures_tour.cpp submit -->
and must equal, after removing the common indentation, the region of that file between
    // [submit]    and    // [/submit]
Exits 1 with a diff for each mismatch, and also when the README has no snippet at all (a
checker that checks nothing must not pass).
"""
import difflib
import re
import sys
import textwrap
from pathlib import Path

MARKER = re.compile(r"^<!-- snippet: (?P<file>\S+) (?P<name>[\w-]+) -->$")


def region(source: Path, name: str) -> list[str] | None:
    lines = source.read_text().splitlines()
    begin, end = f"// [{name}]", f"// [/{name}]"
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        return None
    return textwrap.dedent("\n".join(lines[starts[0] + 1 : ends[0]])).splitlines()


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    readme = root / "README.md"
    lines = readme.read_text().splitlines()
    failures, checked = 0, 0
    for i, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        checked += 1
        where = f"README.md:{i + 1}"
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            print(f"{where}: the marker must be followed by a fenced code block")
            failures += 1
            continue
        close = next((j for j in range(i + 2, len(lines)) if lines[j].startswith("```")), None)
        if close is None:
            print(f"{where}: unterminated code block")
            failures += 1
            continue
        block = lines[i + 2 : close]
        source = root / match["file"]
        expected = region(source, match["name"]) if source.exists() else None
        if expected is None:
            print(f"{where}: no single region '// [{match['name']}]' ... "
                  f"'// [/{match['name']}]' in {match['file']}")
            failures += 1
            continue
        if block != expected:
            failures += 1
            print(f"{where}: snippet '{match['name']}' differs from {match['file']}:")
            sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(
                expected, block, match["file"], "README.md", lineterm=""))
    if checked == 0:
        print("README.md has no '<!-- snippet: FILE NAME -->' markers: nothing was checked")
        return 1
    print(f"{checked} README snippets checked, {failures} differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
