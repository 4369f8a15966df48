# slurm-factory's Slurm recipe: the pinned builtin recipe (spack-packages, see the catalog) with what a site
# packager needs and without what Slurm's configure does not use, checked against configure.ac and auxdir/*.m4
# of slurm-23-11-11-1, 24-11-6-1, 25-05-8-1, 25-11-6-1 and 26-05-1-1:
#
# - +lua (default on): auxdir/x_ac_lua.m4 finds Lua through pkg-config (lua.pc, which Spack's lua installs);
#   it builds job_submit/lua, cli_filter/lua, burst_buffer/lua and route/... plugins. The builtin recipe has no
#   Lua ("TODO: add support for lua"), so those plugins were never built.
# - +mariadb: slurmdbd's accounting_storage/mysql needs only the client library and its mysql_config or
#   mariadb_config (auxdir/x_ac_databases.m4), so this depends on mariadb-c-client, not on the MariaDB server
#   (the builtin `mariadb` package, which pulls the server, cmake-built, into the DAG and the view).
# - glib only with +gtk: only sview (auxdir/x_ac_sview.m4, AM_PATH_GLIB_2_0) uses it; the builtin recipe
#   depends on it unconditionally.
from spack_repo.builtin.packages.slurm.package import Slurm as BuiltinSlurm

from spack.package import *


class Slurm(BuiltinSlurm):
    """Slurm as slurm-factory builds it: the builtin recipe with Lua plugins, accounting against
    mariadb-c-client, and glib only for sview."""

    variant("lua", default=True, description="Build the Lua plugins (job_submit/lua, cli_filter/lua, ...)")
    depends_on("lua@5.1:5.4", when="+lua")
    depends_on("mariadb-c-client", when="+mariadb")
    depends_on("glib", when="+gtk")

    def configure_args(self):
        args = super().configure_args()
        args.append("--with-lua" if self.spec.satisfies("+lua") else "--without-lua")
        # The builtin recipe depends on libyaml for +restd but never tells configure where it is, and Slurm's
        # x_ac_yaml looks in /usr and /usr/local only: without this, serializer_yaml.so is silently not built
        # (the first real build's package stage refused the view for it).
        if self.spec.satisfies("+restd"):
            args.append(f"--with-yaml={self.spec['libyaml'].prefix}")
        if self.spec.satisfies("+mariadb"):
            args.append(f"--with-mysql_config={self.spec['mariadb-c-client'].prefix.bin}")
        else:
            args.append("--without-mysql_config")
        return args


def _drop_dependency(cls, name, when):
    """Removes a dependency the builtin recipe declares under `when` (no directive can undo one)."""
    for condition in [c for c, deps in cls.dependencies.items() if name in deps and str(c) == when]:
        del cls.dependencies[condition][name]
        if not cls.dependencies[condition]:
            del cls.dependencies[condition]


# The builtin unconditional glib, and its `mariadb` (the server) for +mariadb.
_drop_dependency(Slurm, "glib", "")
_drop_dependency(Slurm, "mariadb", "+mariadb")
