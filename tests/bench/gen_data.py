"""Generate a JSONL file of mixed training records (Alpaca, chat, ShareGPT) with bad lines.

    python tests/bench/gen_data.py OUT.jsonl --mb 200 --bad 0.10 [--clean CLEAN.jsonl]

`--clean` also writes the same records without the bad lines (for prepare, which both tools
refuse to run on invalid input). Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random

WORDS = ["the", "model", "learns", "from", "examples", "that", "people", "write", "carefully",
         "about", "code", "data", "training", "answers", "question", "river", "mountain", "bread",
         "coffee", "language", "small", "large", "fast", "slow", "because", "however",
         "therefore", "please", "explain", "why", "how", "what", "when", "where", "énergie",
         "naïve", "café", "東京", "数据"]


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(lo, hi)))


def good_record(rng: random.Random, sharegpt: float = 0.2) -> dict:
    kind = rng.random()
    if kind < (1 - sharegpt) * 0.55:
        rec = {"instruction": _text(rng, 5, 25), "output": _text(rng, 20, 90)}
        if rng.random() < 0.4:
            rec["input"] = _text(rng, 3, 30)
        return rec
    if kind < 1 - sharegpt:
        msgs = []
        if rng.random() < 0.3:
            msgs.append({"role": "system", "content": _text(rng, 4, 12)})
        for _ in range(rng.randint(1, 3)):
            msgs.append({"role": "user", "content": _text(rng, 5, 25)})
            msgs.append({"role": "assistant", "content": _text(rng, 10, 60)})
        return {"messages": msgs}
    turns = []
    for _ in range(rng.randint(1, 3)):
        turns.append({"from": "human", "value": _text(rng, 5, 25)})
        turns.append({"from": "gpt", "value": _text(rng, 10, 60)})
    return {"id": f"r{rng.randrange(10**9)}", "conversations": turns}


def bad_line(rng: random.Random, sharegpt: float = 0.2) -> str:
    rec = good_record(rng, sharegpt)
    kind = rng.randrange(8)
    if kind == 0:
        return json.dumps(rec, ensure_ascii=False)[:-7]  # truncated JSON
    if kind == 1:
        return json.dumps({"instruction": _text(rng, 5, 20)})  # missing output
    if kind == 2:
        return json.dumps({"instruction": _text(rng, 5, 20), "output": 42})  # wrong type
    if kind == 3:
        return json.dumps({"messages": [{"role": "tool", "content": "x"},
                                        {"role": "assistant", "content": "y"}]})
    if kind == 4:
        return json.dumps({"instruction": "  ", "output": _text(rng, 5, 20)})  # empty
    if kind == 5:
        return json.dumps([rec])  # not an object
    if kind == 6:
        return json.dumps({"messages": [{"role": "user", "content": _text(rng, 5, 20)}]})
    return "{'single': 'quotes'}"


def generate(out: str, mb: float, bad: float, seed: int = 1, clean: str | None = None,
             sharegpt: float = 0.2) -> None:
    rng = random.Random(seed)
    target = int(mb * 1024 * 1024)
    written = 0
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open(out, "w", encoding="utf-8"))
        clean_fh = stack.enter_context(open(clean, "w", encoding="utf-8")) if clean else None
        while written < target:
            if rng.random() < bad:
                line = bad_line(rng, sharegpt)
            else:
                line = json.dumps(good_record(rng, sharegpt), ensure_ascii=False)
                if clean_fh:
                    clean_fh.write(line + "\n")
            fh.write(line + "\n")
            written += len(line.encode("utf-8")) + 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--bad", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clean")
    ap.add_argument("--sharegpt", type=float, default=0.2, help="share of ShareGPT records")
    a = ap.parse_args()
    generate(a.out, a.mb, a.bad, a.seed, a.clean, a.sharegpt)
