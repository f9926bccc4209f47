"""Just enough of Jupyter's REST and kernel protocol to prove a kernel runs code through the tunnel."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any

import websocket  # websocket-client


def request(port: int, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw and resp.headers.get_content_type() == "application/json" else raw
    finally:
        conn.close()


def execute(port: int, token: str, code: str, timeout: float = 60) -> str:
    """Start a kernel, run `code`, return its text/plain result (or stream output), stop the kernel."""
    kernel_id = start_kernel(port, token)
    try:
        return run_in(port, token, kernel_id, code, timeout)
    finally:
        request(port, "DELETE", f"/api/kernels/{kernel_id}", token)


def start_kernel(port: int, token: str) -> str:
    status, kernel = request(port, "POST", "/api/kernels", token, {})
    assert status == 201, (status, kernel)
    return str(kernel["id"])


def run_in(port: int, token: str, kernel_id: str, code: str, timeout: float = 60) -> str:
    """Run `code` in an existing kernel; its text/plain result, stream output or error."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels",
        header=[f"Authorization: token {token}"],
        timeout=timeout,
    )
    try:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "t",
                        "session": uuid.uuid4().hex,
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        return _collect(ws, msg_id, time.monotonic() + timeout)
    finally:
        ws.close()


def _collect(ws: websocket.WebSocket, msg_id: str, deadline: float) -> str:
    result, replied, idle = "", False, False
    while not (replied and idle):  # the idle status can come before the reply
        if time.monotonic() > deadline:
            raise TimeoutError("no execute_reply from the kernel")
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "execute_result":
            result = msg["content"]["data"]["text/plain"]
        elif kind == "stream":
            result += msg["content"]["text"]
        elif kind == "error":
            result = "error: " + msg["content"]["ename"] + ": " + msg["content"]["evalue"]
        elif kind == "execute_reply":
            replied = True
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    return result
