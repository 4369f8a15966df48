#!/usr/bin/env python3
"""Check that every ELF file of a view is built for the package's architecture (build-info `arch`).

Usage: elf-arch.py --view DIR --arch x86_64|aarch64 [--count-out FILE]

Reads each regular file's ELF header (no external tool: under emulation one process beats one `readelf` per
file): class, byte order and e_machine must be ELFCLASS64, little-endian and EM_X86_64 (62) or EM_AARCH64 (183).
Exits 1 listing every file that is not (`FAIL <file>: <machine>`), with how many there are; prints the count of
ELF files checked on stderr (and, with --count-out, as a number in FILE, which the manifest records: a
cached package stage prints nothing, its manifest still says what was checked). A package whose ELF files mix architectures cannot run anywhere.
"""
import argparse
import os
import struct
import sys

sys.dont_write_bytecode = True  # nothing written next to the scripts (they may be read-only)
import package_common as common  # noqa: E402
from package_common import fail  # noqa: E402

common.TOOL = "elf-arch"

#: architecture name (as the catalog and build-info spell it) -> ELF e_machine
MACHINES = {"x86_64": 62, "aarch64": 183}
NAMES = {3: "i386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "S/390", 40: "ARM (32-bit)", 62: "x86_64",
         183: "aarch64", 243: "RISC-V"}


def header(path):
    """(class, data, machine) of an ELF file, or None when it is not one."""
    try:
        with open(path, "rb") as f:
            h = f.read(20)
    except OSError:
        return None
    if len(h) < 20 or h[:4] != b"\x7fELF":
        return None
    fmt = "<H" if h[5] == 1 else ">H"
    return h[4], h[5], struct.unpack(fmt, h[18:20])[0]


def describe(cls, data, machine):
    bits = {1: "32-bit", 2: "64-bit"}.get(cls, "class %d" % cls)
    order = {1: "LSB", 2: "MSB"}.get(data, "data %d" % data)
    return "%s %s %s" % (NAMES.get(machine, "e_machine %d" % machine), bits, order)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--view", required=True)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--count-out", default="")
    args = ap.parse_args()
    if args.arch not in MACHINES:
        fail("unknown architecture '%s': use one of %s" % (args.arch, ", ".join(sorted(MACHINES))))
    if not os.path.isdir(args.view):
        fail("view '%s' is not a directory" % args.view)
    want = MACHINES[args.arch]
    checked, bad = 0, []
    for root, dirs, files in os.walk(args.view):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            h = header(path)
            if h is None:
                continue
            checked += 1
            if h != (2, 1, want):
                bad.append((os.path.relpath(path, args.view), describe(*h)))
    for rel, what in bad:
        sys.stdout.write("FAIL %s: %s, not %s\n" % (rel, what, args.arch))
    if bad:
        fail("%d of %d ELF files are not %s 64-bit LSB (listed above)" % (len(bad), checked, args.arch))
    if checked == 0:
        fail("no ELF files under %s" % args.view)
    sys.stderr.write("elf-arch: all %d ELF files are %s\n" % (checked, args.arch))
    if args.count_out:
        with open(args.count_out, "w", encoding="utf-8") as f:
            f.write("%d\n" % checked)


if __name__ == "__main__":
    main()
