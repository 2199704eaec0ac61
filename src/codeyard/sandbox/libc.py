"""The C library for the few calls Python does not wrap (``prctl``, ``unshare``, ``mount``), loaded once.

Loaded when this module is imported, in the server: finding the library runs ``ldconfig -p`` in a subprocess,
which has no place in a forked child between ``fork`` and ``exec`` (where the sandbox's child set-up runs, on the
way to every command), nor once per command.
"""

import ctypes
import ctypes.util

LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
