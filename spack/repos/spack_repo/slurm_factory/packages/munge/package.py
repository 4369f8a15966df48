# slurm-factory's MUNGE: its crypto from OpenSSL only. MUNGE takes either Libgcrypt or OpenSSL
# (--with-crypto-lib); the builtin recipe depends on both and lets configure pick, which brought libgcrypt,
# libgpg-error and, to build libgpg-error, gawk with gmp and mpfr into Slurm's DAG. OpenSSL is in Slurm's
# closure anyway (Slurm, curl and libjwt link it); Fedora and EPEL build munge the same way.
from spack_repo.builtin.packages.munge.package import Munge as BuiltinMunge

from spack.package import *


class Munge(BuiltinMunge):
    """MUNGE as slurm-factory builds it: OpenSSL crypto, no Libgcrypt."""

    def configure_args(self):
        # Not --with-openssl-prefix=PREFIX: MUNGE's configure then looks for PREFIX/lib only, and OpenSSL 3
        # installs into PREFIX/lib64 on x86_64 (0.5.16's x_ac_path_openssl: "checking for OpenSSL
        # installation... no", "unable to locate cryptographic library" in a real build). Its flags are given
        # as they are, from the spec's own libraries, under both names configure reads: OPENSSL_* (up to
        # 0.5.16, x_ac_path_openssl.m4) and LIBCRYPTO_* (0.5.17 on, x_ac_with_openssl.m4);
        # --without-openssl-prefix skips the search, which would otherwise also try /usr.
        ssl = self.spec["openssl"]
        cflags = f"-I{ssl.prefix.include}"
        libs = f"{ssl.libs.search_flags} -lcrypto"
        return super().configure_args() + [
            "--with-crypto-lib=openssl",
            "--without-openssl-prefix",
            f"OPENSSL_CFLAGS={cflags}",
            f"OPENSSL_LIBS={libs}",
            f"LIBCRYPTO_CFLAGS={cflags}",
            f"LIBCRYPTO_LIBS={libs}",
        ]


def _drop_dependency(cls, name, when=""):
    """Removes a dependency the builtin recipe declares under `when` (no directive can undo one)."""
    for condition in [c for c, deps in cls.dependencies.items() if name in deps and str(c) == when]:
        del cls.dependencies[condition][name]
        if not cls.dependencies[condition]:
            del cls.dependencies[condition]


_drop_dependency(Munge, "libgcrypt")
