#!/usr/bin/env python3
"""JSON helper for the package-stage scripts (bash has no JSON parser; python3 is in every build image).

  manifest.py get --build-info FILE KEY          print one field of build-info.json (KEY.SUB: a field of an object)
  manifest.py prefixes --specs FILE              print the install prefixes specs.json lists (one a line)
  manifest.py write --build-info FILE --specs FILE --glibc-floor X.Y [--glibc-floor-file PATH]
                    [--relocation-report FILE] [--plugins FILE] [--elf-files N] [--epoch N] --out FILE
                                                 write manifest.json

Only the standard library; Python 3.6+ (Rocky 8's platform python).
"""
import argparse
import datetime
import json
import re
import sys

sys.dont_write_bytecode = True  # nothing written next to the scripts (they may be read-only)
import package_common as common  # noqa: E402
from package_common import fail, load_json, load_specs, arch_of  # noqa: E402

common.TOOL = "manifest"


REQUIRED_BUILD_INFO = [
    "slurmSeries", "slurmRelease", "slurmSpackVersion", "gcc", "compilerSource", "flavour", "os", "osFamily",
    "baseImage", "imageGlibc", "spackVersion", "spackCommit", "builtinRepoCommit", "tarballName", "moduleName",
    "cgroupDisabledSupported", "sidecars",
]
MANIFEST_SCHEMA = 1


def load_build_info(path):
    info = load_json(path, "build info")
    if not isinstance(info, dict):
        fail("build info %s is not a JSON object" % path)
    missing = [k for k in REQUIRED_BUILD_INFO if k not in info]
    if missing:
        fail("build info %s lacks %s" % (path, ", ".join(missing)))
    return info


def spack_to_release(version):
    """Spack's slurm versions are tag names: 25-11-6-1 -> 25.11.6."""
    m = re.match(r"^(\d+)-(\d+)-(\d+)(?:-\d+)?$", version)
    return "%s.%s.%s" % m.groups() if m else version


def compiler_of(spec, by_hash):
    comp = spec.get("compiler")  # Spack < 1.0
    if isinstance(comp, dict) and comp.get("name"):
        return "%s@%s" % (comp["name"], comp.get("version", "?"))
    for dep in spec.get("dependencies", []) or []:  # Spack 1.0: the compiler is the provider of c/cxx
        if not isinstance(dep, dict):
            continue
        virtuals = (dep.get("parameters") or {}).get("virtuals") or []
        if any(v in ("c", "cxx", "fortran") for v in virtuals):
            other = by_hash.get(dep.get("hash"))
            version = other["version"] if other else None
            return "%s@%s" % (dep.get("name"), version) if version else dep.get("name")
    return None


def spec_entries(specs):
    by_hash = {s["hash"]: s for s in specs}
    out = []
    for s in specs:
        e = {"name": s["name"], "version": s["version"], "hash": s["hash"]}
        for key in ("namespace", "prefix"):
            if isinstance(s.get(key), str):
                e[key] = s[key]
        arch = arch_of(s)
        if arch:
            e["arch"] = arch
        comp = compiler_of(s, by_hash)
        if comp:
            e["compiler"] = comp
        if s.get("external"):
            e["external"] = True
        out.append(e)
    out.sort(key=lambda e: (e["name"], e["version"], e["hash"]))
    return out


# Only facts about the relocated view go into the manifest, never what one run happened to change (a second
# packing of the same view must give the same bytes).
STABLE_REPORT_KEYS = {"elf_files": "elfFiles", "elf_without_dynamic": "elfWithoutDynamicSection"}


def read_report(path):
    report = {}
    if not path:
        return report
    with open(path, encoding="utf-8") as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            if k in STABLE_REPORT_KEYS:
                report[STABLE_REPORT_KEYS[k]] = int(v) if v.isdigit() else v
    report["runpath"] = "$ORIGIN-relative"
    return report


def cmd_get(args):
    v = load_build_info(args.build_info)
    for part in args.key.split("."):
        if not isinstance(v, dict) or part not in v:
            fail("build info has no field %s" % args.key)
        v = v[part]
    print(json.dumps(v) if isinstance(v, (bool, dict, list)) else v)


def cmd_prefixes(args):
    seen = set()
    for s in load_specs(args.specs):
        p = s.get("prefix")
        if isinstance(p, str) and p.startswith("/") and p not in seen:
            seen.add(p)
            print(p)


def cmd_write(args):
    info = load_build_info(args.build_info)
    specs = load_specs(args.specs)
    entries = spec_entries(specs)
    slurm = [e for e in entries if e["name"] == "slurm"]
    if len(slurm) > 1:
        fail("specs list %d slurm installations; the view must hold exactly one" % len(slurm))
    slurm_spec = slurm[0] if slurm else None
    release = spack_to_release(slurm_spec["version"]) if slurm_spec else info["slurmRelease"]
    if slurm_spec and slurm_spec["version"] != info["slurmSpackVersion"]:
        sys.stderr.write("manifest: warning: specs have slurm@%s, build info expected slurm@%s; the manifest "
                         "records what was built\n" % (slurm_spec["version"], info["slurmSpackVersion"]))
    epoch = args.epoch
    built = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = read_report(args.relocation_report)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "name": info["tarballName"],
        "slurm": {
            "series": info["slurmSeries"],
            "release": release,
            "spackVersion": slurm_spec["version"] if slurm_spec else info["slurmSpackVersion"],
            "hash": slurm_spec["hash"] if slurm_spec else None,
        },
        "flavour": info["flavour"],
        # The CPU architecture every ELF file is built for (the package stage checked it); a build-info from
        # before the architecture axis is x86_64. `verify` picks images of this platform.
        "arch": info.get("arch", "x86_64"),
        "platform": {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}.get(info.get("arch", "x86_64")),
        # How many ELF files of the view elf-arch.py found, all of `arch` (None: not recorded by the caller).
        "elfFiles": args.elf_files,
        "gcc": {"version": info["gcc"], "source": info["compilerSource"]},
        "os": {"name": info["os"], "family": info["osFamily"]},
        "baseImage": info["baseImage"],
        "glibc": {
            "floor": args.glibc_floor,
            "floorSetBy": args.glibc_floor_file or None,
            "buildImage": info["imageGlibc"],
        },
        "spack": {
            "version": info["spackVersion"],
            "commit": info["spackCommit"],
            "builtinRepoCommit": info["builtinRepoCommit"],
        },
        "buildTime": built,
        "sourceDateEpoch": epoch,
        "layout": {
            "view": "view",
            "module": "modules/%s.lua" % info["moduleName"],
            "assets": "data/slurm_assets",
        },
        "relocation": report,
        "specs": entries,
    }
    if args.plugins:  # plugin-manifest.py's output: every plugin with the libraries it links
        manifest["plugins"] = load_json(args.plugins, "plugin manifest")
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(prog="manifest.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    g = sub.add_parser("get")
    g.add_argument("--build-info", required=True)
    g.add_argument("key")
    p = sub.add_parser("prefixes")
    p.add_argument("--specs", required=True)
    w = sub.add_parser("write")
    w.add_argument("--build-info", required=True)
    w.add_argument("--specs", required=True)
    w.add_argument("--glibc-floor", required=True)
    w.add_argument("--glibc-floor-file", default="")
    w.add_argument("--relocation-report", default="")
    w.add_argument("--plugins", default="")
    w.add_argument("--elf-files", type=int, default=None)
    w.add_argument("--epoch", type=int, required=True)
    w.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "get":
        cmd_get(args)
    elif args.cmd == "prefixes":
        cmd_prefixes(args)
    elif args.cmd == "write":
        cmd_write(args)
    else:
        ap.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
