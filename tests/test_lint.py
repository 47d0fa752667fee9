"""The code passes the project's lint rules (pyproject [tool.ruff]) and type checks ([tool.mypy])."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """A tool installed beside this interpreter by the test extras."""
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is missing: pip install -e '.[test]'"
    return str(path)


def test_ruff_is_clean() -> None:
    """ruff finds nothing in src, tests and scripts."""
    done = subprocess.run([_tool("ruff"), "check", "src", "tests", "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_mypy_is_clean() -> None:
    """mypy finds no type error in src (every `type: ignore` left names what forces it)."""
    done = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
