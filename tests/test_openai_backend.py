"""OpenAIBackend against the real loopback server serving the bundled SmolLM2 model, with injected faults."""
from __future__ import annotations

import json
import logging
import math
import socket
import traceback
import urllib.error
import urllib.request

import pytest

from uq_core.generate.base import BackendError, GenRequest
from uq_core.generate.loopback_server import start_server, stop_server
from uq_core.generate.openai_compat import HIDDEN_REASON, OpenAIBackend

KEY = "sk-test-PLANTED-1234567890"
Q = [{"role": "user", "content": "What is the capital of France?"}]
Q2 = [{"role": "user", "content": "Name a primary colour."}]
YESNO = [{"role": "user", "content": "Is Paris the capital of France? Answer True or False."}]


@pytest.fixture(scope="module")
def responder():
    """The real model behind the server, loaded once; one torch thread (the CPUs here are shared)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    from uq_core.generate.loopback_model import model_responder
    yield model_responder()
    torch.set_num_threads(threads)


@pytest.fixture
def serve(responder):
    """Factory: start a loopback server with modes; all are stopped after the test."""
    started = []

    def _start(**modes):
        server, url = start_server(responder, **modes)
        started.append(server)
        return server, url
    yield _start
    for s in started:
        stop_server(s)


def backend(url, **kw):
    kw = {"api_key": KEY, "backoff_s": 0.01, "timeout_s": 20.0, "max_retries": 3, **kw}
    return OpenAIBackend("smollm2-135m", base_url=url, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_no_key(*texts):
    for t in texts:
        assert KEY not in str(t)


# -- real answers ----------------------------------------------------------------------------------
def test_generate_matches_local_backend_and_keeps_order(serve, responder):
    server, url = serve()
    b = backend(url, concurrency=2)
    reqs = [GenRequest("q1", Q, n_samples=3, max_new_tokens=4, seed=7),
            GenRequest("q2", Q2, n_samples=3, max_new_tokens=4, seed=7)]
    out = b.generate(reqs)
    assert [r.question_id for r in out] == ["q1", "q2"]
    local = responder.backend.generate([GenRequest("q1", Q, n_samples=0, max_new_tokens=4),
                                        GenRequest("q2", Q2, n_samples=0, max_new_tokens=4)])
    for r, lr in zip(out, local):
        assert r.greedy.text == lr.greedy.text                  # same model, same greedy answer
        assert r.greedy.token_logprobs == pytest.approx(lr.greedy.token_logprobs, abs=1e-3)
        assert len(r.samples) == 3
        for g in [r.greedy, *r.samples]:
            assert g.n_tokens == len(g.token_logprobs) == len(g.top_logprobs) > 0
            for lp, top in zip(g.token_logprobs, g.top_logprobs):
                assert len(top) == 5 and top == sorted(top, reverse=True)
                assert lp <= top[0] + 1e-6 and lp < 0
    assert server.max_in_flight == 2                            # bounded by concurrency=2, and used
    bodies = server.requests
    assert len(bodies) == 4                                     # one greedy + one n=3 call per question
    assert sorted(b_.get("n", 1) for b_ in bodies) == [1, 1, 3, 3]
    greedy_bodies = [x for x in bodies if x["temperature"] == 0]
    assert all(x["stop"] == ["\n"] and x["logprobs"] and x["top_logprobs"] == 5 and x["max_tokens"] == 4
               for x in bodies) and len(greedy_bodies) == 2
    assert b.capabilities.logprobs and b.capabilities.top_logprobs and not b.capabilities.hidden_states
    assert b.capabilities.reason == HIDDEN_REASON and b.layers == [] and b.sample_layer is None


def test_stop_at_newline(serve):
    _, url = serve()
    b = backend(url)
    fruits = [{"role": "user", "content": "List three fruits, one per line."}]
    cut, full = b.generate([GenRequest("a", fruits, n_samples=0, max_new_tokens=8, stop_newline=True),
                            GenRequest("b", fruits, n_samples=0, max_new_tokens=8, stop_newline=False)])
    assert "\n" in full.greedy.text and full.greedy.finish_reason == "length"
    assert cut.greedy.text == full.greedy.text.split("\n")[0] and cut.greedy.finish_reason == "stop"
    assert cut.greedy.n_tokens < full.greedy.n_tokens       # tokens reaching into the stop are not reported


def test_sampling_is_seeded(serve):
    _, url = serve()
    b = backend(url)
    a1 = b.generate([GenRequest("q", Q, n_samples=3, max_new_tokens=4, seed=1, greedy=False)])[0]
    a2 = b.generate([GenRequest("q", Q, n_samples=3, max_new_tokens=4, seed=1, greedy=False)])[0]
    assert a1.greedy is None
    assert [s.text for s in a1.samples] == [s.text for s in a2.samples]
    assert [s.token_logprobs for s in a1.samples] == [s.token_logprobs for s in a2.samples]


def test_option_probs_and_complete(serve, responder):
    _, url = serve()
    b = backend(url)
    p = b.option_probs(YESNO, ["True", "False"])
    assert set(p) == {"True", "False"} and math.isclose(sum(p.values()), 1.0)
    local = responder.backend.option_probs(YESNO, ["True", "False"])
    assert p["True"] == pytest.approx(local["True"], abs=0.05)   # same model; API matches case-insensitively
    text = b.complete(Q, max_new_tokens=4)
    assert text == responder.backend.complete(Q, max_new_tokens=4)
    with pytest.raises(ValueError, match="options"):
        b.option_probs(YESNO, [])


# -- fallbacks -------------------------------------------------------------------------------------
def test_server_refusing_logprobs_marks_capabilities(serve):
    server, url = serve(refuse_logprobs=True)
    b = backend(url)
    r = b.generate([GenRequest("q", Q, n_samples=2, max_new_tokens=3)])[0]
    assert r.greedy.text and len(r.samples) == 2
    for g in [r.greedy, *r.samples]:
        assert g.token_logprobs == [] and g.top_logprobs == []   # empty, never zeros
    cap = b.capabilities
    assert not cap.logprobs and not cap.top_logprobs
    assert "logprobs are not supported by this server" in cap.reason and HIDDEN_REASON in cap.reason
    assert b.option_probs(YESNO, ["True", "False"]) is None
    assert not any(x.get("logprobs") for x in server.requests)   # refused requests are not logged as served
    assert b.describe()["logprobs"] is False


@pytest.mark.parametrize("mode", ["ignore_n", "reject_n"])
def test_server_without_n_gets_separate_seeded_calls(serve, mode):
    server, url = serve(**{mode: True})
    b = backend(url)
    r = b.generate([GenRequest("q", Q, n_samples=3, max_new_tokens=3, seed=10, greedy=False)])[0]
    assert len(r.samples) == 3 and all(s.token_logprobs for s in r.samples)
    assert b.capabilities.logprobs                               # n was the problem, not logprobs
    assert any("n > 1 not used" in n for n in b.notes) and b.describe()["n_per_call"] is False
    assert sorted(x["seed"] for x in server.requests) == [10, 11, 12]   # one served call per sample


# -- faults: retried, then success or a clear error --------------------------------------------------
@pytest.mark.parametrize("fault", ["429:0", "503:0", "500", "malformed", "drop"])
def test_transient_fault_is_retried_then_succeeds(serve, fault):
    server, url = serve()
    b = backend(url, max_retries=3)
    server.set_faults([fault, fault])
    assert b.complete(Q, max_new_tokens=1)
    assert server.hits == 3


def test_hang_past_timeout_is_retried_then_succeeds(serve):
    server, url = serve()
    b = backend(url, timeout_s=3.0, max_retries=2)   # 3 s: room for a real answer on a busy CPU
    server.set_faults(["hang:4"])
    assert b.complete(Q, max_new_tokens=1)
    assert server.hits == 2 and server.hit_times[1] - server.hit_times[0] >= 3.0


@pytest.mark.parametrize("fault", ["429:0", "500", "malformed", "hang:3"])
def test_persistent_fault_ends_in_clear_error(serve, fault, caplog):
    caplog.set_level(logging.DEBUG)
    server, url = serve()
    b = backend(url, timeout_s=1.0, max_retries=2)
    server.set_faults(always=fault)
    with pytest.raises(BackendError) as ei:
        b.generate([GenRequest("q7", Q, n_samples=2, max_new_tokens=2)])
    msg = str(ei.value)
    assert "gave up on greedy answer for q7 after 2 retries" in msg and url in msg
    expected = {"429": "HTTP 429", "500": "HTTP 500", "malformed": "malformed response",
                "hang": "no answer within the 1 s timeout"}[fault.split(":")[0]]
    assert expected in msg
    assert server.hits == 3
    assert ei.value.__cause__ is None and ei.value.__context__ is None
    assert_no_key(msg, caplog.text, "".join(traceback.format_exception(ei.value)))


def test_fault_by_header_and_a_401_not_retried(serve):
    server, url = serve()
    b = backend(url, max_retries=1, default_headers={"X-Fault": "503:0"})
    with pytest.raises(BackendError, match=r"gave up on completion after 1 retries; last error: HTTP 503"):
        b.complete(Q)
    assert server.hits == 2
    b = backend(url, default_headers={"X-Fault": "401"})
    with pytest.raises(BackendError, match=r"refused the API key \(401"):
        b.complete(Q)
    assert server.hits == 3                       # not retried


def test_results_before_a_failure_are_handed_over(serve):
    server, url = serve()
    b = backend(url, concurrency=1, max_retries=1)
    saved = []

    def on_batch(ids, results):
        saved.extend(ids)
        server.set_faults(always="500")          # the server breaks after the first question
    with pytest.raises(BackendError, match="HTTP 500"):
        b.generate([GenRequest(q, Q, n_samples=2, max_new_tokens=2) for q in ("q1", "q2", "q3")],
                   on_batch=on_batch)
    assert saved == ["q1"]


def test_retry_after_is_honoured(serve):
    server, url = serve()
    b = backend(url, backoff_s=0.01)
    server.set_faults(["500", "429:1"])          # 500: retried after 0.01 s; 429: after Retry-After 1 s
    b.complete(Q, max_new_tokens=1)
    t = server.hit_times
    assert len(t) == 3
    assert t[1] - t[0] < 0.5                      # measured on the server: arrival to arrival
    assert t[2] - t[1] >= 1.0


def test_connection_refused_is_retried_then_reported():
    url = f"http://127.0.0.1:{free_port()}/v1"
    b = backend(url, max_retries=2)
    with pytest.raises(BackendError, match=r"gave up on completion after 2 retries; last error: connection failed"):
        b.complete(Q)


def test_bad_key_is_not_retried_and_never_shown(serve, caplog):
    caplog.set_level(logging.DEBUG)
    server, url = serve(api_key="sk-the-right-one")
    b = backend(url)
    with pytest.raises(BackendError) as ei:
        b.complete(Q)
    msg = str(ei.value)
    assert "refused the API key (401" in msg and "not retried" in msg
    assert "[API key hidden]" in msg            # the server echoed the key; it was scrubbed
    assert server.hits == 1
    assert_no_key(msg, repr(b), str(b), json.dumps(b.describe()), caplog.text,
                  "".join(traceback.format_exception(ei.value)), repr(vars(b)))


def test_key_and_url_from_environment(serve, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    server, url = serve(api_key=KEY)             # the server only answers with the planted key
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    b = OpenAIBackend("smollm2-135m", backoff_s=0.01)
    server.set_faults(["500", "malformed"])
    r = b.generate([GenRequest("q", Q, n_samples=2, max_new_tokens=2)])[0]
    assert r.greedy.text and len(r.samples) == 2
    d = b.describe()
    assert d["base_url"] == url and d["model"] == "smollm2-135m"
    assert_no_key(repr(b), str(b), json.dumps(d), caplog.text, repr(vars(b)), repr(b.capabilities), b.notes)
    with pytest.raises(TypeError, match="not picklable"):
        import pickle
        pickle.dumps(b)


def test_bad_arguments():
    with pytest.raises(ValueError, match="model"):
        OpenAIBackend("", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="concurrency"):
        OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", concurrency=0)


def test_server_control_endpoints(serve):
    server, url = serve()
    with urllib.request.urlopen(f"{url}/models") as r:
        assert json.load(r)["data"][0]["id"] == "smollm2-135m"
    req = urllib.request.Request(url.removesuffix("/v1") + "/_faults", data=json.dumps({"queue": ["500"]}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        assert json.load(r)["queue"] == ["500"]
    bad = urllib.request.Request(req.full_url, data=b'{"queue": ["nope"]}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(bad)
    assert ei.value.code == 400 and "unknown fault" in ei.value.read().decode()
    assert backend(url).complete(Q, max_new_tokens=1)   # the queued 500 is retried
    assert server.hits == 2
