"""Task tokens mean what they say: only the server makes them, and each is good for one task, in one
namespace, from the worker session that holds it.

Each attack here worked before tokens were signed (a token was ``a|run_id|sched|attempt`` or
``w|run_id|attempt|started_event_id``, the run id is public, and the caller's namespace and session
were ignored). Now each is refused, 404 ``task_not_found`` or 403 ``forbidden``, and leaves no trace:
the history and the pending state are the same before and after. Workers are driven by hand, over
the worker channel (a WebSocket per session) and the HTTP worker API, against a real server.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from support import ServerProcess

API = "/api/v1/namespaces"


# --- helpers ------------------------------------------------------------------------------------------


class Channel:
    """One worker session on the worker channel, driven by hand."""

    def __init__(self, ws: ClientConnection, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self._i = 1

    def call(self, op: str, body: Any) -> dict[str, Any]:
        """Send one operation and return its answer ({"ok": ...} or {"err": ...})."""
        self._i += 1
        i = self._i
        self.ws.send(json.dumps({"i": i, "op": op, "b": body}))
        while True:
            frame = json.loads(self.ws.recv(timeout=30))
            for message in frame if isinstance(frame, list) else [frame]:
                if message.get("i") == i:
                    return dict(message)

    def ok(self, op: str, body: Any) -> Any:
        answer = self.call(op, body)
        assert "ok" in answer, answer
        return answer["ok"]

    def refused(self, op: str, body: Any, status: int, code: str) -> str:
        answer = self.call(op, body)
        err = answer.get("err")
        assert err is not None and (err["status"], err["code"]) == (status, code), answer
        return str(err["message"])


@contextmanager
def channel(server: ServerProcess, task_queue: str, namespace: str = "default") -> Iterator[Channel]:
    url = f"ws://{server.address}{API}/{namespace}/workers/connect"
    with connect(url) as ws:
        ws.send(
            json.dumps(
                {
                    "i": 1,
                    "op": "register",
                    "b": {
                        "identity": f"hand-{uuid.uuid4().hex[:6]}",
                        "task_queue": task_queue,
                        "workflow_types": [{"name": "victim"}],
                        "activity_types": ["act"],
                    },
                }
            )
        )
        answer = json.loads(ws.recv(timeout=10))
        assert "ok" in answer, answer
        yield Channel(ws, answer["ok"]["session_id"])
        with suppress(ConnectionClosed):  # the server may have been killed meanwhile
            ws.send(json.dumps({"i": 0, "op": "bye"}))


def start(http: httpx.Client, workflow_id: str, task_queue: str, namespace: str = "default") -> str:
    r = http.post(
        f"{API}/{namespace}/workflows",
        json={"workflow_id": workflow_id, "workflow_type": "victim", "task_queue": task_queue, "input": 1},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["run_id"])


def snapshot(http: httpx.Client, workflow_id: str, namespace: str = "default") -> tuple[Any, Any]:
    """What a refused report must not change: the history, and the run's pending state."""
    history = http.get(f"{API}/{namespace}/workflows/history", params={"workflow_id": workflow_id})
    described = http.get(f"{API}/{namespace}/workflows/describe", params={"workflow_id": workflow_id})
    assert history.status_code == 200 and described.status_code == 200
    d = described.json()
    return history.json()["events"], {
        k: d[k] for k in ("execution", "result", "pending_activities", "pending_workflow_task")
    }


def post(http: httpx.Client, path: str, body: Any, namespace: str = "default") -> httpx.Response:
    return http.post(f"{API}/{namespace}{path}", json=body)


def refused(r: httpx.Response, status: int, code: str) -> str:
    assert (r.status_code, r.json().get("code")) == (status, code), f"{r.status_code}: {r.text}"
    return str(r.json()["message"])


def old_token(kind: str, run_id: str, n1: int, n2: int) -> str:
    """A token as the server made them before they were signed: anyone could write one."""
    return f"{kind}|{run_id}|{n1}|{n2}"


def made_up_token(kind: str, run_id: str, n1: int, n2: int, session_id: str, tag: bytes = bytes(16)) -> str:
    """A token of the signed form, written from what anyone can read (describe, task queues), with a
    made-up tag."""
    fields = f"{kind}|{run_id}|{n1}|{n2}|{session_id}".encode()
    return base64.urlsafe_b64encode(fields + tag).rstrip(b"=").decode()


def tampered(token: str) -> Iterator[str]:
    """The token with one character changed, at several places (first, middle, tag, last)."""
    for i in (0, len(token) // 2, len(token) - 10, len(token) - 1):
        c = token[i]
        yield token[:i] + ("B" if c == "A" else "A") + token[i + 1 :]


def schedule_activity(ch: Channel, task: dict[str, Any]) -> None:
    """Complete a workflow task with one ScheduleActivity command, handing nothing out eagerly."""
    answer = ch.ok(
        "complete_workflow_task",
        {
            "task_token": task["task_token"],
            "sticky": False,
            "eager_activity_slots": 0,
            "commands": [
                {
                    "type": "ScheduleActivity",
                    "activity_id": "a1",
                    "activity_type": "act",
                    "input": 1,
                    "start_to_close_timeout": 120,
                }
            ],
        },
    )
    assert answer["accepted"] is True


# --- activities ---------------------------------------------------------------------------------------


def test_forged_activity_tokens_are_refused_and_leave_no_trace(server: ServerProcess) -> None:
    tq = f"tok-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url, timeout=30) as http, channel(server, tq) as a, channel(server, tq) as b:
        run_id = start(http, "wf-act", tq)
        schedule_activity(a, a.ok("poll_workflow_task", {"timeout": 10}))
        before = snapshot(http, "wf-act")
        pending = before[1]["pending_activities"]
        assert [(p["state"], p["attempt"]) for p in pending] == [("SCHEDULED", 1)]
        sched = pending[0]["scheduled_event_id"]

        # An activity no worker polled, completed with a token written from the public run id.
        forged = old_token("a", run_id, sched, 1)
        refused(post(http, "/activity-tasks/complete", {"task_token": forged, "result": "evil"}), 404, "task_not_found")
        b.refused("complete_activity_task", {"task_token": forged, "result": "evil"}, 404, "task_not_found")
        refused(post(http, "/activity-tasks/heartbeat", {"task_token": forged, "details": "x"}), 404, "task_not_found")
        failure = {"message": "evil", "type": "Evil"}
        refused(post(http, "/activity-tasks/fail", {"task_token": forged, "failure": failure}), 404, "task_not_found")
        # The signed form, made up from describe and the task queue's public list of sessions.
        workers = http.get(f"{API}/default/task-queues", params={"name": tq}).json()["task_queues"][0]["workers"]
        assert len(workers) == 2
        for session_id in [w["session_id"] for w in workers]:
            made_up = made_up_token("a", run_id, sched, 1, session_id)
            message = refused(
                post(http, "/activity-tasks/complete", {"task_token": made_up, "result": "evil"}), 404, "task_not_found"
            )
            assert "not issued by this server" in message
            b.refused("complete_activity_task", {"task_token": made_up, "result": "evil"}, 404, "task_not_found")
        assert snapshot(http, "wf-act") == before

        # A real token, held by worker A's session, presented by worker B's: refused as forbidden.
        task = a.ok("poll_activity_task", {"timeout": 10})
        token = task["task_token"]
        assert token.isascii() and all(c.isalnum() or c in "-_" for c in token) and len(token) <= 256
        before = snapshot(http, "wf-act")
        assert [p["state"] for p in before[1]["pending_activities"]] == ["STARTED"]
        message = b.refused("complete_activity_task", {"task_token": token, "result": "evil"}, 403, "forbidden")
        assert "another worker" in message
        b.refused("heartbeat_activity_task", {"task_token": token, "details": "evil"}, 403, "forbidden")
        b.refused("fail_activity_task", {"task_token": token, "failure": failure}, 403, "forbidden")
        # One character changed anywhere: it names no task.
        for bad in tampered(token):
            refused(
                post(http, "/activity-tasks/complete", {"task_token": bad, "result": "evil"}), 404, "task_not_found"
            )
            a.refused("complete_activity_task", {"task_token": bad, "result": "evil"}, 404, "task_not_found")
        # A workflow task token is not an activity token, however real.
        refused(
            post(http, "/activity-tasks/complete", {"task_token": made_up_token("w", run_id, 1, 3, a.session_id)}),
            404,
            "task_not_found",
        )
        assert snapshot(http, "wf-act") == before

        # The holder's own reports go through: a heartbeat on its channel, the result over HTTP.
        assert a.ok("heartbeat_activity_task", {"task_token": token, "details": "half"}) == {"cancel_requested": False}
        r = post(http, "/activity-tasks/complete", {"task_token": token, "result": "real"})
        assert r.status_code == 200, r.text
        events = snapshot(http, "wf-act")[0]
        results = [e["attributes"]["result"] for e in events if e["event_type"] == "ActivityTaskCompleted"]
        assert results == ["real"]
        # Once used, it is stale.
        refused(post(http, "/activity-tasks/complete", {"task_token": token, "result": "again"}), 404, "task_not_found")


def test_a_token_is_only_good_on_its_own_namespace(server: ServerProcess) -> None:
    tq = f"tok-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post(API, json={"name": "other"}).status_code in (200, 201)
        with channel(server, tq) as a, channel(server, tq, namespace="other") as intruder:
            start(http, "wf-ns", tq)
            wt = a.ok("poll_workflow_task", {"timeout": 10})
            before = snapshot(http, "wf-ns")
            complete = {"task_token": wt["task_token"], "commands": [{"type": "CompleteWorkflow", "result": "evil"}]}
            # On the other namespace's path, and on a worker channel of the other namespace.
            refused(post(http, "/workflow-tasks/complete", complete, namespace="other"), 404, "task_not_found")
            intruder.refused("complete_workflow_task", complete, 404, "task_not_found")
            failure = {"task_token": wt["task_token"], "cause": "WORKFLOW_CODE_ERROR", "failure": {"message": "x"}}
            refused(post(http, "/workflow-tasks/fail", failure, namespace="other"), 404, "task_not_found")
            assert snapshot(http, "wf-ns") == before

            schedule_activity(a, wt)
            act = a.ok("poll_activity_task", {"timeout": 10})
            before = snapshot(http, "wf-ns")
            body = {"task_token": act["task_token"], "result": "evil"}
            refused(post(http, "/activity-tasks/complete", body, namespace="other"), 404, "task_not_found")
            refused(
                post(
                    http,
                    "/activity-tasks/heartbeat",
                    {"task_token": act["task_token"], "details": 1},
                    namespace="other",
                ),
                404,
                "task_not_found",
            )
            intruder.refused("complete_activity_task", body, 404, "task_not_found")
            assert snapshot(http, "wf-ns") == before
            # On its own namespace it is good.
            assert a.ok("complete_activity_task", {"task_token": act["task_token"], "result": "real"})["accepted"]


# --- workflow tasks -----------------------------------------------------------------------------------


def test_a_forged_workflow_task_token_cannot_complete_another_workflow(server: ServerProcess) -> None:
    tq = f"tok-{uuid.uuid4().hex[:6]}"
    evil = [{"type": "CompleteWorkflow", "result": "attacker's choice"}]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        run_id = start(http, "victim-1", tq)
        before = snapshot(http, "victim-1")
        assert before[1]["pending_workflow_task"]["state"] == "SCHEDULED"
        # No worker has polled the task: its Started event would be event 3, attempt 1.
        for forged in (old_token("w", run_id, 1, 3), made_up_token("w", run_id, 1, 3, "0123456789abcdef-1")):
            message = refused(
                post(http, "/workflow-tasks/complete", {"task_token": forged, "commands": evil}), 404, "task_not_found"
            )
            assert "not issued by this server" in message
        assert snapshot(http, "victim-1") == before

        with channel(server, tq) as a, channel(server, f"{tq}-other") as b:
            task = a.ok("poll_workflow_task", {"timeout": 10})
            assert task["run_id"] == run_id
            before = snapshot(http, "victim-1")
            assert before[1]["pending_workflow_task"]["state"] == "STARTED"
            # While worker A holds it: forged tokens over HTTP and from another session, then A's real
            # token from that other session.
            for forged in (old_token("w", run_id, 1, 3), made_up_token("w", run_id, 1, 3, a.session_id)):
                body = {"task_token": forged, "commands": evil}
                refused(post(http, "/workflow-tasks/complete", body), 404, "task_not_found")
                b.refused("complete_workflow_task", body, 404, "task_not_found")
            stolen = {"task_token": task["task_token"], "commands": evil}
            assert "another worker" in b.refused("complete_workflow_task", stolen, 403, "forbidden")
            fail = {"task_token": task["task_token"], "cause": "WORKFLOW_CODE_ERROR", "failure": {"message": "x"}}
            b.refused("fail_workflow_task", fail, 403, "forbidden")
            for bad in tampered(task["task_token"]):
                a.refused("complete_workflow_task", {"task_token": bad, "commands": evil}, 404, "task_not_found")
            assert snapshot(http, "victim-1") == before

            # The workflow completes with its real result, from the worker that holds the task.
            real = [{"type": "CompleteWorkflow", "result": "the real result"}]
            assert a.ok("complete_workflow_task", {"task_token": task["task_token"], "commands": real})["accepted"]
        result = http.get(f"{API}/default/workflows/result", params={"workflow_id": "victim-1", "wait": 10}).json()
        assert (result["status"], result["result"]) == ("COMPLETED", "the real result")


def test_a_workflow_task_handed_to_another_session_refuses_the_old_token(server: ServerProcess) -> None:
    """A session that loses a task (it left; the task went to another worker) can no longer report on it."""
    tq = f"tok-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        start(http, "handed-on", tq)
        with channel(server, tq) as a:
            old = a.ok("poll_workflow_task", {"timeout": 10})
        # A left (its session ended); the same attempt of the task goes to B.
        with channel(server, tq) as b:
            task = b.ok("poll_workflow_task", {"timeout": 10})
            assert task["attempt"] == old["attempt"] and task["started_event_id"] == old["started_event_id"]
            assert task["task_token"] != old["task_token"]
            before = snapshot(http, "handed-on")
            body = {"task_token": old["task_token"], "commands": [{"type": "CompleteWorkflow", "result": "late"}]}
            message = refused(post(http, "/workflow-tasks/complete", body), 404, "task_not_found")
            assert "handed to another worker" in message
            b.refused("complete_workflow_task", body, 404, "task_not_found")
            assert snapshot(http, "handed-on") == before
            done = {"task_token": task["task_token"], "commands": [{"type": "CompleteWorkflow", "result": "b"}]}
            assert b.ok("complete_workflow_task", done)["accepted"]


# --- the key survives a restart -----------------------------------------------------------------------


def test_tokens_handed_out_before_a_restart_are_good_after_it(tmp_path: Path) -> None:
    """The signing key is kept in the store: a worker that got a task before the server was SIGKILLed
    reports it after the restart, on a new session or over HTTP, while the task is still current;
    and the key appears in no answer and no log."""
    db = tmp_path / "keys.db"
    server = ServerProcess(db).start()
    tq = f"tok-{uuid.uuid4().hex[:6]}"
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            r = post(
                http, "/workers", {"identity": "http-worker", "task_queue": tq, "workflow_types": [{"name": "victim"}]}
            )
            session = r.json()["session_id"]
            start(http, "survivor", tq)
            wt = post(http, "/workflow-tasks/poll", {"session_id": session, "timeout": 10}).json()

            server.restart()  # SIGKILL, then the same file and port

            # The HTTP worker's session is gone with the old process; its report still counts.
            schedule = {
                "type": "ScheduleActivity",
                "activity_id": "a1",
                "activity_type": "act",
                "input": 1,
                "start_to_close_timeout": 120,
            }
            body = {"task_token": wt["task_token"], "sticky": False, "commands": [schedule]}
            r = post(http, "/workflow-tasks/complete", body)
            assert r.status_code == 200, r.text

            # A worker takes the activity on its channel; the server is killed while it runs.
            with channel(server, tq) as b:
                act = b.ok("poll_activity_task", {"timeout": 10})
                server.restart()
            with channel(server, tq) as c:
                # The worker reconnected with a new session C and reports the attempt it got before.
                c.ok("heartbeat_activity_task", {"task_token": act["task_token"], "details": "still going"})
                assert c.ok("complete_activity_task", {"task_token": act["task_token"], "result": "kept"})["accepted"]
                wt = c.ok("poll_workflow_task", {"timeout": 10})
                done = {"task_token": wt["task_token"], "commands": [{"type": "CompleteWorkflow", "result": "done"}]}
                assert c.ok("complete_workflow_task", done)["accepted"]
            result = http.get(f"{API}/default/workflows/result", params={"workflow_id": "survivor", "wait": 10}).json()
            assert (result["status"], result["result"]) == ("COMPLETED", "done")
            events = http.get(f"{API}/default/workflows/history", params={"workflow_id": "survivor"}).json()["events"]
            assert [e["attributes"]["result"] for e in events if e["event_type"] == "ActivityTaskCompleted"] == ["kept"]
            answers = json.dumps([wt, act, events])
    finally:
        server.stop()
    conn = sqlite3.connect(db)
    keys = conn.execute("SELECT name, key FROM server_keys").fetchall()
    conn.close()
    assert [name for name, _ in keys] == ["task_tokens"]
    key = bytes(keys[0][1])
    assert len(key) == 32
    log = server.log()
    for form in (key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
        assert form not in log and form not in answers
