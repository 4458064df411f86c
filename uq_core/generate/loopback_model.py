"""The loopback server's default responder: the bundled SmolLM2 model, decoded with OpenAI semantics.

The model, tokenizer and chat template come from ``LocalBackend.load`` (one copy per process). Decoding
is a short loop over a KV cache for the ``n`` choices of one request (same prompt, so no padding), so
that every token keeps its string and its top alternatives, as the OpenAI response shape needs.

Semantics, as an OpenAI server: temperature 0 = greedy; log-probs are under the model's distribution at
temperature 1 (before temperature / top-p, as ``LocalBackend`` stores them); generation ends at an
end-of-sequence token ('stop'), at the first stop string (cut before it; 'stop') or at ``max_tokens``
('length'); tokens that would reach into the stop string are not reported.
"""
from __future__ import annotations

import threading

import torch

from .loopback_server import ChatParams, Choice

_STOP_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")


class ModelResponder:
    """Callable ChatParams -> list[Choice] over a ``LocalBackend`` (uses its model, tokenizer, encode)."""

    def __init__(self, backend):
        self.backend = backend
        self.tok = backend.tokenizer
        self.model = backend.model
        self.lock = threading.Lock()   # one decode at a time: the model is shared and the CPUs are few
        ids = {self.tok.eos_token_id}
        for t in _STOP_TOKENS:
            tid = self.tok.convert_tokens_to_ids(t)
            if isinstance(tid, int) and tid >= 0 and tid != self.tok.unk_token_id:
                ids.add(tid)
        self.eos = {i for i in ids if isinstance(i, int)}

    def __call__(self, p: ChatParams) -> list[Choice]:
        prompt = self.backend.encode(p.messages)
        with self.lock, torch.inference_mode():
            return self._decode(prompt, p)

    def _decode(self, prompt: list[int], p: ChatParams) -> list[Choice]:
        dev = self.backend.device
        n, k_top = p.n, max(p.top_logprobs, 1)
        gen = torch.Generator().manual_seed(p.seed if p.seed is not None else torch.seed())
        cur = torch.tensor([prompt] * n, dtype=torch.long, device=dev)
        cache = None
        toks: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        alts: list[list[list[tuple[str, float]]]] = [[] for _ in range(n)]
        done = [""] * n
        for _ in range(max(p.max_tokens, 0)):
            out = self.model(input_ids=cur, past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float().cpu()
            logp = torch.log_softmax(logits, dim=-1)
            chosen = self._choose(logits, p.temperature, p.top_p, gen)
            top_v, top_i = logp.topk(k_top, dim=-1)
            for b in range(n):
                if done[b]:
                    continue
                t = int(chosen[b])
                if t in self.eos:
                    done[b] = "stop"
                    continue
                toks[b].append(t)
                lps[b].append(float(logp[b, t]))
                alts[b].append([(self.tok.decode([int(i)]), float(v)) for v, i in zip(top_v[b], top_i[b])])
                if p.stop and any(s in self.tok.decode(toks[b]) for s in p.stop):
                    done[b] = "stop"
            if all(done):
                break
            cur = chosen.unsqueeze(1).to(dev)
        return [self._choice(toks[b], lps[b], alts[b], done[b] or "length", p.stop) for b in range(n)]

    @staticmethod
    def _choose(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator) -> torch.Tensor:
        if temperature <= 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / temperature, dim=-1)
        sp, si = probs.sort(dim=-1, descending=True)
        sp = sp.masked_fill((sp.cumsum(-1) - sp) > top_p, 0.0)
        pick = torch.multinomial(sp, 1, generator=gen)
        return si.gather(1, pick).squeeze(1)

    def _choice(self, toks, lps, alts, finish, stops) -> Choice:
        text = self.tok.decode(toks, skip_special_tokens=True)
        cut = min((text.find(s) for s in stops if s in text), default=-1)
        if cut >= 0:
            text = text[:cut]
            keep = 0   # tokens whose text lies wholly before the stop string
            while keep < len(toks) and len(self.tok.decode(toks[:keep + 1], skip_special_tokens=True)) <= cut:
                keep += 1
            toks, lps, alts = toks[:keep], lps[:keep], alts[:keep]
        return Choice(text=text, tokens=[self.tok.decode([t]) for t in toks], logprobs=lps, top=alts,
                      finish_reason=finish)


def model_responder(spec: str = "smollm2-135m", device: str = "cpu") -> ModelResponder:
    """The default responder: ``LocalBackend.load(spec, device)`` (cached per process) behind a ModelResponder."""
    from .local import LocalBackend
    return ModelResponder(LocalBackend.load(spec, device=device))
