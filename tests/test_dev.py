"""``./dev demo`` and ``./dev test`` as a new user on Debian 12 runs them.

A fake interpreter stands in for Debian's python3: it refuses ``-m pip`` outside a virtual
environment, as PEP 668 makes Debian's do ("externally-managed-environment"), and its
``-m venv`` makes a .venv/ of logging stand-ins (or fails, as without python3-venv). The real
``dev`` script runs against it in a scratch checkout, so what it calls, and from where, is
read back from the log. Nothing is installed and nothing leaves the scratch directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
echo "system-python $*" >> "$DEV_LOG"
case "$1" in
  -c) exec "$REAL_PYTHON" -c "$2" ;;
  -m)
    case "$2" in
      pip) echo "error: externally-managed-environment" >&2; exit 1 ;;
      venv)
        dir="${@: -1}"
        mkdir -p "$dir/bin"
        if [ ! -e "$ENSUREPIP" ]; then
          echo "Error: ensurepip is not available" >&2; exit 1
        fi
        printf '%s\\n' '#!/usr/bin/env bash' 'echo "venv-python $*" >> "$DEV_LOG"' \\
          'case "$1 $2" in "-c "*) exec "$REAL_PYTHON" -c "$2";; "-m pytest") exit "${PYTEST_RC:-0}";; esac' \\
          'exit 0' > "$dir/bin/python"
        for tool in ruff mypy bandit backup-agent; do
          printf '%s\\n' '#!/usr/bin/env bash' 'echo "venv-$(basename "$0") $*" >> "$DEV_LOG"' > "$dir/bin/$tool"
        done
        chmod +x "$dir/bin/"*
        exit 0 ;;
    esac ;;
esac
exit 1
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A scratch checkout holding the real ``dev``, one peer script and a fake toolbox."""
    work = tmp_path / "checkout"
    (work / "tests" / "peers").mkdir(parents=True)
    shutil.copy(ROOT / "dev", work / "dev")
    (work / "tests" / "peers" / "install-fake.sh").write_text('echo "peer $0" >> "$DEV_LOG"\n')
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "python3.11").write_text(FAKE_PYTHON)
    (tools / "apt-get").write_text('#!/usr/bin/env bash\necho "apt-get $*" >> "$DEV_LOG"\n'
                                   'case "$*" in *install*) touch "$ENSUREPIP";; esac\n')
    (tools / "id").write_text('#!/usr/bin/env bash\necho "${FAKE_UID:-0}"\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    (tmp_path / "ensurepip").touch()
    return work


def dev(checkout: Path, *argv: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = checkout.parent / "log"
    log.unlink(missing_ok=True)
    full = {"PATH": f"{checkout.parent / 'bin'}:{os.environ['PATH']}", "HOME": str(checkout.parent),
            "PYTHON": str(checkout.parent / "bin" / "python3.11"), "DEV_LOG": str(log),
            "REAL_PYTHON": sys.executable, "ENSUREPIP": str(checkout.parent / "ensurepip"), **env}
    done = subprocess.run(["bash", str(checkout / "dev"), *argv], capture_output=True, text=True,
                          env=full, timeout=60)
    return done, log.read_text().splitlines() if log.exists() else []


def test_demo_makes_its_venv_and_runs_everything_from_it(checkout: Path) -> None:
    done, log = dev(checkout, "demo")
    assert done.returncode == 0, done.stderr
    assert "system-python -m venv --clear .venv" in log
    assert not [line for line in log if line.startswith("system-python -m pip")], log
    assert "venv-python -m pip install --quiet --disable-pip-version-check -e ." in log
    assert log[-1] == "venv-backup-agent demo"
    done, log = dev(checkout, "demo")
    assert done.returncode == 0 and not [x for x in log if "-m venv" in x], "the venv is reused"


def test_test_runs_peers_lint_types_and_pytest_from_the_venv(checkout: Path) -> None:
    done, log = dev(checkout, "test", "-q", "tests/x")
    assert done.returncode == 0, done.stderr
    assert "venv-python -m pip install --quiet --disable-pip-version-check -e .[test]" in log
    assert [x for x in log if not x.startswith("system-python -c")][-5:] == [
        "peer tests/peers/install-fake.sh", "venv-ruff check backup_agent providers tests bench",
        "venv-mypy ", "venv-bandit -q -ll -r backup_agent providers",
        "venv-python -m pytest -q tests/x"]
    done, _ = dev(checkout, "test", PYTEST_RC="5")
    assert done.returncode == 1 and "collected no tests" in done.stderr


def test_without_ensurepip_root_installs_debians_venv_package(checkout: Path) -> None:
    (checkout.parent / "ensurepip").unlink()
    done, log = dev(checkout, "demo")
    assert done.returncode == 0, done.stderr
    assert "apt-get install -y -qq python3.11-venv" in log
    assert log[-1] == "venv-backup-agent demo"


def test_without_ensurepip_a_user_is_told_what_to_install(checkout: Path) -> None:
    (checkout.parent / "ensurepip").unlink()
    done, log = dev(checkout, "test", FAKE_UID="1000")
    assert done.returncode == 2
    assert "install Debian's python3.11-venv (sudo apt-get install python3.11-venv)" in done.stderr
    assert not [x for x in log if x.startswith("apt-get")]


def test_a_python_too_old_is_refused(checkout: Path, tmp_path: Path) -> None:
    old = tmp_path / "bin" / "python3.9"
    old.write_text("#!/usr/bin/env bash\n[ \"$1\" = -c ] && case \"$2\" in *exit*) exit 1;; "
                   "*) echo 3.9;; esac\n")
    old.chmod(0o755)
    done, _ = dev(checkout, "demo", PYTHON=str(old))
    assert done.returncode == 2 and "needs 3.11 or newer" in done.stderr
