"""The API description is exact: schemathesis generates requests from /api/v1/openapi.json (valid ones and
invalid ones) against a real server and checks every answer: no 5xx, no status the document does not list
for that operation, the content type and body the document says. A request that fits the published
schema is therefore never refused for a reason the schema does not state, and one that does not fit is
refused with a documented 4xx.

Bounded: a few thousand requests, under a minute here. ``MAINSPRING_FUZZ_SEED`` picks another seed and
``MAINSPRING_FUZZ_EXAMPLES`` more cases per operation, for a longer hunt by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import ServerProcess

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    )
)


def test_schemathesis_finds_no_5xx_no_undocumented_status_and_no_schema_violation(tmp_path: Path) -> None:
    # Long-polls held open for half a second, so the polls and result waits it makes end quickly.
    server = ServerProcess(tmp_path / "fuzz.db", extra_args=["--max-poll-wait", "0.5"]).start()
    try:
        schemathesis = Path(sys.executable).parent / "schemathesis"
        r = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{server.url}/api/v1/openapi.json",
                "--checks",
                CHECKS,
                "--mode",
                "all",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                os.environ.get("MAINSPRING_FUZZ_EXAMPLES", "30"),
                "--seed",
                os.environ.get("MAINSPRING_FUZZ_SEED", "20261201"),
                "--generation-database",
                "none",
                "--request-timeout",
                "10",
                # One worker: with two threads, hypothesis describing its filters (ast.parse of their
                # lambdas) trips CPython 3.11's thread-unsafe AST recursion check ("SystemError: AST
                # constructor recursion depth mismatch", gh-106905) more often the more operations there are.
                "--workers",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=170,
            cwd=tmp_path,
        )
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-20000:]
        assert "22 selected" in out or "selected /" in out, out[-3000:]
        assert "passed" in out and "failed" not in out.split("SUMMARY")[-1], out[-3000:]
        assert "Traceback" not in server.log(), server.log()[-5000:]
    finally:
        server.stop()
