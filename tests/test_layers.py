"""Import rules: `import pyinfer` loads only the runtime (no command-line code)."""
import os
import subprocess
import sys

# The interpreter this test runs under, with the pyinfer conftest.py chose (checkout or installed).
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


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
