"""CPU and memory of a process tree, read from /proc (Linux only), as the reference scripts measure them.

- ``cpu_seconds(pid)``: utime+stime of ``pid`` and every live descendant, plus cutime+cstime (CPU of
  children already reaped) of each. Take it before and after a window and subtract.
- ``peak_rss_mb(pid)``: the sum of VmHWM (peak resident set over the process's life) over the tree.
- ``rss_mb(pid)``: the sum of VmRSS (resident now) over the tree.
"""

from __future__ import annotations

import os

CLK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int]:
    """(ppid, utime+stime+cutime+cstime in clock ticks) of one process."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): field N is rest[N-3]
    return int(rest[1]), int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            kids.setdefault(_stat(int(d))[0], []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            total += _stat(p)[1]
        except OSError:
            continue
    return total / CLK


def _status_kb(pid: int, field: str) -> int:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def peak_rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmHWM:") / 1024.0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS:") / 1024.0


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system
