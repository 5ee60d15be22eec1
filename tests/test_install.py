"""A non-editable install works: build the wheel, unpack it away from the source tree, and import
treenet from there in a fresh interpreter. Proves the grammar ships inside the package."""

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NETWORK_TROUBLE = ("Could not find a version", "No matching distribution", "NewConnectionError",
                   "Failed to establish a new connection", "Temporary failure in name resolution",
                   "Network is unreachable", "ConnectionError", "Max retries exceeded",
                   "ReadTimeoutError")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(ROOT), "-w", str(out)],
        capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        log = result.stdout + result.stderr
        if any(marker in log for marker in NETWORK_TROUBLE):
            pytest.skip("no network: pip cannot download the build backend (hatchling)\n" + log)
        pytest.fail("pip wheel failed:\n" + log)
    wheels = list(out.glob("treenet-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def unpacked(wheel, tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    return target


def _run(code, pythonpath, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)


def test_wheel_contains_the_grammar(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert any(n.startswith("treenet/") and n.endswith("treenet.lark") for n in names), names


def test_wheel_contains_the_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"treenet/__init__.py", "treenet/parser.py", "treenet/graph.py"} <= names


def test_installed_package_imports_from_the_install(unpacked, tmp_path):
    result = _run("import treenet; print(treenet.__file__)", unpacked, tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve().is_relative_to(unpacked.resolve())


def test_installed_package_parses_and_predicts(unpacked, tmp_path):
    code = """
        import math, treenet
        net = treenet.parse('sigmoid(p*x + p)', seed=1)
        w, b = (q.value for q in net.parameters)
        got = net.predict([1])
        assert abs(got - 1 / (1 + math.exp(-(w + b)))) < 1e-12, got
        print('ok')
    """
    result = _run(code, unpacked, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_installed_package_reads_its_own_grammar(unpacked, tmp_path):
    result = _run("import treenet.parser as p; print(p.grammar_path())", unpacked, tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve().is_relative_to(unpacked.resolve())
