"""The installed `treenet` console script (pyproject's [project.scripts]) runs the command: the
README's subcommands are typed as `treenet ...`, not only `python -m treenet ...`. Only an
installed treenet has the script (CI installs it; a source checkout skips)."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _script():
    try:
        importlib.metadata.distribution("treenet")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("treenet is not installed here: no console script")
    name = "treenet.exe" if os.name == "nt" else "treenet"
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"treenet is installed, but not into this interpreter's bin folder ({path})")
    return str(path)


def test_the_installed_treenet_script_runs_a_subcommand_and_reports_errors():
    script = _script()
    ok = subprocess.run([script, "grad", "x*y + x", "x=2", "y=3"], capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    rows = dict(line.split() for line in ok.stdout.splitlines()[2:])
    assert rows == {"x": "4", "y": "2"}  # d/dx (xy + x) = y + 1, d/dy = x
    bad = subprocess.run([script, "eval", "x +* 2", "x=1"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and "^" in bad.stderr and "Traceback" not in bad.stderr
