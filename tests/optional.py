"""Marks for the tests that need what a fresh machine may lack: Graphviz's `dot` program (from
the system's packages, not pip). Such a test skips where it is missing, so the README's test
command passes on a machine with only Python; CI installs it and runs with TREENET_NO_SKIP=1,
which turns every skip into a failure (conftest.py)."""

import shutil

import pytest

HAS_DOT = shutil.which("dot") is not None

needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed "
                               "(apt-get install graphviz)")
