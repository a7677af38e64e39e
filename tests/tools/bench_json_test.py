#!/usr/bin/python3
"""Checks that `tools/forage-bench --json` writes what docs/bench-results.schema.json says.

Runs `tools/forage-bench --quick --suite submit --no-build --build-dir DIR --json TMP` (the
submit_bench binary must already be built in DIR/bench/), then checks:
  - the tool exits 0 and its stdout report holds a markdown table (a "| system" header row);
  - TMP validates against docs/bench-results.schema.json (JSON Schema draft 2020-12);
  - what the schema cannot say: only the submit suite ran, and it is ok; every result's
    metric is declared in its suite's metrics with the same better/unit; value, min and max
    are finite with min <= value <= max; runs <= settings.repetitions; no figure appears
    twice; a suite's scaling names one of its metrics; the suite's results all have a
    variant or none does; every worker count of
    settings.workers has a forage result for the headline metric (metrics[0]) and no result
    has another worker count; each metric's baseline row (metrics[].baseline, else the
    suite's) has that metric, the headline metric at every worker count.
Prints every failed check and exits 1; exits 0 when all pass.

--check-only FILE checks an existing JSON document instead of running the tool (no report
check then). Needs Debian's python3-jsonschema: run with /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
TOOL = REPO_ROOT / "tools" / "forage-bench"
SCHEMA = REPO_ROOT / "docs" / "bench-results.schema.json"
SUITE = "submit"
TAIL_LINES = 40  # lines of the tool's output shown when it fails

try:
    import jsonschema
except ImportError:
    jsonschema = None


def say(message: str) -> None:
    print(f"bench_json_test: {message}", flush=True)


def tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (nothing)"


def row_label(result: dict[str, Any]) -> str:
    """The report's row label of a result: `system` or `system (variant)`."""
    variant = result.get("variant")
    return f"{result['system']} ({variant})" if variant is not None else result["system"]


def where(result: dict[str, Any], index: int) -> str:
    return (f"results[{index}] ({result['suite']}, {row_label(result)}, "
            f"workers {result['workers']}, {result['metric']})")


# --- Running the tool -----------------------------------------------------------------------


def run_tool(build_dir: Path, json_path: Path, timeout: float) -> tuple[str | None, list[str]]:
    """Runs forage-bench; returns (its stdout, or None if it could not run, failures)."""
    binary = build_dir / "bench" / f"{SUITE}_bench"
    if not binary.exists():
        return None, [f"{binary} not found: build it first "
                      f"(cmake --build {build_dir} --target {SUITE}_bench)"]
    command = [sys.executable, str(TOOL), "--quick", "--suite", SUITE, "--no-build",
               "--build-dir", str(build_dir), "--json", str(json_path)]
    say("running " + " ".join(command))
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as expired:
        out = expired.stderr or b""
        text = out.decode(errors="replace") if isinstance(out, bytes) else out
        return None, [f"forage-bench did not finish within {timeout:.0f} s; its stderr:\n"
                      + tail(text)]
    except OSError as error:
        return None, [f"cannot run forage-bench: {error}"]
    failures = []
    if done.returncode != 0:
        failures.append(f"forage-bench exited {done.returncode} (0 means every run "
                        f"succeeded); its stderr:\n{tail(done.stderr)}\n  its stdout:\n"
                        + tail(done.stdout))
    return done.stdout, failures


def check_report(stdout: str) -> list[str]:
    if any(line.lstrip().startswith("| system") for line in stdout.splitlines()):
        return []
    return ["the stdout report has no markdown table (no line starting with '| system'); "
            "its stdout:\n" + tail(stdout)]


# --- Checking the document ------------------------------------------------------------------


def load_document(path: Path) -> tuple[Any, list[str]]:
    """Parses path; NaN and Infinity (Python's json extensions) are reported, not fatal."""
    constants: list[str] = []

    def on_constant(name: str) -> float:
        constants.append(name)
        return float(name.replace("Infinity", "inf"))

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return None, [f"cannot read {path}: {error}"]
    try:
        document = json.loads(text, parse_constant=on_constant)
    except json.JSONDecodeError as error:
        return None, [f"{path} is not JSON: {error}"]
    failures = []
    if constants:
        failures.append(f"{path} is not standard JSON: it holds "
                        f"{', '.join(sorted(set(constants)))} (a non-finite figure)")
    return document, failures


def check_schema(document: Any) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    failures = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
        failures.append(f"schema: {path or '(document)'}: {message}")
    return failures


def check_semantics(document: dict[str, Any], expected_suites: set[str] | None) -> list[str]:
    """What the schema cannot express; document already validates against it."""
    failures: list[str] = []
    settings = document["settings"]
    workers = settings["workers"]
    suites = {}
    for index, suite in enumerate(document["suites"]):
        if suite["name"] in suites:
            failures.append(f"suites[{index}]: suite '{suite['name']}' listed twice")
        suites[suite["name"]] = suite
        if not suite["ok"]:
            failures.append(f"suites[{index}]: suite '{suite['name']}' has ok: false")
        names = [m["metric"] for m in suite["metrics"]]
        if len(set(names)) != len(names):
            failures.append(f"suites[{index}]: a metric is declared twice: {names}")
        if "scaling" in suite and suite["scaling"] not in names:
            failures.append(f"suites[{index}]: scaling '{suite['scaling']}' is not one of its "
                            f"metrics {names}")
    if expected_suites is not None and set(suites) != expected_suites:
        failures.append(f"suites: expected exactly {sorted(expected_suites)}, "
                        f"got {sorted(suites)}")
    results = document["results"]
    if not results:
        failures.append("results: empty")

    seen: dict[tuple[Any, ...], int] = {}
    with_variant: dict[str, set[bool]] = {}
    for index, result in enumerate(results):
        at = where(result, index)
        suite = suites.get(result["suite"])
        if suite is None:
            failures.append(f"{at}: suite '{result['suite']}' is not in suites[]")
            continue
        with_variant.setdefault(result["suite"], set()).add("variant" in result)
        declared = {m["metric"]: m for m in suite["metrics"]}
        metric = declared.get(result["metric"])
        if metric is None:
            failures.append(f"{at}: metric '{result['metric']}' is not declared in suite "
                            f"'{result['suite']}' (declared: {sorted(declared)})")
        else:
            for key in ("better", "unit"):
                if result[key] != metric[key]:
                    failures.append(f"{at}: {key} '{result[key]}' differs from the suite's "
                                    f"declaration '{metric[key]}'")
        figures = {key: result[key] for key in ("min", "value", "max")}
        bad = [key for key, value in figures.items() if not math.isfinite(value)]
        if bad:
            failures.append(f"{at}: not finite: {', '.join(f'{k}={figures[k]}' for k in bad)}")
        elif not figures["min"] <= figures["value"] <= figures["max"]:
            failures.append(f"{at}: expected min <= value <= max, got min={figures['min']} "
                            f"value={figures['value']} max={figures['max']}")
        if result["runs"] > settings["repetitions"]:
            failures.append(f"{at}: runs {result['runs']} > settings.repetitions "
                            f"{settings['repetitions']}")
        if result["workers"] not in workers:
            failures.append(f"{at}: worker count {result['workers']} is not in "
                            f"settings.workers {workers}")
        key = (result["suite"], result["system"], result.get("variant"), result["workers"],
               result["metric"])
        if key in seen:
            failures.append(f"{at}: the same figure as results[{seen[key]}]")
        else:
            seen[key] = index

    for name, kinds in with_variant.items():
        if len(kinds) > 1:
            failures.append(f"suite '{name}': some results have a variant and some do not "
                            "(a suite with variants gives every result one)")

    for name, suite in suites.items():
        if not suite["ok"]:
            continue
        headline = suite["metrics"][0]["metric"]
        mine = [r for r in results if r["suite"] == name]
        for count in workers:
            if not any(r["system"] == "forage" and r["metric"] == headline
                       and r["workers"] == count for r in mine):
                failures.append(f"suite '{name}': no forage result for the headline metric "
                                f"'{headline}' at {count} workers")
        for metric in suite["metrics"]:
            failures += check_baseline(suite, metric, mine, workers,
                                       headline=metric is suite["metrics"][0])
    return failures


def check_baseline(suite: dict[str, Any], metric: dict[str, Any], mine: list[dict[str, Any]],
                   workers: list[int], headline: bool) -> list[str]:
    """The metric's baseline row (its own, else the suite's) has results; for the headline
    metric, at every worker count (else the report has no ratio there)."""
    label = metric.get("baseline", suite["baseline"])
    name = suite["name"]
    rows = [r for r in mine if row_label(r) == label]
    if not rows:
        labels = sorted({row_label(r) for r in mine})
        return [f"suite '{name}': the baseline row '{label}' of '{metric['metric']}' has no "
                f"results (rows: {labels})"]
    if not any(r["metric"] == metric["metric"] for r in rows):
        return [f"suite '{name}': the baseline row '{label}' has no '{metric['metric']}'"]
    if not headline:
        return []
    return [f"suite '{name}': the baseline row '{label}' has no '{metric['metric']}' at "
            f"{count} workers (no ratio there)"
            for count in workers
            if not any(r["metric"] == metric["metric"] and r["workers"] == count for r in rows)]


def check_document(path: Path, expected_suites: set[str] | None) -> tuple[list[str], str]:
    """(failures, a one-line summary of the document)."""
    document, failures = load_document(path)
    if document is None:
        return failures, ""
    schema_failures = check_schema(document)
    if schema_failures:
        return failures + schema_failures + [
            "(the checks beyond the schema were skipped: the document does not validate)"], ""
    failures += check_semantics(document, expected_suites)
    summary = (f"{len(document['results'])} results, suites "
               f"{', '.join(s['name'] for s in document['suites'])}, workers "
               f"{','.join(map(str, document['settings']['workers']))}")
    return failures, summary


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run `tools/forage-bench --quick --suite submit --json` and check its JSON "
                    "against docs/bench-results.schema.json and the report's markdown table.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--build-dir", type=Path, metavar="DIR",
                      help="build tree DIR; the tool runs DIR/bench/submit_bench (--no-build)")
    mode.add_argument("--check-only", type=Path, metavar="FILE",
                      help="check this JSON document instead of running the tool (any "
                           "suites; the report is not checked)")
    parser.add_argument("--keep", type=Path, metavar="FILE",
                        help="copy the JSON the tool wrote to FILE (kept even on failure)")
    parser.add_argument("--timeout", type=float, default=540.0, metavar="SECONDS",
                        help="give up on the tool after this long (default: %(default).0f)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if jsonschema is None:
        say(f"the jsonschema module is missing from {sys.executable}: install Debian's "
            "python3-jsonschema and run this with /usr/bin/python3")
        return 1

    if args.check_only is not None:
        failures, summary = check_document(args.check_only, None)
    else:
        build_dir = args.build_dir.resolve()
        with tempfile.TemporaryDirectory(prefix="forage-bench-json-") as tmp:
            json_path = Path(tmp) / "results.json"
            stdout, failures = run_tool(build_dir, json_path, args.timeout)
            summary = ""
            if stdout is not None and not failures:  # else run_tool showed its stdout
                failures += check_report(stdout)
                if not json_path.exists():
                    failures.append(f"forage-bench wrote no JSON file ({json_path})")
                else:
                    if args.keep is not None:
                        shutil.copyfile(json_path, args.keep)
                        say(f"kept the JSON as {args.keep}")
                    more, summary = check_document(json_path, {SUITE})
                    failures += more

    if failures:
        say(f"FAILED ({len(failures)} problem{'s' if len(failures) != 1 else ''}):")
        for failure in failures:
            print(f"  - {failure}", flush=True)
        return 1
    say(f"OK ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
