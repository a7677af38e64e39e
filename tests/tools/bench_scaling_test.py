#!/usr/bin/python3
"""Checks forage-bench's worker sweep and what it shows of scaling, without running a benchmark.

    bench_scaling_test.py sweep   the default sweep (1, 2, 4, ... up to the cores, and the
                                  cores; --quick: 1, 2, the cores) and the report's speedup
                                  table (a rate's only when more than two counts ran)
    bench_scaling_test.py chart   tools/forage_bench_chart.py on a synthetic results document
                                  with 1,2,4,8 workers writes the chart and FILE-scaling.png,
                                  both real PNGs with the systems' colours in them; with 1,2
                                  workers, no scaling chart. Needs Debian's python3-matplotlib:
                                  exits 77 (ctest's SKIP_RETURN_CODE) without it.

Prints what is wrong and exits 1; exits 0 when everything holds. Run with /usr/bin/python3.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
TOOL = REPO_ROOT / "tools" / "forage-bench"
CHART = REPO_ROOT / "tools" / "forage_bench_chart.py"
SCHEMA = REPO_ROOT / "docs" / "bench-results.schema.json"
SKIP = 77
MIN_PNG_BYTES = 20_000  # a chart with axes, lines and text; an empty figure is ~5 KB
FORAGE_BLUE = (0x1F, 0x77, 0xB4)
ONETBB_GREEN = (0x2C, 0xA0, 0x2C)


def load_tool() -> Any:
    """tools/forage-bench as a module (it has no .py suffix); main() is not run."""
    loader = importlib.machinery.SourceFileLoader("forage_bench", str(TOOL))
    spec = importlib.util.spec_from_loader("forage_bench", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["forage_bench"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


def expect(condition: bool, what: str, problems: list[str]) -> None:
    if not condition:
        problems.append(what)


# --- sweep --------------------------------------------------------------------------------


def check_sweep(problems: list[str]) -> None:
    tool = load_tool()
    cases = {(1, False): [1], (2, False): [1, 2], (3, False): [1, 2, 3],
             (8, False): [1, 2, 4, 8], (12, False): [1, 2, 4, 8, 12],
             (64, False): [1, 2, 4, 8, 16, 32, 64],
             (300, False): [1, 2, 4, 8, 16, 32, 64, 128, 256],
             (2, True): [1, 2], (12, True): [1, 2, 12], (64, True): [1, 2, 64], (1, True): [1]}
    for (cores, quick), expected in cases.items():
        got = tool.default_workers(cores, quick)
        expect(got == expected, f"default_workers({cores}, quick={quick}) = {got}, expected "
               f"{expected}", problems)
    cores, pus = tool.os_allowed_cores_and_pus()
    expect(1 <= cores <= pus, f"os_allowed_cores_and_pus() = ({cores}, {pus})", problems)

    # The report: uts-like (a rate, no Suite.scaling) gets a speedup table only past two
    # counts; fib-like (Suite.scaling) gets one with two; wake-like (a latency) never.
    def run_of(suite: Any, counter: str, per_worker: dict[int, float]) -> Any:
        run = tool.SuiteRun(suite)
        for workers, value in per_worker.items():
            run.values[("forage", workers)] = {counter: [value * 0.9, value, value * 1.1]}
        run.row_order["forage"] = (0, 0)
        return run

    rate = tool.Suite("uts", "tree", None, [tool.Metric("Mnodes_per_s", "throughput",
                                                        "M nodes/s", "higher")])
    time = tool.Suite("fib", "fib", None, [tool.Metric("ns_per_spawn", "time per spawn", "ns",
                                                       "lower")], scaling="ns_per_spawn")
    latency = tool.Suite("wake", "wake", None, [tool.Metric("p50_us", "p50", "µs", "lower")])

    def speedup_lines(run: Any) -> list[str]:
        lines, _ = tool.suite_tables(run, 3)
        start = [i for i, line in enumerate(lines) if line.startswith("**speedup over 1")]
        return lines[start[0]:start[0] + 5] if start else []

    four = speedup_lines(run_of(rate, "Mnodes_per_s", {1: 10.0, 2: 19.0, 4: 36.0, 8: 40.0}))
    expect(any(line.startswith("| forage | 1.90x | 3.60x | 4.00x |") for line in four),
           f"uts at 1,2,4,8: expected the speedup row '| forage | 1.90x | 3.60x | 4.00x |', "
           f"got {four}", problems)
    two = speedup_lines(run_of(rate, "Mnodes_per_s", {1: 10.0, 2: 19.0}))
    expect(not two, f"uts at 1,2: expected no speedup table, got {two}", problems)
    fib = speedup_lines(run_of(time, "ns_per_spawn", {1: 20.0, 2: 10.0}))
    expect(any(line.startswith("| forage | 2.00x |") for line in fib),
           f"fib at 1,2: expected the speedup row '| forage | 2.00x |', got {fib}", problems)
    wake = speedup_lines(run_of(latency, "p50_us", {1: 5.0, 2: 6.0, 4: 7.0, 8: 9.0}))
    expect(not wake, f"wake at 1,2,4,8: expected no speedup table, got {wake}", problems)

    document = tool.suite_document(run_of(time, "ns_per_spawn", {1: 20.0}))
    expect(document.get("scaling") == "ns_per_spawn",
           f"fib's suite document: scaling {document.get('scaling')!r}", problems)
    expect("scaling" not in tool.suite_document(run_of(rate, "Mnodes_per_s", {1: 1.0})),
           "uts's suite document has a scaling key without Suite.scaling", problems)


# --- chart --------------------------------------------------------------------------------


def synthetic_document(workers: list[int]) -> dict[str, Any]:
    """Three suites shaped like fib (variants, a declared scaling time), uts (a rate) and wake
    (a latency), on a 2-core machine, so 4 and 8 workers are oversubscribed."""
    results: list[dict[str, Any]] = []

    def add(suite: str, system: str, variant: str | None, metric: str, better: str, unit: str,
            values: dict[int, float]) -> None:
        for count in workers:
            value = values[count]
            entry: dict[str, Any] = {"suite": suite, "system": system}
            if variant is not None:
                entry["variant"] = variant
            entry |= {"workers": count, "metric": metric, "value": value, "better": better,
                      "unit": unit, "min": value * 0.95, "max": value * 1.08, "runs": 3}
            results.append(entry)

    add("fib", "forage", "join", "ns_per_spawn", "lower", "ns", {1: 14.0, 2: 7.2, 4: 7.5, 8: 7.9})
    add("fib", "onetbb", "task_group", "ns_per_spawn", "lower", "ns",
        {1: 110.0, 2: 56.0, 4: 54.0, 8: 52.0})
    add("fib", "single_queue_locked", "join", "ns_per_spawn", "lower", "ns",
        {1: 85.0, 2: 136.0, 4: 160.0, 8: 171.0})
    add("uts", "forage", None, "Mnodes_per_s", "higher", "M nodes/s",
        {1: 20.0, 2: 38.0, 4: 37.0, 8: 36.0})
    add("uts", "onetbb", None, "Mnodes_per_s", "higher", "M nodes/s",
        {1: 18.0, 2: 30.0, 4: 31.0, 8: 29.0})
    add("wake", "forage", None, "p50_us", "lower", "µs", {1: 4.0, 2: 5.0, 4: 7.0, 8: 12.0})
    add("wake", "onetbb", None, "p50_us", "lower", "µs", {1: 6.0, 2: 6.5, 4: 9.0, 8: 15.0})

    def suite(name: str, baseline: str, metric: dict[str, str], **more: Any) -> dict[str, Any]:
        return {"name": name, "description": f"synthetic {name}", "baseline": baseline,
                "seconds": 1.0, "ok": True, "metrics": [metric], **more}

    return {
        "schema_version": 1,
        "machine": {"cpu": "Synthetic CPU", "cores": 2, "pus": 2, "compiler": "g++ (test)",
                    "date": "2026-12-03T12:00:00+00:00"},
        "settings": {"repetitions": 3, "quick": True, "workers": workers},
        "suites": [
            suite("fib", "forage (join)", {"metric": "ns_per_spawn", "title": "time per spawn",
                                           "unit": "ns", "better": "lower"},
                  scaling="ns_per_spawn"),
            suite("uts", "forage", {"metric": "Mnodes_per_s", "title": "throughput",
                                    "unit": "M nodes/s", "better": "higher"}),
            suite("wake", "forage", {"metric": "p50_us", "title": "p50 wake latency",
                                     "unit": "µs", "better": "lower"}),
        ],
        "results": results,
    }


def check_schema(document: dict[str, Any], problems: list[str]) -> None:
    """The synthetic document is one forage-bench could write (when jsonschema is there)."""
    try:
        import jsonschema
    except ImportError:
        print("bench_scaling_test: python3-jsonschema missing: the synthetic document is not "
              "validated")
        return
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for error in jsonschema.Draft202012Validator(schema).iter_errors(document):
        problems.append(f"the synthetic document does not validate: {error.message}")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def has_colour(path: Path, rgb: tuple[int, int, int]) -> bool:
    """Some pixel of the image is within a few levels of rgb (a line or a marker of it)."""
    import matplotlib.image

    pixels = matplotlib.image.imread(str(path))
    target = [c / 255 for c in rgb]
    near = abs(pixels[..., 0] - target[0]) + abs(pixels[..., 1] - target[1]) + \
        abs(pixels[..., 2] - target[2])
    return int((near < 0.03).sum()) >= 20


def draw(document: dict[str, Any], directory: Path) -> tuple[subprocess.CompletedProcess, Path]:
    source = directory / "results.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    out = directory / "chart.png"
    done = subprocess.run([sys.executable, str(CHART), "--json", str(source), "--out", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    return done, out


def check_png(path: Path, what: str, problems: list[str]) -> bool:
    if not path.exists():
        problems.append(f"{what}: {path.name} was not written")
        return False
    size = path.stat().st_size
    try:
        width, height = png_size(path)
    except ValueError as error:
        problems.append(f"{what}: {error}")
        return False
    expect(size >= MIN_PNG_BYTES, f"{what}: {path.name} is {size} bytes, expected at least "
           f"{MIN_PNG_BYTES}", problems)
    expect(width >= 800 and height >= 300, f"{what}: {path.name} is {width}x{height}", problems)
    for name, rgb in (("forage", FORAGE_BLUE), ("onetbb", ONETBB_GREEN)):
        expect(has_colour(path, rgb), f"{what}: no {name} colour in {path.name}", problems)
    return True


def check_chart(problems: list[str]) -> None:
    four = synthetic_document([1, 2, 4, 8])
    check_schema(four, problems)
    with tempfile.TemporaryDirectory(prefix="forage-bench-chart-") as tmp:
        directory = Path(tmp)
        done, out = draw(four, directory)
        if done.returncode != 0:
            problems.append(f"the chart script exited {done.returncode} on 1,2,4,8 workers:\n"
                            + done.stdout)
            return
        check_png(out, "1,2,4,8 workers", problems)
        scaling = directory / "chart-scaling.png"
        check_png(scaling, "1,2,4,8 workers, scaling", problems)
        expect(str(scaling) in done.stdout, f"the chart script does not say where the scaling "
               f"chart went:\n{done.stdout}", problems)
        scaling.unlink(missing_ok=True)

        two = synthetic_document([1, 2])
        done, out = draw(two, directory)
        expect(done.returncode == 0, f"the chart script exited {done.returncode} on 1,2 "
               f"workers:\n{done.stdout}", problems)
        expect(out.exists(), "1,2 workers: no chart", problems)
        expect(not scaling.exists(), "1,2 workers: a scaling chart was drawn", problems)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("sweep", "chart"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "chart":
        if importlib.util.find_spec("matplotlib") is None:
            print(f"bench_scaling_test: SKIPPED: matplotlib is missing from {sys.executable} "
                  "(Debian's python3-matplotlib)")
            return SKIP
    problems: list[str] = []
    (check_sweep if argv[0] == "sweep" else check_chart)(problems)
    if problems:
        print(f"bench_scaling_test {argv[0]}: FAILED:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"bench_scaling_test {argv[0]}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
