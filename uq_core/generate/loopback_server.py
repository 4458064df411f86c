"""A real HTTP server speaking the OpenAI chat-completions protocol, on 127.0.0.1, with fault injection.

It serves the bundled SmolLM2 model (through ``uq_core.generate.local.LocalBackend``) so that the
OpenAI back end can be tested end to end without the internet, and it can misbehave on request:

- faults, consumed one per chat-completions request from a queue (``POST /_faults {"queue": [...]}``
  or ``server.set_faults([...])``), or served on every request (``{"always": "500"}``):
  ``"429"`` / ``"429:S"`` (Retry-After: S seconds, default 1), ``"503"`` / ``"503:S"``, ``"500"``,
  ``"hang"`` / ``"hang:S"`` (sleep S seconds, default 5, then close without answering), ``"malformed"`` (200 with a
  truncated JSON body), ``"drop"`` (close the connection without an answer), ``"401"``.
  A request header ``X-Fault: <fault>`` serves that fault on that request (set it on a client with
  ``default_headers`` to make every request fail).
- modes: ``refuse_logprobs`` (400 when logprobs are asked for), ``ignore_n`` (one choice whatever ``n``),
  ``reject_n`` (400 when n > 1), ``api_key`` (401 unless ``Authorization: Bearer <api_key>``; the
  refusal echoes the key it received, as a careless server might, so clients must scrub it).

Run by hand: ``python -m uq_core.generate.loopback_server --port 8011`` then point a client at
``http://127.0.0.1:8011/v1``.
"""
from __future__ import annotations

import argparse
import collections
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class ChatParams:
    """The generation parameters of one chat-completions request, as the responder sees them."""
    messages: list[dict[str, str]]
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    top_logprobs: int = 0        # alternatives per token; 0 with logprobs=True means chosen token only
    logprobs: bool = False


@dataclass
class Choice:
    """One generated reply with per-token detail (tokens, chosen log-probs, top alternatives)."""
    text: str
    tokens: list[str]
    logprobs: list[float]
    top: list[list[tuple[str, float]]]   # per token: (token, logprob), descending
    finish_reason: str                   # 'stop' | 'length'


Responder = Callable[[ChatParams], list[Choice]]


class LoopbackServer(ThreadingHTTPServer):
    """ThreadingHTTPServer holding the responder, the modes, the fault queue and a request log."""
    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, responder: Responder, model_name: str, modes: dict):
        super().__init__(addr, _Handler)
        self.responder = responder
        self.model_name = model_name
        self.modes = modes
        self.lock = threading.Lock()
        self.faults: collections.deque[str] = collections.deque()
        self.always_fault: str | None = None
        self.requests: list[dict] = []   # chat-completions bodies received (after faults), in order
        self.hits = 0                    # chat-completions requests received, faults included
        self.hit_times: list[float] = []  # time.monotonic() of each of those arrivals
        self.in_flight = 0
        self.max_in_flight = 0           # most chat-completions requests being handled at once

    def handle_error(self, request, client_address):
        """Quiet about clients that went away (after a hang or a drop); loud about anything else."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def set_faults(self, queue: list[str] | None = None, always: str | None = None) -> None:
        """Replace the fault queue (consumed one per request) and the persistent fault."""
        for f in list(queue or []) + ([always] if always else []):
            _check_fault(f)
        with self.lock:
            self.faults = collections.deque(queue or [])
            self.always_fault = always

    def arrive(self) -> None:
        with self.lock:
            self.hits += 1
            self.hit_times.append(time.monotonic())

    def next_fault(self) -> str | None:
        with self.lock:
            if self.faults:
                return self.faults.popleft()
            return self.always_fault


_FAULTS = {"429", "503", "500", "hang", "malformed", "drop", "401"}


def _check_fault(fault: str) -> None:
    kind, _, arg = fault.partition(":")
    if kind not in _FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {sorted(_FAULTS)} (optionally 'kind:seconds')")
    if arg:
        float(arg)


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep the test output quiet
        pass

    # -- helpers ---------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: dict, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers)

    def _read_body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as e:
            self._error(400, f"request body is not JSON: {e}", "invalid_request_error")
            return None
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object", "invalid_request_error")
            return None
        return body

    # -- routes ----------------------------------------------------------------------------------
    def do_GET(self):  # noqa: N802
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": self.server.model_name, "object": "model", "created": 0, "owned_by": "loopback"}]})
        else:
            self._error(404, f"no route GET {self.path}", "not_found")

    def do_POST(self):  # noqa: N802
        body = self._read_body()
        if body is None:
            return
        if self.path.rstrip("/") == "/_faults":
            try:
                self.server.set_faults(body.get("queue"), body.get("always"))
            except ValueError as e:
                self._error(400, str(e), "invalid_request_error")
                return
            self._json(200, {"queue": list(self.server.faults), "always": self.server.always_fault})
        elif self.path.rstrip("/") == "/v1/chat/completions":
            srv = self.server
            with srv.lock:
                srv.in_flight += 1
                srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            try:
                self._chat(body)
            finally:
                with srv.lock:
                    srv.in_flight -= 1
        else:
            self._error(404, f"no route POST {self.path}", "not_found")

    def _chat(self, body: dict) -> None:
        srv = self.server
        srv.arrive()
        key = srv.modes.get("api_key")
        got = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if key is not None and got != key:
            self._error(401, f"Incorrect API key provided: {got}.", "invalid_request_error")
            return
        fault = self.headers.get("X-Fault") or srv.next_fault()
        if fault:
            try:
                _check_fault(fault)
            except ValueError as e:
                self._error(400, str(e), "invalid_request_error")
                return
            self._fault(fault)
            return
        try:
            params = _parse_params(body)
        except ValueError as e:
            self._error(400, str(e), "invalid_request_error")
            return
        if params.logprobs and srv.modes.get("refuse_logprobs"):
            self._error(400, "logprobs are not supported by this server", "invalid_request_error")
            return
        if params.n > 1 and srv.modes.get("reject_n"):
            self._error(400, "n > 1 is not supported by this server", "invalid_request_error")
            return
        if srv.modes.get("ignore_n"):
            params.n = 1
        with srv.lock:
            srv.requests.append(body)
        try:
            choices = srv.responder(params)
        except Exception as e:  # noqa: BLE001 - a broken responder is the server's 500
            self._error(500, f"responder failed: {type(e).__name__}: {e}", "server_error")
            return
        self._json(200, _response(body.get("model", srv.model_name), params, choices))

    def _fault(self, fault: str) -> None:
        """Serve a fault instead of an answer."""
        kind, _, arg = fault.partition(":")
        if kind in ("429", "503"):
            self._error(int(kind), f"injected fault {kind}", "rate_limit_error" if kind == "429" else "server_error",
                        {"Retry-After": arg or "1"})
        elif kind == "500":
            self._error(500, "injected fault 500", "server_error")
        elif kind == "401":
            self._error(401, "injected fault 401", "invalid_request_error")
        elif kind == "malformed":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "message": {"role": "assist')
        elif kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif kind == "hang":
            time.sleep(float(arg or 5))   # past the client's timeout; then close without an answer
            self.close_connection = True


def _parse_params(body: dict) -> ChatParams:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) and "content" in m for m in msgs):
        raise ValueError("'messages' must be a non-empty list of {role, content} objects")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else list(stop)
    n = int(body.get("n") or 1)
    if not 1 <= n <= 128:
        raise ValueError(f"'n' must be between 1 and 128, got {n}")
    top = int(body.get("top_logprobs") or 0)
    if not 0 <= top <= 20:
        raise ValueError(f"'top_logprobs' must be between 0 and 20, got {top}")
    if top and not body.get("logprobs"):
        raise ValueError("'top_logprobs' requires 'logprobs' to be true")
    temp = body.get("temperature")
    return ChatParams(
        messages=[{"role": str(m.get("role", "user")), "content": str(m["content"])} for m in msgs],
        n=n, temperature=1.0 if temp is None else float(temp),
        top_p=float(body.get("top_p") if body.get("top_p") is not None else 1.0),
        max_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 16),
        stop=stop, seed=None if body.get("seed") is None else int(body["seed"]),
        top_logprobs=top, logprobs=bool(body.get("logprobs")))


def _response(model: str, params: ChatParams, choices: list[Choice]) -> dict:
    out = []
    for i, c in enumerate(choices):
        entry = {"index": i, "message": {"role": "assistant", "content": c.text},
                 "finish_reason": c.finish_reason, "logprobs": None}
        if params.logprobs:
            entry["logprobs"] = {"content": [
                {"token": tok, "logprob": lp, "bytes": list(tok.encode()),
                 "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())}
                                  for t, v in alts[:params.top_logprobs]]}
                for tok, lp, alts in zip(c.tokens, c.logprobs, c.top)]}
        out.append(entry)
    n_out = sum(len(c.tokens) for c in choices)
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": out,
            "usage": {"prompt_tokens": 0, "completion_tokens": n_out, "total_tokens": n_out}}


def start_server(responder: Responder | None = None, port: int = 0, model_name: str = "smollm2-135m",
                 **modes) -> tuple[LoopbackServer, str]:
    """Start the server in a daemon thread on 127.0.0.1.

    Parameters
    ----------
    responder : callable ChatParams -> list[Choice], optional
        Default: the bundled SmolLM2 model on CPU (loaded once per process).
    port : int
        0 picks a free port.
    **modes
        refuse_logprobs, ignore_n, reject_n (bool); api_key (str).

    Returns
    -------
    (server, base_url) with base_url like ``http://127.0.0.1:PORT/v1``.
    """
    unknown = set(modes) - {"refuse_logprobs", "ignore_n", "reject_n", "api_key"}
    if unknown:
        raise ValueError(f"unknown server modes {sorted(unknown)}")
    if responder is None:
        from .loopback_model import model_responder
        responder = model_responder()
    server = LoopbackServer(("127.0.0.1", port), responder, model_name, dict(modes))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def stop_server(server: LoopbackServer) -> None:
    """Stop serving and close the socket (threads still hanging on a fault are daemons)."""
    server.shutdown()
    server.server_close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="OpenAI-compatible loopback server for the bundled SmolLM2 model")
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--refuse-logprobs", action="store_true")
    ap.add_argument("--ignore-n", action="store_true")
    ap.add_argument("--reject-n", action="store_true")
    ap.add_argument("--api-key", default=None, help="require this key (testing only)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    a = ap.parse_args(argv)
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    modes = {k: v for k, v in {"refuse_logprobs": a.refuse_logprobs, "ignore_n": a.ignore_n,
                               "reject_n": a.reject_n, "api_key": a.api_key}.items() if v}
    server, url = start_server(port=a.port, **modes)
    print(f"serving {server.model_name} at {url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop_server(server)


if __name__ == "__main__":
    from uq_core.generate.loopback_server import main as _main   # one copy of this module's classes
    _main()
