#!/usr/bin/env bash
# Write ASCII-armored detached OpenPGP signatures with a key that exists only for the duration of this run.
set -euo pipefail
SF_TOOL=sign-artifacts
# shellcheck source=scripts/package/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
  cat <<'EOF'
Usage: sign-artifacts.sh --key-file FILE --fingerprint FPR [--passphrase-file FILE] FILE...

Imports the secret key from --key-file into a throwaway GNUPGHOME (on /dev/shm when writable, else in
$TMPDIR; deleted on exit, gpg-agent stopped), checks that a secret key or subkey with fingerprint FPR is
among what was imported, and writes FILE.asc (detached, ASCII-armored) for every FILE, then verifies each
signature. Key material is never printed, copied or left behind; gpg's own output about the key is not shown.

  --key-file FILE          armored or binary secret key (e.g. the BuildKit secret /run/secrets/gpg-key)
  --fingerprint FPR        the expected fingerprint (40 or 64 hex digits; spaces and 0x are ignored)
  --passphrase-file FILE   passphrase of a protected key
  -h, --help               this help
EOF
}

key_file='' fpr='' pass_file=''
files=()
while (($#)); do
  case $1 in
    --key-file) need_value "$1" "$#"; key_file=$2; shift 2 ;;
    --fingerprint) need_value "$1" "$#"; fpr=$2; shift 2 ;;
    --passphrase-file) need_value "$1" "$#"; pass_file=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; files+=("$@"); break ;;
    -*) usage_error "unknown option '$1'" ;;
    *) files+=("$1"); shift ;;
  esac
done
[[ -n $key_file && -n $fpr ]] || usage_error '--key-file and --fingerprint are required'
((${#files[@]})) || usage_error 'no files to sign'
[[ -s $key_file ]] || die "key file '$key_file' is missing or empty"
[[ -z $pass_file || -r $pass_file ]] || die "passphrase file '$pass_file' is not readable"
for f in "${files[@]}"; do [[ -f $f ]] || die "'$f' is not a file"; done
need_cmd gpg 'gnupg'

fpr=${fpr// /}
fpr=${fpr#0x}
fpr=${fpr#0X}
fpr=${fpr^^}
[[ $fpr =~ ^([0-9A-F]{40}|[0-9A-F]{64})$ ]] || die "fingerprint must be 40 or 64 hex digits, got '$fpr'"

base=/dev/shm
[[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
GNUPGHOME=$(mktemp -d "$base/sf-gpg.XXXXXX")
export GNUPGHOME
chmod 700 "$GNUPGHOME"
cleanup() {
  gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true
  rm -rf -- "$GNUPGHOME"
}
trap cleanup EXIT

gpg --batch --quiet --no-tty --import -- "$key_file" >/dev/null 2>&1 ||
  die "gpg could not import the signing key from '$key_file' (gpg's output is withheld so no key data is logged)"

found=no
while IFS=: read -r -a col; do
  if [[ ${col[0]} == fpr && ${col[9]:-} == "$fpr" ]]; then found=yes; fi
done < <(gpg --batch --no-tty --with-colons --list-secret-keys 2>/dev/null)
[[ $found == yes ]] || die "the imported key has no secret key or subkey with fingerprint $fpr"

sign_opts=(--batch --no-tty --yes --armor --detach-sign --local-user "${fpr}!")
if [[ -n $pass_file ]]; then sign_opts+=(--pinentry-mode loopback --passphrase-file "$pass_file"); fi
for f in "${files[@]}"; do
  gpg "${sign_opts[@]}" --output "$f.asc" -- "$f" 2>/dev/null ||
    die "signing $f failed (a passphrase-protected key needs --passphrase-file)"
  gpg --batch --no-tty --verify -- "$f.asc" "$f" >/dev/null 2>&1 || die "the signature of $f does not verify"
  log "signed ${f##*/} -> ${f##*/}.asc with ${fpr}"
done
