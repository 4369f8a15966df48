#!/usr/bin/env bash
# The package stage: turn a Spack view into the one relocatable, reproducible Slurm tarball.
set -euo pipefail
SF_TOOL=package-view
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/package/common.sh
. "$here/common.sh"

usage() {
  cat <<'EOF'
Usage: package-view.sh --build-info FILE --view DIR --specs FILE --assets DIR --out DIR
                       [--gpg-key FILE] [--gpg-passphrase FILE] [--work DIR] [--level N]

Steps (each logged):
  1. prune     prune-view.sh: delete static/libtool archives, docs, host GPU libraries and stubs (explicit rules)
  2. relocate  relocate-view.sh: $ORIGIN-relative RUNPATHs, relative symlinks, ${pcfiledir} in .pc files
  3. audit     audit-view.sh: fail listing file and entry if anything still depends on a path outside the view;
               elf-arch.py: every ELF file is built for the build's architecture (build-info arch, default x86_64)
  4. glibc     glibc-floor.sh: the highest GLIBC_x.y any ELF file needs
  5. manifest  plugin-manifest.py: every plugin in lib/slurm with its libraries; the catalog's required
               plugins (build-info requiredPlugins) must all be there; manifest.py: build info + every installed
               spec with its hash + glibc floor + build time; sbom.py: sbom.cdx.json (CycloneDX 1.6), failing
               if an ELF file maps to no spec's prefix
  6. pack      pack-tarball.sh: <out>/<tarballName> with view/, modules/, data/slurm_assets/, manifest.json;
               its checksum, manifest and SBOM beside it (names: build-info sidecars.sha256/manifest/sbom)
  7. sign      sign-artifacts.sh, only when the key file is non-empty and $SIGNING_KEY_FINGERPRINT is set:
               signatures of the tarball and its checksum (sidecars.signature/sha256Signature)
The view is changed in place (steps 1-2); run it on a copy to keep the original.

  --build-info FILE     build-info.json written by `render` (tarballName, sidecars, moduleName, versions, refs)
  --view DIR            the Spack view (e.g. /opt/slurm/view; a symlink to the real view is fine)
  --specs FILE          `spack find --json` of the environment (each entry: name, version, hash[, prefix])
  --assets DIR          holds modules/slurm/<name>.lua and data/slurm_assets/ (rendered by `render`)
  --out DIR             where the artifacts go (created)
  --gpg-key FILE        secret signing key (default /run/secrets/gpg-key, the BuildKit secret)
  --gpg-passphrase FILE passphrase of that key (default /run/secrets/gpg-passphrase when present)
  --work DIR            scratch directory for the tarball's top level (default: a temporary directory)
  --level N             gzip level 1-9 (default 6)
  -h, --help            this help
Environment: SOURCE_DATE_EPOCH (build time and every mtime in the tarball; default: now),
             SIGNING_KEY_FINGERPRINT (enables signing together with the key file).
EOF
}

build_info='' view='' specs='' assets='' out='' work='' level=6
gpg_key=/run/secrets/gpg-key gpg_pass=/run/secrets/gpg-passphrase
while (($#)); do
  case $1 in
    --build-info) need_value "$1" "$#"; build_info=$2; shift 2 ;;
    --view) need_value "$1" "$#"; view=$2; shift 2 ;;
    --specs) need_value "$1" "$#"; specs=$2; shift 2 ;;
    --assets) need_value "$1" "$#"; assets=$2; shift 2 ;;
    --out) need_value "$1" "$#"; out=$2; shift 2 ;;
    --gpg-key) need_value "$1" "$#"; gpg_key=$2; shift 2 ;;
    --gpg-passphrase) need_value "$1" "$#"; gpg_pass=$2; shift 2 ;;
    --work) need_value "$1" "$#"; work=$2; shift 2 ;;
    --level) need_value "$1" "$#"; level=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done
for opt in build_info view specs assets out; do
  [[ -n ${!opt} ]] || usage_error "--${opt/_/-} is required"
done
[[ -f $build_info ]] || die "build info '$build_info' not found"
[[ -f $specs ]] || die "specs '$specs' not found"
[[ -d $view ]] || die "view '$view' is not a directory"
[[ -d $assets ]] || die "assets '$assets' is not a directory"
for c in python3 patchelf readelf tar gzip sha256sum find; do need_cmd "$c"; done
view=$(realpath -e -- "$view")

info() { python3 "$here/manifest.py" get --build-info "$build_info" "$1"; }
tarball=$(info tarballName)
module_name=$(info moduleName)
[[ $tarball =~ ^[A-Za-z0-9._+-]+\.tar\.gz$ ]] || die "build info has an unusable tarballName '$tarball'"
# The side files' names come from the plan (tasks/lib/artifacts.ts), never spelled here.
declare -A side=()
for s in sha256 manifest sbom signature sha256Signature; do
  side[$s]=$(info "sidecars.$s")
  [[ ${side[$s]} =~ ^[A-Za-z0-9._+-]+$ ]] || die "build info has an unusable sidecars.$s '${side[$s]}'"
done
artifacts=("$tarball" "${side[sha256]}" "${side[manifest]}" "${side[sbom]}" "${side[signature]}" "${side[sha256Signature]}")
module_rel="modules/$module_name.lua"
[[ -f $assets/$module_rel ]] || die "assets lack $module_rel"
[[ -f $assets/data/slurm_assets/slurm_install.sh ]] || die "assets lack data/slurm_assets/slurm_install.sh"
[[ -x $view/bin/scontrol ]] || die "the view has no bin/scontrol: '$view' is not a Slurm view"

epoch=${SOURCE_DATE_EPOCH:-}
if [[ -z $epoch ]]; then
  epoch=$(date +%s)
  log "SOURCE_DATE_EPOCH is not set: build time and tarball mtimes are now ($epoch); set it for byte-identical rebuilds"
fi
[[ $epoch =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since the epoch, got '$epoch'"

if [[ -z $work ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/sf-package.XXXXXX")
  trap 'rm -rf -- "$work"' EXIT
else
  mkdir -p -- "$work"
fi
stage="$work/stage"
rm -rf -- "$stage"
mkdir -p -- "$stage" "$out"
out=$(realpath -e -- "$out")

step() { log "== $*"; }

step "1/7 prune $view"
bash "$here/prune-view.sh" --view "$view"

step "2/7 relocate"
bash "$here/relocate-view.sh" --view "$view" --specs "$specs" --report "$work/relocation.txt"

step "3/7 audit"
bash "$here/audit-view.sh" --view "$view" || die "the view is not relocatable (problems listed above)"
# A build-info written before the architecture axis has no arch: those builds were all x86_64.
arch=x86_64
if python3 -c 'import json,sys; sys.exit(0 if "arch" in json.load(open(sys.argv[1])) else 1)' "$build_info"; then
  arch=$(info arch)
fi
python3 "$here/elf-arch.py" --view "$view" --arch "$arch" --count-out "$work/elf-files" || die "the view has ELF files for another architecture than ${arch} (above)"

step "4/7 glibc floor"
floor_line=$(bash "$here/glibc-floor.sh" --view "$view" --with-file)
floor=${floor_line%% *} floor_file=''
[[ $floor_line != *' '* ]] || floor_file=${floor_line#* }
log "glibc floor: ${floor} (set by ${floor_file:-nothing}); the build image has glibc $(info imageGlibc)"

step "5/7 manifest"
# Every plugin with the libraries it links; fails naming a plugin the catalog requires that the build lacks.
python3 "$here/plugin-manifest.py" --view "$view" --build-info "$build_info" --out "$work/plugins.json"
cp -R -- "$assets/modules" "$assets/data" "$stage/"
# The PluginDir Slurm was compiled with (its install prefix + /lib/slurm, a string in its library): a
# configless slurmd reads it before it has a config, so slurm_install.sh --conf-server links it to the prefix.
plugin_dir=$(compiled_plugin_dir "$view")
if [[ -n $plugin_dir ]]; then
  printf 'COMPILED_PLUGIN_DIR=%s\n' "$plugin_dir" >>"$stage/data/slurm_assets/build.env"
  log "compiled-in PluginDir: $plugin_dir"
else
  log "note: no compiled-in PluginDir found in the Slurm library; configless slurmd nodes need it made by hand"
fi
chmod -R u+rwX,go+rX,go-w -- "$stage"
python3 "$here/manifest.py" write --build-info "$build_info" --specs "$specs" --glibc-floor "$floor" \
  --glibc-floor-file "${floor_file:+view/$floor_file}" --relocation-report "$work/relocation.txt" \
  --plugins "$work/plugins.json" --elf-files "$(cat -- "$work/elf-files")" --epoch "$epoch" --out "$stage/manifest.json"
chmod 644 -- "$stage/manifest.json"
python3 "$here/sbom.py" --build-info "$build_info" --specs "$specs" --view "$view" --glibc-floor "$floor" \
  --epoch "$epoch" --out "$stage/sbom.cdx.json" || die "no SBOM: the view has ELF files no spec accounts for (above)"
chmod 644 -- "$stage/sbom.cdx.json"

step "6/7 pack"
for f in "${artifacts[@]}"; do rm -f -- "${out:?}/$f"; done
bash "$here/pack-tarball.sh" --view "$view" --stage "$stage" --out "$out/$tarball" --sum "$out/${side[sha256]}" \
  --mtime "$epoch" --level "$level"
cp -- "$stage/manifest.json" "$out/${side[manifest]}"
cp -- "$stage/sbom.cdx.json" "$out/${side[sbom]}"

step "7/7 sign"
fingerprint=${SIGNING_KEY_FINGERPRINT:-}
if [[ -s $gpg_key && -n $fingerprint ]]; then
  pass_args=()
  [[ ! -s $gpg_pass ]] || pass_args=(--passphrase-file "$gpg_pass")
  bash "$here/sign-artifacts.sh" --key-file "$gpg_key" --fingerprint "$fingerprint" "${pass_args[@]}" \
    "$out/$tarball" "$out/${side[sha256]}"
  # sign-artifacts.sh writes FILE.asc (gpg's convention); the plan's names must say the same.
  for s in signature sha256Signature; do
    [[ -f $out/${side[$s]} ]] || die "signing wrote no ${side[$s]} (build info sidecars.$s)"
  done
elif [[ -s $gpg_key ]]; then
  die "a signing key was provided but SIGNING_KEY_FINGERPRINT is not set: refusing to sign with an unchecked key"
else
  log "unsigned: no signing key (${gpg_key}) and/or no SIGNING_KEY_FINGERPRINT"
fi

log "artifacts in $out:"
for f in "${artifacts[@]}"; do
  [[ ! -f $out/$f ]] || log "  $f ($(stat -c %s -- "$out/$f") bytes)"
done
