"""Where W14's child round trip goes: the parent's and each child's events, interleaved by their server times.

    python run.py W14 --engine mainspring --runs 1 --keep-files     # the database stays in $BENCH_RUNDIR
    python child_timeline.py $BENCH_RUNDIR/mainspring-w14-...db [children to print, default 2]

Prints the first children's timelines (ms from the child's StartChildWorkflowExecutionInitiated), then for each
place in that sequence the median gap before it and the event most often found there, over all the chain's
children. Reads the SQLite file directly (read only).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
from collections import Counter

Row = tuple[int, float, str, str]


def _history(conn: sqlite3.Connection, run_id: str) -> list[Row]:
    sql = "SELECT event_id, event_time, event_type, attributes FROM history WHERE run_id=? ORDER BY event_id"
    return list(conn.execute(sql, (run_id,)))


def main(path: str, show: int) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    found = conn.execute("SELECT run_id FROM executions WHERE workflow_id LIKE 'w14-%-chain'").fetchone()
    if found is None:
        raise SystemExit(f"{path} holds no W14 chain (run W14 with --keep-files)")
    parent = _history(conn, found[0])
    runs = {}
    for _, _, etype, attrs in parent:
        if etype == "ChildWorkflowExecutionStarted":
            a = json.loads(attrs)
            runs[a["initiated_event_id"]] = a["run_id"]
    gaps: dict[int, list[tuple[float, str]]] = {}
    initiated = [e for e in parent if e[2] == "StartChildWorkflowExecutionInitiated"]
    for k, (first_id, t0, _, _) in enumerate(initiated):
        rows: list[tuple[float, str]] = []
        for event_id, t, etype, _ in parent:
            if event_id > first_id and etype == "StartChildWorkflowExecutionInitiated":
                break
            if event_id >= first_id:
                rows.append((t, f"P:{etype}"))
        rows += [(t, f"C:{etype}") for _, t, etype, _ in _history(conn, runs.get(first_id, ""))]
        rows.sort(key=lambda r: r[0])
        before = t0
        for place, (t, label) in enumerate(rows):
            gaps.setdefault(place, []).append(((t - before) * 1000, label))
            if k < show:
                print(f"{(t - t0) * 1000:8.2f} (+{(t - before) * 1000:6.2f}) {label}")
            before = t
        if k < show:
            print()
    print("median gap before each place (the event most often there):")
    for place, found_there in sorted(gaps.items()):
        label, count = Counter(lab for _, lab in found_there).most_common(1)[0]
        gap = statistics.median(g for g, _ in found_there)
        print(f"{place:3d} {gap:7.2f} ms  {label} ({count}/{len(found_there)})")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
