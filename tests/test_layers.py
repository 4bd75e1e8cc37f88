"""Import rules: the import-linter contracts of pyproject.toml hold, and `import pyinfer` loads
only the runtime (no command-line code)."""
import os
import subprocess
import sys

import pytest

from support.child_python import child_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The interpreter this test runs under, with the pyinfer conftest.py chose (checkout or installed).
ENV = child_env()


def test_import_contracts_hold():
    pytest.importorskip("importlinter", reason="import-linter is not installed (pip install import-linter)")
    # The checkout's sources are analysed (lint-imports puts its working directory on sys.path).
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    proc = subprocess.run([sys.executable, "-c", code, "--no-cache", "--no-logo", "pyproject.toml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_import_pyinfer_loads_no_cli_module():
    code = ("import sys, pyinfer; cli = sorted(m for m in sys.modules if m.startswith('pyinfer.cli')); "
            "print(pyinfer.__file__); assert not cli, cli")
    proc = subprocess.run([sys.executable, "-c", code], env=ENV, cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_dash_m_pyinfer_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "pyinfer", "--help"], env=ENV, cwd="/", capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: pyinfer") and "demo" in proc.stdout and "inspect" in proc.stdout


def test_tests_import_through_support_never_through_tools_or_path_edits():
    """Shared test code lives in tests/support (imported as `support`); tests never load tools/
    scripts nor edit sys.path (only conftest.py files do: the top one picks the checkout or the installed
    pyinfer, tests/serve's puts the examples/ recipes on the path)."""
    tests = os.path.dirname(os.path.abspath(__file__))
    banned = ("sys.path.insert", "sys.path.append", "spec_from_file_location")
    offenders = []
    for folder, _, files in os.walk(tests):
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or name == "conftest.py" or path == os.path.abspath(__file__):
                continue
            with open(path) as f:
                source = f.read()
            offenders += [f"{os.path.relpath(path, tests)}: {b}" for b in banned if b in source]
    assert offenders == []
