# Run as `spack -e ENV python specs-json.py > specs.json` in the slurm stage.
#
# Prints what `spack -e ENV find --json` prints (one node dict with hashes per installed spec of the
# environment) plus, per spec, what the SBOM needs and `spack find --json` lacks:
#   prefix    the install prefix (scripts/package/sbom.py maps every ELF file of the view to the spec whose
#             prefix holds it; relocate-view.sh uses it too)
#   licenses  the SPDX identifiers the recipe declares with license() for this spec (may be empty)
#   sources   the archive (or repository) the recipe fetches this version from, with its sha256 when the
#             recipe pins one
# The extra fields are best effort: a recipe Spack cannot load leaves them out, never fails the build.
import json
import sys

import spack.environment as ev
import spack.hash_types as ht

try:
    import spack.fetch_strategy as fs
except ImportError:  # pragma: no cover - layout of another Spack version
    fs = None


def licenses_of(spec):
    try:
        declared = getattr(spec.package_class, "licenses", {}) or {}
        return sorted({str(lic) for when, lic in declared.items() if spec.satisfies(when)})
    except Exception:
        return []


def sources_of(spec):
    if fs is None or spec.external:
        return []
    try:
        fetcher = fs.for_package_version(spec.package)
    except Exception:
        return []
    url = getattr(fetcher, "url", None)
    if not isinstance(url, str) or not url:
        return []
    src = {"url": url}
    digest = getattr(fetcher, "digest", None)
    if isinstance(digest, str) and len(digest) == 64:
        src["sha256"] = digest
    commit = getattr(fetcher, "commit", None)
    if isinstance(commit, str) and commit:
        src["commit"] = commit
    return [src]


def main():
    env = ev.active_environment()
    if env is None:
        sys.stderr.write("specs-json.py: run it with `spack -e ENV python`\n")
        sys.exit(2)
    records, seen = [], set()
    for spec in env.all_specs():
        h = spec.dag_hash()
        if h in seen or not spec.installed:
            continue
        seen.add(h)
        record = spec.node_dict_with_hashes(hash=ht.dag_hash)
        record["prefix"] = str(spec.prefix)
        lic = licenses_of(spec)
        if lic:
            record["licenses"] = lic
        src = sources_of(spec)
        if src:
            record["sources"] = src
        records.append(record)
    records.sort(key=lambda r: (r["name"], r["hash"]))
    json.dump(records, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


main()
