"""Shared by the package stage's Python steps (manifest.py, sbom.py, plugin-manifest.py): one-line errors,
JSON and `spack find --json` reading, and ELF detection. Imported from the scripts' own directory."""
import json
import sys

#: The step's name in its error lines; each script sets it before anything can fail.
TOOL = "package"


def fail(msg):
    sys.stderr.write("%s: error: %s\n" % (TOOL, msg))
    sys.exit(1)


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        fail("cannot read %s %s: %s" % (what, path, e.strerror))
    except ValueError as e:
        fail("%s %s is not valid JSON: %s" % (what, path, e))


def load_specs(path):
    specs = load_json(path, "specs")
    if isinstance(specs, dict) and "spec" in specs:  # a spec.json (`spack spec --json`) instead of a list
        specs = specs["spec"].get("nodes", [])
    if not isinstance(specs, list):
        fail("specs %s is not a JSON array (expected `spack find --json` output)" % path)
    for i, s in enumerate(specs):
        if not isinstance(s, dict) or not all(isinstance(s.get(k), str) for k in ("name", "version", "hash")):
            fail("specs %s entry %d lacks a name, version or hash string" % (path, i))
    return specs


def arch_of(spec):
    arch = spec.get("arch")
    if not isinstance(arch, dict):
        return None
    target = arch.get("target")
    if isinstance(target, dict):
        target = target.get("name")
    parts = [arch.get("platform"), arch.get("platform_os"), target]
    return "-".join(p for p in parts if isinstance(p, str)) or None


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False
