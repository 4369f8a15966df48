# slurm-factory's MUNGE: its crypto from OpenSSL only. MUNGE takes either Libgcrypt or OpenSSL
# (--with-crypto-lib); the builtin recipe depends on both and lets configure pick, which brought libgcrypt,
# libgpg-error and, to build libgpg-error, gawk with gmp and mpfr into Slurm's DAG. OpenSSL is in Slurm's
# closure anyway (Slurm, curl and libjwt link it); Fedora and EPEL build munge the same way.
from spack_repo.builtin.packages.munge.package import Munge as BuiltinMunge

from spack.package import *


class Munge(BuiltinMunge):
    """MUNGE as slurm-factory builds it: OpenSSL crypto, no Libgcrypt."""

    def configure_args(self):
        return super().configure_args() + [
            "--with-crypto-lib=openssl",
            f"--with-openssl-prefix={self.spec['openssl'].prefix}",
        ]


def _drop_dependency(cls, name, when=""):
    """Removes a dependency the builtin recipe declares under `when` (no directive can undo one)."""
    for condition in [c for c, deps in cls.dependencies.items() if name in deps and str(c) == when]:
        del cls.dependencies[condition][name]
        if not cls.dependencies[condition]:
            del cls.dependencies[condition]


_drop_dependency(Munge, "libgcrypt")
