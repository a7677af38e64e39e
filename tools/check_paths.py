#!/usr/bin/env python3
"""Checks that the repository paths written in comments and docs name files that exist.

Scans the tracked source and doc files (`git ls-files`; without git, a walk of the tree that
skips .git and build*/): .hpp .cpp .h .md .txt .cmake .py .sh, CMakeLists.txt, and scripts
without an extension that start with `#!` (tools/check, tools/forage-bench, .ci/run).
Exits 1 listing `file:line: path` for each path that names nothing, and also when it found no
path at all (a checker that checks nothing must not pass).

What it reads as a path, and how it checks it:
  * Rooted paths: `lib/...`, `include/...`, `tests/...`, `bench/...`, `tools/...`, `docs/...`,
    `examples/...` must exist from the repository root. In a CMakeLists.txt or a file under
    a subfolder the path may also be relative to the file's own folder (tests/CMakeLists.txt
    naming `tools/tools_test.py`).
  * Include-style paths: `forage/pool.hpp` is include/forage/pool.hpp.
  * Partial paths and bare file names with a source or doc extension (.cpp .hpp .md .py
    .cmake), such as `worker.cpp` or `detail/wait.hpp`: some tracked file's path must end
    with them. `#include` lines are left to the compiler, a file a command writes
    (`> out.md`) is not looked for, and neither are the names in ELSEWHERE (files of other
    projects, notes outside this repository).
  * A path ending in `/` must be a directory (a folder holding a tracked file).
  * Globs and placeholders must match at least one file or folder: `tests/model/*_model.cpp`,
    `bench/<suite>/` (a `<name>` placeholder counts as `*`). A path with `...` is elided and
    is skipped.
  * Trailing punctuation is not part of a path (`lib/join.cpp.`, `(lib/sleep/README.md)`),
    and neither are line numbers or anchors (`pool.cpp:163`, `pool.cpp:163-171`,
    `README.md#layout`).
  * Not paths: anything after `/`, `.`, `:`, `$` or `@` (`build/checked/tests/pool_test`,
    `${PROJECT_SOURCE_DIR}/tools/x.py`, URLs, absolute paths), `build/...`, and `../...`.
This file itself is not scanned: the examples above are meant as they are, missing or not.
"""
import fnmatch
import os
import re
import subprocess
import sys
from pathlib import Path

ROOTS = ("lib", "include", "tests", "bench", "tools", "docs", "examples")
SCANNED_SUFFIXES = {".hpp", ".cpp", ".h", ".md", ".txt", ".cmake", ".py", ".sh"}
# Extensions that make a bare word (`worker.cpp`) a file name worth looking for.
BARE_SUFFIXES = {".cpp", ".hpp", ".md", ".py", ".cmake"}
# Bare names of files that are not in this repository, written on purpose.
ELSEWHERE = {
    "DESIGN.md",  # ../shared/DESIGN.md, the design notes beside the repository
    "STYLE.md",  # ../shared/STYLE.md
    "relacy/relacy.hpp",  # Relacy's header (relacy-dev)
    "relacy.hpp",
    "thread_pool.hpp",  # rvaser's thread_pool, a benchmark peer
    "executor.hpp",  # also Taskflow's 2,554-line header (forage has include/forage/executor.hpp)
    "app.cpp",  # the user's program in README's install examples
    # What `cmake --install` writes from CMakeLists.txt's install(EXPORT) and file(CONFIGURE).
    "forage-static-targets.cmake",
    "forage-shared-targets.cmake",
    "forage-<kind>-targets.cmake",
    "forage-mpi-<kind>-*.cmake",
}

# A run of path characters that does not continue something before it (a URL, an absolute
# path, ${VAR}/..., build/checked/...). `<` and `>` are path characters so that `<suite>`
# placeholders stay inside the path; the brackets of `#include <x/y.hpp>` are stripped later.
TOKEN = re.compile(r"(?<![\w.*/$@:%-])[\w.*<>{}+-]*(?:/[\w.*<>{}+-]*)*")
INCLUDE_LINE = re.compile(r"^\s*#\s*include\b")
REDIRECT = re.compile(r"(?<![-=>])>\s*$")
TRAILING = ".,;:!?'\")]"


def tracked_files(root: Path) -> tuple[list[str], bool]:
    """Repository-relative paths of the tracked files, and whether git listed them."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                             check=True).stdout
        return sorted(p for p in out.decode().split("\0") if p), True
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.startswith("build")
                         and d != "__pycache__" or d == ".ci")
        for name in names:
            files.append(Path(folder, name).relative_to(root).as_posix())
    return sorted(files), False


def is_scanned(root: Path, path: str) -> bool:
    name = Path(path)
    if name.name == "CMakeLists.txt" or name.suffix in SCANNED_SUFFIXES:
        return True
    if name.suffix == "":
        try:
            with open(root / path, "rb") as f:
                return f.read(2) == b"#!"
        except OSError:
            return False
    return False


def clean(token: str) -> str:
    """The path in a token, without surrounding brackets and trailing punctuation."""
    while True:
        before = token
        token = token.rstrip(TRAILING)
        if token.startswith("<") and ">" not in token.split("/")[0]:
            token = token[1:]  # `#include <forage/pool.hpp>`, `<lib/x.cpp>`
        if token.endswith(">") and token.count(">") > token.count("<"):
            token = token[:-1]
        if token.startswith("./"):
            token = token[2:]
        if token == before:
            return token


class Tree:
    def __init__(self, files: list[str]):
        self.files = set(files)
        self.dirs = {str(Path(f).parent.as_posix()) for f in files}
        for d in list(self.dirs):
            parts = d.split("/")
            self.dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        self.dirs.discard(".")
        self.all = sorted(self.files | self.dirs)

    def exists(self, path: str) -> bool:
        if path.endswith("/"):
            return path.rstrip("/") in self.dirs
        return path in self.files or path in self.dirs

    def matches(self, pattern: str) -> bool:
        want_dir = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        pool = self.dirs if want_dir else self.all
        return any(fnmatch.fnmatchcase(p, pattern) for p in pool)

    def ends_with(self, partial: str) -> bool:
        return any(p == partial or p.endswith("/" + partial) for p in self.all)

    def ends_with_pattern(self, pattern: str) -> bool:
        return any(fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(p, "*/" + pattern)
                   for p in self.all)


def as_pattern(path: str) -> str | None:
    """The glob for a path with placeholders or wildcards, None for a plain path."""
    if not any(c in path for c in "*<>{}"):
        return None
    return re.sub(r"<[^<>/]*>", "*", path)


OK = ""  # problem()'s answer for a path that names something


def problem(tree: Tree, source: str, path: str, include_line: bool) -> str | None:
    """Why `path`, written in `source`, names nothing: OK when it names something, None when
    it is not a path this check reads."""
    if not path or path.startswith("/") or "..." in path or "{" in path or "}" in path:
        return None
    first = path.split("/")[0]
    pattern = as_pattern(path)
    if first in ROOTS and "/" in path:
        here = Path(source).parent.as_posix()
        candidates = [path] if here == "." else [path, f"{here}/{path}"]
        if pattern is not None:
            globs = [as_pattern(c) for c in candidates]
            return OK if any(tree.matches(g) for g in globs) else "matches no file"
        if any(tree.exists(c) for c in candidates):
            return OK
        return "no such directory" if path.endswith("/") else "no such file"
    if first == "forage" and path.endswith((".hpp", ".h")):
        if include_line:
            return None
        return OK if tree.exists("include/" + path) else "no such header in include/"
    if first in ("build", "..", "."):
        return None
    if include_line or Path(path).suffix not in BARE_SUFFIXES or path.endswith("/"):
        return None
    if path in ELSEWHERE:
        return None
    if pattern is not None:
        return OK if tree.ends_with_pattern(pattern) else "matches no file"
    return OK if tree.ends_with(path) else "no file of the repository has this name"


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    files, from_git = tracked_files(root)
    tree = Tree(files)
    failures, checked = [], 0
    itself = Path(__file__).resolve().relative_to(root).as_posix()
    for source in files:
        if source == itself or not is_scanned(root, source):
            continue
        try:
            text = (root / source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            include_line = bool(INCLUDE_LINE.match(line))
            for match in TOKEN.finditer(line):
                path = clean(match.group())
                if "/" not in path and "." not in path:
                    continue
                if REDIRECT.search(line, 0, match.start()):
                    continue  # `tools/forage-bench > out.md`: a file the command writes
                why = problem(tree, source, path, include_line)
                if why is None:
                    continue
                checked += 1
                if why == OK:
                    continue
                on_disk = (root / path).exists() and from_git
                failures.append(f"{source}:{number}: {path}: {why}"
                                + (" (it is on disk but not tracked by git)" if on_disk else ""))
    for failure in failures:
        print(failure)
    if checked == 0:
        print("check_paths: no path found in any file; the scan is broken")
        return 1
    if failures:
        print(f"check_paths: {len(failures)} path(s) name nothing "
              f"(tools/check_paths.py says what counts as a path)")
        return 1
    print(f"check_paths: ok, {checked} paths checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
