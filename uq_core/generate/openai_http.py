"""One chat-completions POST with retries, for the OpenAI-compatible back end.

Retried (exponential backoff ``backoff_s * 2**attempt``, or ``Retry-After`` seconds when longer, capped at
``MAX_WAIT_S``): HTTP 408/409/429/5xx, timeouts, connection errors, malformed JSON. Not retried: other 4xx,
raised as ``Refused`` so the caller can drop an optional feature or report. After the last retry:
``BackendError`` naming what was being done, the last error and the number of retries.

The API key lives only inside the ``openai`` client and a ``_Secrets`` holder that prints as hidden;
every message that leaves this module (exceptions, log lines) is scrubbed of it, and exceptions are
raised outside ``except`` blocks so no chained exception carries the server's raw text.
"""
from __future__ import annotations

import json
import logging
import time

from .base import BackendError

log = logging.getLogger("uq_core.generate.openai_compat")

MAX_WAIT_S = 120.0
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class Refused(Exception):
    """A 4xx the server would give again; ``message`` is already scrubbed."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


class _Malformed(Exception):
    pass


class _Secrets:
    """Holds the key's forms for scrubbing; prints as hidden."""
    __slots__ = ("_forms",)

    def __init__(self, key: str):
        self._forms = tuple(f for f in {key, key.strip()} if len(f) >= 4)

    def scrub(self, text: str) -> str:
        for f in self._forms:
            text = text.replace(f, "[API key hidden]")
        return text

    def __repr__(self) -> str:
        return "<hidden>"


class ChatTransport:
    """POST /chat/completions with retries; returns the decoded JSON body (dict with a 'choices' list)."""

    def __init__(self, name: str, model: str, base_url: str, api_key: str, max_retries: int, timeout_s: float,
                 backoff_s: float, default_headers: dict[str, str] | None = None):
        from openai import OpenAI
        self.name, self.model, self.base_url = name, model, base_url
        self.max_retries, self.timeout_s, self.backoff_s = int(max_retries), float(timeout_s), float(backoff_s)
        self._secrets = _Secrets(api_key)
        self._client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=self.timeout_s,
                              default_headers=default_headers)

    def __repr__(self) -> str:
        return f"ChatTransport(model={self.model!r}, base_url={self.base_url!r})"

    def scrub(self, text: str) -> str:
        return self._secrets.scrub(text)

    def post(self, params: dict, what: str) -> dict:
        """One call with retries; ``what`` names the work in messages (e.g. 'greedy answer for q1')."""
        last = ""
        for attempt in range(self.max_retries + 1):
            wait = self.backoff_s * (2 ** attempt)
            outcome = self._attempt(params)
            if isinstance(outcome, dict):
                return outcome
            if isinstance(outcome, Refused):
                raise outcome
            last, after = outcome
            if after is not None:
                wait = max(wait, min(after, MAX_WAIT_S))
            if attempt < self.max_retries:
                log.warning("%s: %s failed (%s); retry %d of %d in %.1f s", self.name, what, last, attempt + 1,
                            self.max_retries, wait)
                time.sleep(wait)
        raise BackendError(self.scrub(f"{self.name} at {self.base_url}: gave up on {what} after "
                                      f"{self.max_retries} retries; last error: {last}"))

    def _attempt(self, params: dict) -> dict | Refused | tuple[str, float | None]:
        """The body, a Refused, or (scrubbed description of a transient failure, Retry-After seconds)."""
        from openai import APIConnectionError, APIStatusError, APITimeoutError
        try:
            raw = self._client.chat.completions.with_raw_response.create(model=self.model, **params)
            return _parse(raw.http_response.text)
        except APIStatusError as e:
            status, message = e.status_code, self.scrub(_server_message(e))
            if status not in RETRY_STATUS:
                return Refused(status, message)
            return f"HTTP {status}: {message}", _retry_after(e.response.headers.get("retry-after"))
        except APITimeoutError:
            return f"no answer within the {self.timeout_s:g} s timeout", None
        except APIConnectionError as e:
            return f"connection failed ({type(e.__cause__ or e).__name__})", None
        except _Malformed as e:
            return self.scrub(f"malformed response: {e}"), None


def _parse(text: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _Malformed(f"body is not valid JSON ({e.msg}, char {e.pos})") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not all(
            isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        raise _Malformed("no 'choices' with a 'message' in the body")
    return data


def _server_message(e) -> str:
    body = getattr(e, "body", None)
    msg = None
    if isinstance(body, dict):
        err = body.get("error")
        msg = err.get("message") if isinstance(err, dict) else body.get("message")
    return str(msg or getattr(e, "message", "") or "")[:300]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (numbers only; HTTP dates are ignored)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
