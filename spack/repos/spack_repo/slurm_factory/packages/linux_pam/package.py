# slurm-factory's Linux-PAM: the builtin recipe without libtirpc. Slurm (+pam) links libpam and libpam_misc
# for UsePAM in slurmd/slurmstepd; libtirpc is for pam_unix's NIS/YP lookups only, and it brought krb5 with
# gettext, libedit, tar, pigz, findutils and diffutils into Slurm's DAG. --disable-nis (Linux-PAM >= 1.4.0)
# builds pam_unix without NIS, so configure does not pick a libtirpc or libnsl up from the image either.
from spack_repo.builtin.packages.linux_pam.package import LinuxPam as BuiltinLinuxPam

from spack.package import *


class LinuxPam(BuiltinLinuxPam):
    """Linux-PAM as slurm-factory builds it: pam_unix without NIS, so no libtirpc and no Kerberos."""

    def configure_args(self):
        return super().configure_args() + ["--disable-nis"]


def _drop_dependency(cls, name, when=""):
    """Removes a dependency the builtin recipe declares under `when` (no directive can undo one)."""
    for condition in [c for c, deps in cls.dependencies.items() if name in deps and str(c) == when]:
        del cls.dependencies[condition][name]
        if not cls.dependencies[condition]:
            del cls.dependencies[condition]


_drop_dependency(LinuxPam, "libtirpc")
