#!/usr/bin/env python3
"""Write the CycloneDX 1.6 JSON SBOM of a relocated view (a step of package-view.sh).

  sbom.py --build-info FILE --specs FILE --view DIR --glibc-floor X.Y --epoch N --out FILE

One component per Spack spec in --specs (name, version, Spack hash, the purl `pkg:spack/<name>@<version>?sha=<hash>`
of the purl-spec's spack type, the license and source archives when the spec entry carries `licenses` /
`sources`), glibc as the OS component the package needs at run time (version = the floor), and the dependency
graph from each spec's `dependencies`. Components reachable from slurm over link/run edges or with files in
the view have scope `required`; the others (build-only specs) have scope `excluded`.

Every regular ELF file under --view is mapped to the one spec whose install prefix (the entry's `prefix`) holds
the same relative path (the view is a hardlinked merge of those prefixes; where two prefixes hold the path,
the one sharing the file's inode wins) and is listed in that component's evidence.occurrences as
`view/<path>`. An ELF file that maps to no spec, or ambiguously to several, fails the step, named.

Deterministic: the same inputs give the same bytes (serialNumber is a UUIDv5 of the tarball name and the specs'
hashes, the timestamp is --epoch). Only the standard library; Python 3.6+.
"""
import argparse
import datetime
import json
import os
import sys
import uuid
from urllib.parse import quote

sys.dont_write_bytecode = True  # nothing written next to the scripts (they may be read-only)
import package_common as common  # noqa: E402
from package_common import fail, load_json, load_specs, arch_of, is_elf  # noqa: E402

common.TOOL = "sbom"


MAX_NAMED = 20


def purl_of(spec):
    return "pkg:spack/%s@%s?sha=%s" % (quote(spec["name"], safe=".-_~"), quote(spec["version"], safe=".-_~"),
                                       spec["hash"])


def view_elves(view):
    """Relative paths of the regular ELF files under view, sorted (symlinks are not followed or listed)."""
    out = []
    for root, dirs, files in os.walk(view):
        dirs.sort()
        for name in files:
            p = os.path.join(root, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            if is_elf(p):
                out.append(os.path.relpath(p, view))
    return sorted(out)


def owner_of(view, rel, prefixed):
    """The specs whose prefix holds rel: one (same inode preferred), or the list of candidates when not one."""
    st = os.lstat(os.path.join(view, rel))
    holders = []
    for s in prefixed:
        try:
            pst = os.lstat(os.path.join(s["prefix"], rel))
        except OSError:
            continue
        holders.append((s, (pst.st_dev, pst.st_ino) == (st.st_dev, st.st_ino)))
    same = [s for s, same_inode in holders if same_inode]
    if len(same) == 1:
        return same[0], holders
    if len(holders) == 1:
        return holders[0][0], holders
    return None, holders


def license_choice(spec):
    lic = spec.get("licenses", spec.get("license"))
    if isinstance(lic, str):
        lic = [lic]
    if not isinstance(lic, list):
        return None
    lic = sorted({x.strip() for x in lic if isinstance(x, str) and x.strip()})
    if not lic:
        return None
    expr = lic[0] if len(lic) == 1 else " AND ".join("(%s)" % x for x in lic)
    return [{"expression": expr}]


def source_refs(spec):
    refs = []
    for src in spec.get("sources") or []:
        if not isinstance(src, dict) or not isinstance(src.get("url"), str):
            continue
        ref = {"type": "source-distribution", "url": src["url"]}
        sha = src.get("sha256")
        if isinstance(sha, str) and len(sha) == 64:
            ref["hashes"] = [{"alg": "SHA-256", "content": sha.lower()}]
        refs.append(ref)
    return refs


def dep_edges(spec):
    for d in spec.get("dependencies") or []:
        if isinstance(d, dict) and isinstance(d.get("hash"), str):
            types = (d.get("parameters") or {}).get("deptypes") or d.get("type") or []
            yield d["hash"], list(types)


def main():
    ap = argparse.ArgumentParser(prog="sbom.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-info", required=True)
    ap.add_argument("--specs", required=True)
    ap.add_argument("--view", required=True)
    ap.add_argument("--glibc-floor", required=True)
    ap.add_argument("--epoch", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    info = load_json(args.build_info, "build info")
    for k in ("tarballName", "slurmRelease", "os", "baseImage", "spackCommit", "builtinRepoCommit"):
        if k not in info:
            fail("build info %s lacks %s" % (args.build_info, k))
    specs = load_specs(args.specs)
    view = os.path.realpath(args.view)
    if not os.path.isdir(view):
        fail("view '%s' is not a directory" % args.view)
    by_hash = {s["hash"]: s for s in specs}

    # Every ELF file of the view belongs to exactly one spec.
    # Externals (the base image's build tools, prefix /usr) never reach a Spack view; the same path under /usr
    # (bin/bzip2, bin/curl, ...) must not make the view's file ambiguous (the real build's package stage failed so).
    prefixed = [s for s in specs if isinstance(s.get("prefix"), str) and s["prefix"].startswith("/")
                and not s.get("external")]
    occurrences = {s["hash"]: [] for s in specs}
    unmapped, ambiguous = [], []
    elves = view_elves(view)
    for rel in elves:
        owner, holders = owner_of(view, rel, prefixed)
        if owner is not None:
            occurrences[owner["hash"]].append({"location": "view/" + rel})
        elif holders:
            ambiguous.append("view/%s (in %s)" % (rel, ", ".join("%s/%s" % (s["name"], s["hash"][:7])
                                                                   for s, _ in holders)))
        else:
            unmapped.append("view/" + rel)
    if unmapped or ambiguous:
        lines = []
        if unmapped:
            lines.append("%d ELF file(s) of the view belong to no package in the specs (no listed install prefix "
                         "holds them): %s%s" % (len(unmapped), ", ".join(unmapped[:MAX_NAMED]),
                                                " ..." if len(unmapped) > MAX_NAMED else ""))
        if ambiguous:
            lines.append("%d ELF file(s) are in several install prefixes and share an inode with none of them: %s"
                         % (len(ambiguous), "; ".join(ambiguous[:MAX_NAMED])))
        fail("the SBOM cannot cover the view: " + "; ".join(lines) +
             " (every install prefix must be in the specs file with its \"prefix\")")

    # Scope: what slurm needs at run time (link/run edges), the rest was only used to build.
    slurm = [s for s in specs if s["name"] == "slurm"]
    runtime = set()
    todo = [s["hash"] for s in slurm] if slurm else list(by_hash)
    while todo:
        h = todo.pop()
        if h in runtime or h not in by_hash:
            continue
        runtime.add(h)
        todo.extend(d for d, types in dep_edges(by_hash[h]) if not types or {"link", "run"} & set(types))

    glibc_ref = "os:glibc"
    components, dependencies = [], []
    for s in sorted(specs, key=lambda s: (s["name"], s["version"], s["hash"])):
        ref = purl_of(s)
        c = {"type": "library", "bom-ref": ref, "name": s["name"], "version": s["version"],
             "scope": "required" if s["hash"] in runtime or occurrences[s["hash"]] else "excluded"}
        lic = license_choice(s)
        if lic:
            c["licenses"] = lic
        c["purl"] = ref
        refs = source_refs(s)
        if refs:
            c["externalReferences"] = refs
        props = [{"name": "spack:hash", "value": s["hash"]}]
        for key, value in (("spack:namespace", s.get("namespace")), ("spack:arch", arch_of(s)),
                           ("spack:prefix", s.get("prefix"))):
            if isinstance(value, str):
                props.append({"name": key, "value": value})
        if s.get("external"):
            props.append({"name": "spack:external", "value": "true"})
        c["properties"] = props
        occ = occurrences[s["hash"]]
        if occ:
            c["evidence"] = {"occurrences": occ}
        components.append(c)
        depends = sorted({purl_of(by_hash[d]) for d, _ in dep_edges(s) if d in by_hash})
        if occ and args.glibc_floor != "none":
            depends.append(glibc_ref)
        dependencies.append({"ref": ref, "dependsOn": depends})

    if args.glibc_floor != "none":
        components.append({
            "type": "library", "bom-ref": glibc_ref, "name": "glibc", "version": args.glibc_floor,
            "scope": "required",
            "description": "provided by the host OS, not shipped: the package needs glibc %s or newer (the highest "
                           "GLIBC_x.y symbol version its ELF files require)" % args.glibc_floor,
            "purl": "pkg:generic/glibc@%s" % args.glibc_floor,
            "properties": [{"name": "slurm-factory:os-external", "value": "true"},
                           {"name": "slurm-factory:minimum-version", "value": args.glibc_floor}],
        })
        dependencies.append({"ref": glibc_ref, "dependsOn": []})

    root_ref = "tarball:" + info["tarballName"]
    root_deps = sorted(purl_of(s) for s in slurm) or sorted(purl_of(by_hash[h]) for h in runtime)
    dependencies.insert(0, {"ref": root_ref, "dependsOn": root_deps})
    built = datetime.datetime.fromtimestamp(args.epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "slurm-factory:%s:%s" % (
        info["tarballName"], ",".join(sorted(by_hash))))
    bom = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "timestamp": built,
            "lifecycles": [{"phase": "build"}],
            "tools": {"components": [{"type": "application", "name": "slurm-factory",
                                      "description": "scripts/package/sbom.py"}]},
            "component": {
                "type": "application", "bom-ref": root_ref, "name": info["tarballName"],
                "version": info["slurmRelease"],
                "description": "relocatable Slurm %s for %s (view/ of this tarball)" % (info["slurmRelease"],
                                                                                    info["os"]),
                "properties": [
                    {"name": "slurm-factory:base-image", "value": str(info["baseImage"])},
                    {"name": "slurm-factory:spack-commit", "value": str(info["spackCommit"])},
                    {"name": "slurm-factory:spack-packages-commit", "value": str(info["builtinRepoCommit"])},
                    {"name": "slurm-factory:elf-files", "value": str(len(elves))},
                ],
            },
        },
        "components": components,
        "dependencies": dependencies,
    }
    text = json.dumps(bom, indent=2, ensure_ascii=False) + "\n"
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.out)
    sys.stderr.write("sbom: %d components, %d ELF files each mapped to one, glibc >= %s\n"
                     % (len(components), len(elves), args.glibc_floor))


if __name__ == "__main__":
    main()
