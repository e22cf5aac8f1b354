"""scripts/chromium.sh, which finds the Chromium the web UI tests drive (or installs Debian's): a Chromium
already there is used without calling apt; otherwise apt installs it without recommended packages, and only
if that upgrades nothing already installed.

apt cannot be run for real in a test (it would change the machine), so these tests put small stand-ins for
apt-get and id first on a PATH of their own and check what the script decides and what it asks apt to do.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support import ROOT

CHROMIUM_SH = ROOT / "scripts" / "chromium.sh"


def executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def fake_apt(bin_dir: Path, plan: str) -> Path:
    """An apt-get that prints ``plan`` for a simulation (-s), records every other call in apt.log, and on
    `install` puts a chromium on PATH, as the real package would."""
    log = bin_dir.parent / "apt.log"
    (bin_dir.parent / "plan.txt").write_text(plan)
    executable(
        bin_dir / "apt-get",
        f"""case " $* " in
  *" -s "*) cat '{bin_dir.parent / "plan.txt"}'; exit 0 ;;
esac
echo "$*" >> '{log}'
case " $* " in
  *" install "*) printf '#!/bin/sh\\n' > '{bin_dir / "chromium"}'; chmod +x '{bin_dir / "chromium"}' ;;
esac
""",
    )
    return log


def chromium_sh(bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``bash scripts/chromium.sh`` with only ``bin_dir`` (and awk) on PATH, as root (a stand-in id)."""
    for tool in ("awk", "cat", "chmod", "env"):
        target = Path("/usr/bin") / tool
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(target if target.exists() else Path("/bin") / tool)
    if not (bin_dir / "id").exists():
        executable(bin_dir / "id", "echo 0\n")
    full_env = {"PATH": str(bin_dir), "HOME": str(bin_dir.parent), **env}
    return subprocess.run(["/bin/bash", str(CHROMIUM_SH)], capture_output=True, text=True, timeout=30, env=full_env)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


def test_chromium_sh_uses_a_chromium_on_path_and_never_calls_apt(bin_dir: Path) -> None:
    log = fake_apt(bin_dir, "")
    chromium = executable(bin_dir / "chromium", "")
    r = chromium_sh(bin_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(chromium)
    assert not log.exists(), "apt-get was called although a Chromium was there"

    other = executable(bin_dir.parent / "my-chrome", "")
    r = chromium_sh(bin_dir, MAINSPRING_CHROMIUM=str(other))
    assert (r.returncode, r.stdout.strip()) == (0, str(other))
    r = chromium_sh(bin_dir, MAINSPRING_CHROMIUM=str(bin_dir.parent / "missing"))
    assert r.returncode != 0 and "is not an executable file" in r.stderr
    assert not log.exists()


def test_chromium_sh_installs_without_recommends_when_nothing_installed_would_be_upgraded(bin_dir: Path) -> None:
    log = fake_apt(bin_dir, "Inst chromium-common (156.0 Debian:12 [amd64])\nInst chromium (156.0 Debian:12 [amd64])\n")
    r = chromium_sh(bin_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(bin_dir / "chromium")
    assert "--no-install-recommends" in r.stderr  # announced before anything is installed
    calls = log.read_text().splitlines()
    assert calls[0] == "update -qq"
    [install] = [c for c in calls if " install " in f" {c} "]
    assert "--no-install-recommends" in install.split() and install.split()[-1] == "chromium"


def test_chromium_sh_stops_rather_than_upgrade_installed_packages(bin_dir: Path) -> None:
    plan = (
        "Inst libsystemd0 [252.30-1] (252.38-1 Debian:12 [amd64])\n"
        "Inst systemd [252.30-1] (252.38-1 Debian:12 [amd64]) []\n"
        "Inst chromium (156.0 Debian:12 [amd64])\n"
    )
    log = fake_apt(bin_dir, plan)
    r = chromium_sh(bin_dir)
    assert r.returncode != 0
    assert "libsystemd0 systemd" in r.stderr and "Nothing was changed" in r.stderr
    assert "MAINSPRING_CHROMIUM" in r.stderr  # the no-root way out
    assert [c for c in log.read_text().splitlines() if " install " in f" {c} "] == []

    r = chromium_sh(bin_dir, MAINSPRING_APT_ALLOW_UPGRADES="1")
    assert r.returncode == 0, r.stderr
    assert any("--no-install-recommends" in c for c in log.read_text().splitlines() if "install" in c)
