#!/usr/bin/env python3
"""The package stage's plugin manifest: every plugin in <view>/lib/slurm with the libraries it links (its
DT_NEEDED entries, read with readelf), and the check that the files the catalog requires for this build
(build-info.json `requiredPlugins`) are all there.

  plugin-manifest.py --view DIR --build-info FILE --out FILE

Writes FILE: {"dir": "view/lib/slurm", "count": N, "plugins": [{"name": "mpi/pmix", "file": "mpi_pmix.so",
"links": ["libpmix.so.2", ...]}, ...], "required": [...]}, sorted by file name (the same view gives the same
bytes). A missing required file exits 1 naming it and the configure check that dropped it.
Only the standard library and readelf (binutils); Python 3.6+.
"""
import argparse
import fnmatch
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # nothing written next to the scripts (they may be read-only)
import package_common as common  # noqa: E402
from package_common import fail, is_elf  # noqa: E402

common.TOOL = "plugin-manifest"


def needed(path):
    try:
        out = subprocess.run(["readelf", "-d", "-W", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, check=False).stdout
    except OSError as e:
        fail("cannot run readelf: %s" % e)
    libs = []
    for line in out.splitlines():
        if "(NEEDED)" in line and "[" in line:
            libs.append(line.rsplit("[", 1)[1].rstrip("]"))
    return libs


# Plugin file names are <type>_<name>.so; these types have an underscore in them.
TWO_WORD_TYPES = ("accounting_storage", "acct_gather_energy", "acct_gather_filesystem", "acct_gather_interconnect",
                  "acct_gather_profile", "cli_filter", "job_container", "job_submit", "jobacct_gather", "data_parser",
                  "node_features", "rest_auth", "switch_type", "topology_block")


def plugin_name(file):
    stem = file[:-3]
    for t in TWO_WORD_TYPES:
        if stem.startswith(t + "_"):
            return "%s/%s" % (t, stem[len(t) + 1:])
    head, _, tail = stem.partition("_")
    return "%s/%s" % (head, tail) if tail else stem


def main():
    ap = argparse.ArgumentParser(prog="plugin-manifest.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--view", required=True)
    ap.add_argument("--build-info", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    plugdir = os.path.join(args.view, "lib", "slurm")
    if not os.path.isdir(plugdir):
        fail("%s is not a directory: the view has no Slurm plugins" % plugdir)
    try:
        with open(args.build_info, encoding="utf-8") as f:
            required = json.load(f).get("requiredPlugins") or []
    except (OSError, ValueError) as e:
        fail("cannot read build info %s: %s" % (args.build_info, e))

    plugins = []
    for file in sorted(os.listdir(plugdir)):
        path = os.path.join(plugdir, file)
        if not file.endswith(".so") or file.startswith("lib") or not is_elf(path):
            continue  # libslurmfull.so and friends are libraries, not plugins
        entry = {"name": plugin_name(file), "file": file, "links": needed(path)}
        if os.path.islink(path):
            entry["linkTo"] = os.readlink(path)
        plugins.append(entry)

    missing = []
    for req in required:
        rel = req["path"]
        d, pattern = os.path.split(rel)
        full = os.path.join(args.view, d)
        hits = sorted(n for n in os.listdir(full) if fnmatch.fnmatchcase(n, pattern)) if os.path.isdir(full) else []
        if not hits:
            missing.append("%s is missing (dropped when Slurm's configure lacks %s)" % (rel, req["configure"]))
            continue
        want = req.get("links")
        if want and not any(l.startswith(want) for h in hits for l in needed(os.path.join(full, h))):
            missing.append("%s does not link %s* (dropped when Slurm's configure lacks %s)"
                           % (rel, want, req["configure"]))
    for m in missing:
        sys.stderr.write("plugin-manifest: error: %s\n" % m)
    if missing:
        fail("%d of %d required plugin files missing from the view: the build lacks a feature the catalog "
             "promises; see Spack's build log of slurm for the configure check named above"
             % (len(missing), len(required)))

    doc = {"dir": "view/lib/slurm", "count": len(plugins), "plugins": plugins,
           "required": [r["path"] for r in required]}
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    sys.stderr.write("plugin-manifest: %d plugins in lib/slurm; all %d required files present\n"
                     % (len(plugins), len(required)))


if __name__ == "__main__":
    main()
