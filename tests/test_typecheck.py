"""The type checkers catch misuse of the typed API, and accept its correct use.

pyright and mypy (both strict) run as subprocesses over ``tests/typecheck/`` and the examples:

- every line of ``tests/typecheck/mistakes.py`` marked ``# type-error`` must be reported by each checker
  (so a signature that stops catching a mistake fails here, not in a user's workflow);
- no other line may be reported: not in ``correct.py`` (which pins the inferred types with
  ``assert_type``), not in ``definitions.py``, not in the examples.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "tests" / "typecheck"
MARKER = "# type-error"

MISTAKES = HERE / "mistakes.py"
CORRECT = HERE / "correct.py"
# Each group is checked by one mypy process: the examples each have a top-level `workflows`
# module, which one mypy run cannot hold twice.
GROUPS: dict[str, list[Path]] = {
    "typecheck": [HERE / "definitions.py", CORRECT, MISTAKES],
    "hello": sorted((REPO / "examples" / "hello").glob("*.py")),
    "order": sorted((REPO / "examples" / "order").glob("*.py")),
    "greeting": sorted((REPO / "examples" / "greeting").glob("*.py")),
}
FILES = [f for files in GROUPS.values() for f in files]

# The checkers' own processes, isolated from whatever the calling shell set.
_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYRIGHT_PYTHON", "MYPY"))}
_ENV["PYRIGHT_PYTHON_IGNORE_WARNINGS"] = "1"  # no "new version available" check over the network


@dataclass
class Report:
    """What one checker said: error messages by file and line (1-based)."""

    checker: str
    errors: dict[Path, dict[int, list[str]]] = field(default_factory=dict)

    def add(self, path: Path, line: int, message: str) -> None:
        self.errors.setdefault(path.resolve(), {}).setdefault(line, []).append(message)

    def lines(self, path: Path) -> dict[int, list[str]]:
        return self.errors.get(path.resolve(), {})


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO, env=_ENV, capture_output=True, text=True, timeout=170)


def _pyright() -> Report:
    proc = _run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--project",
            str(HERE / "pyrightconfig.json"),
            "--pythonpath",
            sys.executable,
            *map(str, FILES),
        ]
    )
    assert proc.returncode in (0, 1), f"pyright did not run (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    data = json.loads(proc.stdout)
    assert data["summary"]["filesAnalyzed"] == len(FILES), data["summary"]
    report = Report("pyright")
    for d in data["generalDiagnostics"]:
        if d["severity"] == "error":
            rule = f"  [{d['rule']}]" if "rule" in d else ""
            report.add(Path(d["file"]), d["range"]["start"]["line"] + 1, d["message"].splitlines()[0] + rule)
    return report


_MYPY_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<severity>error|note|warning): (?P<message>.*)$")


def _mypy(group: str) -> Report:
    proc = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(REPO / ".mypy_cache" / f"typecheck-{group}"),
            "--show-absolute-path",
            "--no-pretty",
            "--no-color-output",
            "--no-error-summary",
            *map(str, GROUPS[group]),
        ]
    )
    assert proc.returncode in (0, 1), f"mypy did not run (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report = Report("mypy")
    for text in proc.stdout.splitlines():
        m = _MYPY_LINE.match(text)
        assert m, f"unexpected mypy output: {text!r}"
        if m["severity"] == "error":
            report.add(Path(m["path"]), int(m["line"]), m["message"])
    return report


@pytest.fixture(scope="module")
def reports() -> Iterator[dict[str, Report]]:
    """Both checkers' reports; the four processes run side by side."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        pyright = pool.submit(_pyright)
        mypys = [pool.submit(_mypy, group) for group in GROUPS]
        merged = Report("mypy")
        for future in mypys:
            for path, lines in future.result().errors.items():
                for line, messages in lines.items():
                    for message in messages:
                        merged.add(path, line, message)
        yield {"pyright": pyright.result(), "mypy": merged}


def _marked(path: Path) -> set[int]:
    return {n for n, text in enumerate(path.read_text().splitlines(), 1) if text.rstrip().endswith(MARKER)}


def _source(path: Path, line: int) -> str:
    return path.read_text().splitlines()[line - 1].strip()


def test_the_mistakes_file_is_substantial() -> None:
    # A guard against passing vacuously: the mistakes are many, and only the mistakes file has them.
    assert len(_marked(MISTAKES)) > 10
    for path in FILES:
        if path != MISTAKES:
            assert not _marked(path), f"{path} has {MARKER} markers; only mistakes.py should"


@pytest.mark.parametrize("checker", ["pyright", "mypy"])
def test_every_mistake_is_reported(reports: dict[str, Report], checker: str) -> None:
    reported = reports[checker].lines(MISTAKES)
    missed = sorted(_marked(MISTAKES) - set(reported))
    assert not missed, f"{checker} let these mistakes through:\n" + "\n".join(
        f"  mistakes.py:{n}: {_source(MISTAKES, n)}" for n in missed
    )


@pytest.mark.parametrize("checker", ["pyright", "mypy"])
def test_nothing_else_is_reported(reports: dict[str, Report], checker: str) -> None:
    unexpected = [
        f"  {path.relative_to(REPO)}:{line}: {message}"
        for path in FILES
        for line, messages in sorted(reports[checker].lines(path).items())
        if line not in _marked(path)
        for message in messages
    ]
    assert not unexpected, f"{checker} reported errors on lines not marked {MARKER}:\n" + "\n".join(unexpected)
