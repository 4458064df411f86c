"""Back end for any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp, the loopback server).

Per question: one greedy call (temperature 0) and one sampled call with ``n`` = n_samples, both asking for
``logprobs`` with ``top_logprobs=5``. What the server refuses is dropped once and remembered: without
logprobs the capabilities say so (with the server's reason) and GenText log-prob lists stay empty; without
``n`` the samples come from separate calls with seeds seed, seed+1, ...

Retries are done here (the client's own are off): 429 / 5xx / timeouts / connection errors / malformed
JSON are retried with exponential backoff, honouring ``Retry-After`` (seconds); 400/401/403/404 are not.
The API key lives only inside the HTTP client: it is never in repr, describe(), log lines or error text
(any error text from the server is scrubbed of it).
"""
from __future__ import annotations

import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .base import BackendError, Capabilities, GenRequest, GenResult, GenText
from .openai_http import ChatTransport, Refused

log = logging.getLogger(__name__)

HIDDEN_REASON = "hidden states are not available over an API; geometry views use answer embeddings"
TOP_K = 5
OPTION_TOP_K = 20


class OpenAIBackend:
    """Generation over an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Parameters
    ----------
    model : str
        Model name sent to the server.
    base_url : str, optional
        e.g. ``http://127.0.0.1:8000/v1``; default ``$OPENAI_BASE_URL``, else the OpenAI API.
    api_key : str, optional
        Default ``$OPENAI_API_KEY``; servers without keys get a placeholder.
    concurrency : int
        Questions in flight at once (>= 1).
    max_retries : int
        Retries per call after the first attempt (>= 0).
    timeout_s : float
        Per-request timeout.
    backoff_s : float
        First backoff; doubled per retry (Retry-After wins when longer).
    default_headers : dict, optional
        Extra HTTP headers on every request.
    """

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, concurrency: int = 4,
                 max_retries: int = 5, timeout_s: float = 30.0, backoff_s: float = 0.5, sample_layer=None,
                 default_headers: dict[str, str] | None = None):
        if not model or not isinstance(model, str):
            raise ValueError("model must be a non-empty model name, e.g. 'gpt-4o-mini'")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError(f"need concurrency >= 1, max_retries >= 0, timeout_s > 0, backoff_s >= 0; got "
                             f"{concurrency}, {max_retries}, {timeout_s}, {backoff_s}")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.name = f"openai:{model}"
        self.concurrency = int(concurrency)
        self._http = ChatTransport(self.name, model, self.base_url, api_key or os.environ.get("OPENAI_API_KEY")
                                   or "no-key", max_retries, timeout_s, backoff_s, default_headers)
        self.layers: list[int] = []
        self.sample_layer = None   # no hidden states over an API, whatever was asked
        self.capabilities = Capabilities(logprobs=True, top_logprobs=True, hidden_states=False, reason=HIDDEN_REASON)
        self._lock = threading.Lock()
        self._use_logprobs = True
        self._use_n = True
        self._use_seed = True
        self.notes: list[str] = []   # what was dropped and why (manifest)

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    __str__ = __repr__

    def __getstate__(self):
        raise TypeError("OpenAIBackend holds an API key and is not picklable")

    def describe(self) -> dict:
        """Settings for the run manifest (never the key)."""
        return {"backend": "openai", "model": self.model, "base_url": self._http.scrub(self.base_url),
                "concurrency": self.concurrency, "max_retries": self._http.max_retries,
                "timeout_s": self._http.timeout_s, "backoff_s": self._http.backoff_s,
                "logprobs": self.capabilities.logprobs, "top_logprobs": self.capabilities.top_logprobs,
                "n_per_call": self._use_n, "seed_sent": self._use_seed, "reason": self.capabilities.reason,
                "notes": list(self.notes)}

    # -- public API --------------------------------------------------------------------------------
    def generate(self, requests: list[GenRequest], on_batch=None) -> list[GenResult]:
        """Greedy + n sampled answers per request; ``concurrency`` requests at once; results in order.

        ``on_batch(question_ids, results)`` is called in request order as results arrive (one question per
        call), so a caller can save them before a later failure raises BackendError.
        """
        if not requests:
            return []
        results, error = [], None
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            futures = [pool.submit(self._generate_one, r) for r in requests]
            for f in futures:
                try:
                    res = f.result()
                except BackendError as e:
                    error = str(e)
                    break
                results.append(res)
                if on_batch is not None:
                    on_batch([res.question_id], [res])
            if error is not None:
                for f in futures:
                    f.cancel()
        if error is not None:
            raise BackendError(error)   # raised outside the handler: no chained exception carries server text
        return results

    def option_probs(self, messages: list[dict[str, str]], options: list[str]) -> dict[str, float] | None:
        """Next-token probability of each option, renormalised over the options; None without logprobs.

        Token strings match an option when equal after stripping spaces, ignoring case ("True" = " true").
        None also when no option appears among the top 20 next tokens.
        """
        if not options:
            raise ValueError("options must be a non-empty list of strings")
        if not self._use_logprobs:
            return None
        params = {"messages": messages, "temperature": 0.0, "max_tokens": 1, "logprobs": True,
                  "top_logprobs": OPTION_TOP_K}
        data = self._call_degrading(params, "option probabilities")
        lp = (data["choices"][0].get("logprobs") or {}).get("content")
        if lp is None:
            self._mark_no_logprobs("the server returned no log-probabilities")
            return None
        if not lp:          # the model stopped at once: no next-token distribution reported
            return None
        if not lp[0].get("top_logprobs"):
            self._mark_no_logprobs("the server returned log-probs without top alternatives", top_only=True)
            return None
        mass = {o: 0.0 for o in options}
        keys = {o.strip().lower(): o for o in options}
        for alt in lp[0]["top_logprobs"]:
            o = keys.get(str(alt.get("token", "")).strip().lower())
            if o is not None:
                mass[o] += math.exp(float(alt["logprob"]))
        total = sum(mass.values())
        return {o: v / total for o, v in mass.items()} if total > 0 else None

    def complete(self, messages: list[dict[str, str]], max_new_tokens: int = 16) -> str:
        """One greedy reply (no log-probs asked)."""
        data = self._call_degrading({"messages": messages, "temperature": 0.0, "max_tokens": int(max_new_tokens)},
                                    "completion")
        return str(data["choices"][0]["message"].get("content") or "").strip()

    # -- one question ------------------------------------------------------------------------------
    def _generate_one(self, r: GenRequest) -> GenResult:
        base = {"messages": r.messages, "max_tokens": int(r.max_new_tokens)}
        if r.stop_newline:
            base["stop"] = ["\n"]
        greedy = None
        if r.greedy:
            data = self._call_degrading({**base, "temperature": 0.0, "seed": r.seed, **self._lp()},
                                        f"greedy answer for {r.question_id}")
            greedy = self._gentexts(data)[0]
        samples: list[GenText] = []
        if r.n_samples > 1 and self._use_n:
            data = self._call_degrading({**base, "temperature": r.temperature, "top_p": r.top_p, "seed": r.seed,
                                         "n": r.n_samples, **self._lp()}, f"{r.n_samples} samples for {r.question_id}")
            samples = self._gentexts(data)[:r.n_samples]
            if len(samples) < r.n_samples:
                self._note_no_n(f"the server returned {len(samples)} choice(s) for n={r.n_samples}")
        while len(samples) < r.n_samples:
            i = len(samples)
            data = self._call_degrading({**base, "temperature": r.temperature, "top_p": r.top_p, "seed": r.seed + i,
                                         **self._lp()}, f"sample {i} for {r.question_id}")
            samples.append(self._gentexts(data)[0])
        return GenResult(question_id=r.question_id, greedy=greedy, samples=samples)

    def _lp(self) -> dict:
        return {"logprobs": True, "top_logprobs": TOP_K} if self._use_logprobs else {}

    def _gentexts(self, data: dict) -> list[GenText]:
        """GenText per choice; log-prob lists stay empty when the server gave none (never zeros)."""
        choices = data["choices"]
        out = []
        for c in choices:
            content = (c.get("logprobs") or {}).get("content")
            toks, tops = [], []
            if content:
                toks = [float(t["logprob"]) for t in content]
                tops = [sorted((float(a["logprob"]) for a in t.get("top_logprobs") or []), reverse=True)[:TOP_K]
                        for t in content]
                if not all(tops):
                    tops = []
                    self._mark_no_logprobs("the server returned log-probs without top alternatives", top_only=True)
            elif content is None and self._use_logprobs:
                self._mark_no_logprobs("the server accepted logprobs but returned none")
            usage = (data.get("usage") or {}).get("completion_tokens")
            n_tok = len(toks) if content else (int(usage) if len(choices) == 1 and usage is not None else 0)
            out.append(GenText(text=str(c["message"].get("content") or "").strip(), token_logprobs=toks,
                               top_logprobs=tops, n_tokens=n_tok, finish_reason=str(c.get("finish_reason") or "")))
        return out

    # -- dropping what the server refuses ----------------------------------------------------------
    def _call_degrading(self, params: dict, what: str) -> dict:
        """One call; on a 400, retry once without n, logprobs or seed (in that order of blame) and remember."""
        params = self._drop_known(params)
        try:
            return self._http.post(params, what)
        except Refused as first:
            refusal = first
        if refusal.status in (400, 422):
            optional = [f for f in ("n", "logprobs", "seed") if f in params]
            trials = [[f] for f in optional] + ([optional] if len(optional) > 1 else [])
            for drop in trials:
                gone = set(drop) | ({"top_logprobs"} if "logprobs" in drop else set())
                trial = {k: v for k, v in params.items() if k not in gone}
                try:
                    data = self._http.post(trial, what)
                except Refused:
                    continue
                reason = f"the server refused them ({refusal.status}: {refusal.message})"
                if "n" in drop:
                    self._note_no_n(reason)
                if "logprobs" in drop:
                    self._mark_no_logprobs(reason)
                if "seed" in drop:
                    with self._lock:
                        self._use_seed = False
                        self.notes.append(f"seed not sent: {reason}")
                return data
        raise BackendError(self._refusal_message(refusal, what))

    def _drop_known(self, params: dict) -> dict:
        p = dict(params)
        if not self._use_logprobs:
            p.pop("logprobs", None)
            p.pop("top_logprobs", None)
        if not self._use_seed:
            p.pop("seed", None)
        return p

    def _refusal_message(self, r: Refused, what: str) -> str:
        if r.status == 401:
            head = "the server refused the API key (401 Unauthorized); check the key"
        elif r.status == 403:
            head = "the server refused access (403 Forbidden); the key may lack access to this model"
        elif r.status == 404:
            head = f"not found (404): check the base URL {self.base_url} and the model name {self.model!r}"
        else:
            head = f"the server rejected the request ({r.status})"
        return self._http.scrub(f"{head} while requesting {what} from {self.base_url}; not retried. "
                                f"Server said: {r.message}")

    def _mark_no_logprobs(self, reason: str, top_only: bool = False) -> None:
        with self._lock:
            cap = self.capabilities
            if top_only:
                if cap.top_logprobs:
                    cap.top_logprobs = False
                    cap.reason = f"{cap.reason}; top log-probabilities unavailable: {reason}"
                return
            if self._use_logprobs:
                self._use_logprobs = False
                cap.logprobs = cap.top_logprobs = False
                cap.reason = f"{cap.reason}; token log-probabilities unavailable: {reason}"
                log.warning("logprobs turned off for %s: %s", self.name, reason)

    def _note_no_n(self, reason: str) -> None:
        with self._lock:
            if self._use_n:
                self._use_n = False
                self.notes.append(f"n > 1 not used, one call per sample: {reason}")
                log.warning("n > 1 turned off for %s: %s", self.name, reason)
