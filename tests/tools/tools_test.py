#!/usr/bin/python3
"""Runs forage-topo --json and forage-trace and checks what they write.

    tools_test.py topo FORAGE_TOPO      a synthetic machine's counts and plan, and this one's
    tools_test.py trace FORAGE_TRACE    a traced spawn tree: one thread per worker, every task

Prints what is wrong and exits 1; exits 0 when everything holds. Standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(command: list[str]) -> str:
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def expect(condition: bool, what: str, problems: list[str]) -> None:
    if not condition:
        problems.append(what)


def check_topo(binary: str, problems: list[str]) -> None:
    synthetic = json.loads(run([binary, "--synthetic", "package:1 core:4 pu:2", "--json"]))
    expect(synthetic["synthetic"] is True, "synthetic: not marked synthetic", problems)
    expect(synthetic["cores"] == 4, f"synthetic: cores {synthetic['cores']}, expected 4",
           problems)
    expect(synthetic["pus"] == 8, f"synthetic: pus {synthetic['pus']}, expected 8", problems)
    expect(len(synthetic["pinning_plan"]) == 4,
           f"synthetic: plan {synthetic['pinning_plan']}, expected one PU per core", problems)
    expect(len(set(synthetic["pinning_plan"])) == 4, "synthetic: plan reuses a PU", problems)
    two = json.loads(run([binary, "--synthetic", "package:2 core:2 pu:1", "--json"]))
    expect(two["packages"] == 2
           and [core["package"] for core in two["core_list"]] == [0, 0, 1, 1],
           f"synthetic: packages {two['packages']}, cores {two['core_list']}", problems)
    here = json.loads(run([binary, "--json"]))
    expect(here["cores"] >= 1 and here["pus"] >= here["cores"],
           f"this machine: cores {here['cores']}, pus {here['pus']}", problems)
    expect(sorted(here["allowed_pus"]) == here["allowed_pus"]
           and len(here["allowed_pus"]) == here["pus"],
           f"this machine: allowed_pus {here['allowed_pus']} vs pus {here['pus']}", problems)
    bad = subprocess.run([binary, "--no-such-flag"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, check=False)
    expect(bad.returncode != 0 and "--no-such-flag" in bad.stderr + bad.stdout,
           "an unknown flag is not refused by name", problems)


def check_trace(binary: str, problems: list[str]) -> None:
    depth, workers = 10, 2
    tasks = (2 << depth) - 1
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "trace.json"
        run([binary, "--workload", "tree", "--size", str(depth), "--workers", str(workers),
             "--out", str(out)])
        document = json.loads(out.read_text(encoding="utf-8"))
    events = document["traceEvents"]
    threads = {e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    expect(threads == set(range(workers)), f"thread names for {sorted(threads)}", problems)
    runs = [e for e in events if e["name"] == "run"]
    expect(len(runs) == tasks, f"{len(runs)} run spans, expected {tasks}", problems)
    expect(all(e["ph"] == "X" and e["dur"] >= 0 and e["tid"] in threads for e in runs),
           "a run span is malformed", problems)
    expect(all(e["args"]["victim"] != e["tid"] for e in events if e["name"] == "steal"),
           "a steal names its own worker as the victim", problems)
    expect(document["otherData"]["dropped_events"] == 0, "events were dropped", problems)
    bad = subprocess.run([binary, "--workload", "nope", "--out", "/dev/null"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    expect(bad.returncode != 0 and "nope" in bad.stderr + bad.stdout,
           "an unknown workload is not refused by name", problems)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("topo", "trace"):
        print(__doc__, file=sys.stderr)
        return 2
    problems: list[str] = []
    try:
        (check_topo if argv[0] == "topo" else check_trace)(argv[1], problems)
    except (AssertionError, KeyError, json.JSONDecodeError) as error:
        problems.append(f"{type(error).__name__}: {error}")
    for problem in problems:
        print(f"tools_test {argv[0]}: {problem}", file=sys.stderr)
    if not problems:
        print(f"tools_test {argv[0]}: OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
