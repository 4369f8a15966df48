# slurm-factory's D-Bus: only what Slurm uses. Slurm's configure (auxdir/x_ac_cgroup.m4, X_AC_DBUS, in
# slurm-23-11-11-1, 24-11-6-1, 25-05-8-1, 25-11-6-1 and 26-05-1-1) asks pkg-config for `dbus-1` (>= 1.11.16
# from 24.11) and links libdbus-1 into cgroup/v2 only, which talks to systemd over the *system* bus (scopes for
# slurmstepd). Slurm runs no bus daemon and uses no GLib, X11 or documentation of D-Bus.
#
# The builtin recipe depends on glib and libsm unconditionally and on docbook-xml/-xsl to build, which brought
# glib, gobject-introspection, python-venv, elfutils, gettext, libsm, libice, xproto, xtrans, util-macros and
# the docbook packages into Slurm's DAG (and glib, libsm, libice into its link closure and view). Here:
# - no glib (-Dmodular_tests=disabled: GLib is used by the modular tests only), no X11 (-Dx11_autolaunch=
#   disabled: libsm/libice are for X11 autolaunch), no docs (-Dxml_docs/doxygen_docs/ducktype_docs=disabled:
#   docbook is for the man pages);
# - expat stays (dbus-daemon's configuration parser; the meson build asks for it unconditionally);
# - system-socket defaults to the well-known address of the D-Bus specification: built into a Spack prefix,
#   libdbus would otherwise look for the system bus at PREFIX/var/run/dbus/system_bus_socket, which no host
#   has, and cgroup/v2 could not reach systemd.
from spack_repo.builtin.packages.dbus.package import AutotoolsBuilder as BuiltinAutotoolsBuilder
from spack_repo.builtin.packages.dbus.package import Dbus as BuiltinDbus
from spack_repo.builtin.packages.dbus.package import MesonBuilder as BuiltinMesonBuilder

from spack.package import *

SYSTEM_SOCKET = "/var/run/dbus/system_bus_socket"


class Dbus(BuiltinDbus):
    """D-Bus as slurm-factory builds it: libdbus-1 for Slurm's cgroup/v2, no GLib, X11 or docs."""

    variant(
        "system-socket",
        default=SYSTEM_SOCKET,
        description="Location for the DBus system socket (the host's system bus)",
    )


class MesonBuilder(BuiltinMesonBuilder):
    def meson_args(self):
        return super().meson_args() + [
            "-Dmodular_tests=disabled",
            "-Dx11_autolaunch=disabled",
            "-Ddoxygen_docs=disabled",
            "-Dducktype_docs=disabled",
        ]


class AutotoolsBuilder(BuiltinAutotoolsBuilder):
    def configure_args(self):
        return super().configure_args() + [
            "--disable-modular-tests",
            "--without-x",
            "--disable-x11-autolaunch",
            "--disable-doxygen-docs",
            "--disable-ducktype-docs",
        ]


def _drop_dependency(cls, name, when=""):
    """Removes a dependency the builtin recipe declares under `when` (no directive can undo one)."""
    for condition in [c for c, deps in cls.dependencies.items() if name in deps and str(c) == when]:
        del cls.dependencies[condition][name]
        if not cls.dependencies[condition]:
            del cls.dependencies[condition]


for _name in ("glib", "libsm", "docbook-xml", "docbook-xsl"):
    _drop_dependency(Dbus, _name)
