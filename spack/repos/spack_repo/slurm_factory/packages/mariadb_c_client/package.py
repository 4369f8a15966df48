# slurm-factory's MariaDB Connector/C: the client library slurmdbd's accounting_storage/mysql links, without
# the optional plugins that pulled Kerberos into Slurm's DAG. In Connector/C 3.4 (CMakeLists.txt, cmake/
# plugins.cmake, plugins/auth and plugins/io of v3.4.1): krb5 is for the auth_gssapi_client plugin only
# (off: -DPLUGIN_AUTH_GSSAPI_CLIENT=OFF), curl for the remote_io plugin only (off: -DWITH_CURL=OFF), and
# nothing uses pcre. slurmdbd authenticates to MariaDB/MySQL with a password (StoragePass), over TLS with
# openssl, which stays.
from spack_repo.builtin.packages.mariadb_c_client.package import MariadbCClient as BuiltinMariadbCClient

from spack.package import *


class MariadbCClient(BuiltinMariadbCClient):
    """MariaDB Connector/C as slurm-factory builds it: no GSSAPI (krb5), remote_io (curl) or pcre."""

    def cmake_args(self):
        return super().cmake_args() + ["-DPLUGIN_AUTH_GSSAPI_CLIENT=OFF", "-DWITH_CURL=OFF"]


def _drop_dependency(cls, name, when=""):
    """Removes a dependency the builtin recipe declares under `when` (no directive can undo one)."""
    for condition in [c for c, deps in cls.dependencies.items() if name in deps and str(c) == when]:
        del cls.dependencies[condition][name]
        if not cls.dependencies[condition]:
            del cls.dependencies[condition]


for _name in ("krb5", "curl", "pcre"):
    _drop_dependency(MariadbCClient, _name)
