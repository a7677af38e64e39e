#!/usr/bin/env python3
"""Checks what a shared library exports against the list kept in the repository.

libforage is built with hidden visibility, and FORAGE_API (include/forage/export.hpp) marks
what a program may link against. This test fails when the exported set changes in any way:
  - a forage symbol that is exported but not listed (an internal name leaked, or a new
    entry point that must be listed on purpose);
  - a listed symbol that is no longer exported (an ABI break for programs linked against it);
  - a symbol outside namespace forage (another library's code exported by ours).
Weak instantiations of standard-library templates are not ours to list: libstdc++ declares
namespace std with default visibility, so every copy of them is exported; they are ignored.

Usage: check_exported_symbols.py LIBRARY LIST [--update]
  --update  rewrite LIST from LIBRARY (then review the diff before committing it)
"""
import re
import subprocess
import sys

# Mangled-name prefixes (Itanium C++ ABI): an optional special-name prefix (typeinfo TI,
# typeinfo name TS, vtable TV, TLS init TH, TLS wrapper TW, guard variable GV), an optional Z
# (a static local of the function that follows), then a nested name N with optional
# qualifiers, then the first namespace.
SPECIAL = r"(?:T[ISVHW]|GV)?Z?"
NESTED = r"(?:N[KVrRO]*)?"
OURS = re.compile(r"^_Z" + SPECIAL + NESTED + r"6forage")
STANDARD = re.compile(r"^_Z" + SPECIAL + NESTED + r"(?:St|S[absiod]|9__gnu_cxx)")
LINKER = {"_init", "_fini", "__bss_start", "_edata", "_end"}


def exported(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            names.append(fields[2].split("@")[0])
    return names


def demangle(names):
    if not names:
        return []
    out = subprocess.run(["c++filt"], input="\n".join(names), check=True,
                         capture_output=True, text=True).stdout
    return out.splitlines()


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    update = "--update" in argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    library, list_path = args
    names = exported(library)
    ours = sorted(set(demangle([n for n in names if OURS.match(n)])))
    foreign = sorted(n for n in names
                     if not OURS.match(n) and not STANDARD.match(n) and n not in LINKER)
    if update:
        with open(list_path, "w", encoding="utf-8") as f:
            soname = library.rsplit("/", 1)[-1].split(".so")[0] + ".so"
            f.write(f"# What {soname} exports: tests/abi/check_exported_symbols.py checks it.\n")
            f.write("# Regenerate: tests/abi/check_exported_symbols.py LIBRARY THIS_FILE "
                    "--update\n")
            f.writelines(name + "\n" for name in ours)
        print(f"wrote {len(ours)} symbols to {list_path}")
        return 0
    with open(list_path, encoding="utf-8") as f:
        listed = sorted({line.rstrip("\n") for line in f
                         if line.strip() and not line.startswith("#")})
    unlisted = sorted(set(ours) - set(listed))
    missing = sorted(set(listed) - set(ours))
    for title, items in (("exported but not listed", unlisted),
                         ("listed but no longer exported", missing),
                         ("exported from outside namespace forage", demangle(foreign))):
        if items:
            print(f"{title} ({len(items)}):")
            for item in items:
                print("  " + item)
    if unlisted or missing or foreign:
        print(f"\n{library} does not export what {list_path} lists. If the change is meant,"
              f" rerun with --update and commit the list.")
        return 1
    print(f"{library}: exports the {len(listed)} listed forage symbols and nothing else of its"
          f" own ({len(names) - len(ours)} standard-library or linker symbols ignored)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
