#!/usr/bin/env bash
# push-buildcache ENV_DIR [MIRROR]: push the packages of a Spack environment to a binary mirror, by default
# the local binary cache `local-buildcache` (a BuildKit cache mount keyed by base image + GCC).
#
# Signed when the build was given a key: the private key arrives only as the BuildKit secret
# /run/secrets/gpg-key and is imported into SPACK_GNUPGHOME on a tmpfs mount, so it never reaches a layer.
# SIGNING_KEY_FINGERPRINT (a build argument, public) names the key to sign with; the public key is written
# into the mirror so `spack buildcache keys --install --trust` works for its users.
#
# Pushes the environment's roots and their link and run dependencies, externals left out: everything
# `spack install --cache-only` needs, and no more. Spack 1.0's default push also takes build dependencies
# (the compiler, cmake, autotools, ...), hence --without-build-dependencies.
#
# The environments push every node unsigned the moment it is installed (`autopush` on local-buildcache, so a
# failed stage keeps what it finished): a signed push therefore uses --force, replacing those unsigned entries.
set -euo pipefail

env_dir=${1:?usage: push-buildcache ENV_DIR [MIRROR]}
mirror=${2:-local-buildcache}
key_file=/run/secrets/gpg-key

if [[ -s "$key_file" && -n "${SIGNING_KEY_FINGERPRINT:-}" ]]; then
  export SPACK_GNUPGHOME=/run/spack-gnupg
  chmod 700 "$SPACK_GNUPGHOME"
  spack gpg trust "$key_file"
  spack -e "$env_dir" buildcache push --force --without-build-dependencies --key "$SIGNING_KEY_FINGERPRINT" --update-index "$mirror"
  if [[ "$mirror" == *://* ]]; then
    spack gpg publish --rebuild-index --mirror-url "$mirror" "$SIGNING_KEY_FINGERPRINT"
  else
    spack gpg publish --rebuild-index --mirror-name "$mirror" "$SIGNING_KEY_FINGERPRINT"
  fi
  echo "push-buildcache: $mirror signed with $SIGNING_KEY_FINGERPRINT"
else
  spack -e "$env_dir" buildcache push --without-build-dependencies --unsigned --update-index "$mirror"
  echo "push-buildcache: $mirror unsigned (no gpg-key secret given)"
fi
