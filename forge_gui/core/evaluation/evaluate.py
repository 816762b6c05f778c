"""Did it get better? The base and the fine-tuned model on the held-out records.

Two measures, both with the real llama.cpp tools and the model's own tokenizer:

- **Held-out loss**: `llama-perplexity` on the held-out text (train.val.txt, the records
  prepare kept out of training, in the training format), for the base and for the
  fine-tuned GGUF, at the training context. Its "Final estimate: PPL = X" gives the loss
  ln(X): the mean cross-entropy per token, in the same unit as the training loss.
  llama-perplexity scores chunks of `ctx` tokens and needs at least 2 × ctx tokens; with a
  shorter held-out text a smaller context is used and recorded, and below 2 × MIN_EVAL_CTX
  there is no loss, with a sentence saying why.
- **Answers side by side**: N held-out prompts (default 5), rendered exactly as in training,
  through `llama-completion` for both models with the same stops, seed and greedy sampling,
  next to the reference answer from the data.

The result is an EvaluationResult (core/runs/evaluation_result.py), written to
`evaluation.json` and as a readable report `compare.md` in the run folder (and into run.json's artifacts where
RunArtifacts has an `evaluation` field). See docs/training.md, "Did it get better?".
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken, FunctionStep, ProgressCallback, StepFailed
from forge_gui.core.evaluation.held_out import _is_segments, plain_text_of
from forge_gui.core.formats.chat_format import NO_INPUT, PLAIN_EXCHANGE, RESPONSE_HEAD
from forge_gui.core.llamacpp.discover import ToolSet, find_tools
from forge_gui.core.llamacpp.perplexity import (  # noqa: F401  (re-exported: tests, CLI)
    MIN_EVAL_CTX,
    TextTooShort,
    _lora_args,
    eval_ctx,
    held_out_loss,
    parse_perplexity,
    perplexity_argv,
    run_until_complete,
    too_short_sentence,
)
from forge_gui.core.llamacpp.tool_steps import (
    STOP_MARKER,
    count_tokens,
    extract_answer,
    smoke_argv,
    training_ctx,
)
from forge_gui.core.runs.evaluation_result import (  # noqa: F401  (re-exported: the result's old home)
    ANSWER_TOKENS,
    REPORT_NAME,
    RESULT_NAME,
    AnswerRow,
    EvaluationResult,
    HeldOutLoss,
    load_evaluation,
    render_markdown,
    save_result,
    store_in_run,
)

if TYPE_CHECKING:
    from forge_gui.core.runs.run import StepSpec

log = logging.getLogger(__name__)

EVAL_KEY = "evaluate"
EVAL_LABEL = "Compare with the base model on held-out records"
DEFAULT_PROMPTS = 5
RESPONSE_MARKER = RESPONSE_HEAD


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


# --- prompts -------------------------------------------------------------------------------

_EXCHANGE = PLAIN_EXCHANGE  # prompt, question, input, answer of one plain exchange


def exchanges_from_text(text: str, limit: int | None = None) -> list[AnswerRow]:
    """Prompts and reference answers from a prepared training text (one per exchange; a
    prompt that repeats an earlier one is skipped: it would get the same answers)."""
    rows: list[AnswerRow] = []
    seen: set[str] = set()
    for m in _EXCHANGE.finditer(text):
        if m.group("prompt") in seen:
            continue
        seen.add(m.group("prompt"))
        question = m.group("question")
        if m.group("input") not in (NO_INPUT, ""):
            question += "\n\n" + m.group("input")
        rows.append(AnswerRow(prompt=question, rendered=m.group("prompt"),
                              reference=m.group("answer").strip()))
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _row_from_turns(turns: tuple, fmt=None) -> AnswerRow | None:
    """The last user turn as the prompt (earlier ones as context), the answer after it as the
    reference; rendered as in training: in `fmt` when it is a chat format (the base's own
    template), else Forge's plain text (core/data/render.py)."""
    from forge_gui.core.data.render import render_turns
    from forge_gui.core.formats.chat_format import messages_of

    last_user = max((i for i, t in enumerate(turns) if t[0] == "user"), default=None)
    if last_user is None:
        return None
    reference = next((t[1] for t in turns[last_user + 1:] if t[0] == "assistant"), None)
    if fmt is not None and fmt.chat:  # up to where the answer starts, as the format renders it
        rendered = fmt.prompt(messages_of(turns[:last_user + 1]))
    else:  # the conversation up to the last question, its answer left empty (ends RESPONSE_HEAD)
        rendered = render_turns(tuple(turns[:last_user + 1]) + (("assistant", "", None),)
                                ).removesuffix("\n")
    _, question, inp = turns[last_user]
    return AnswerRow(prompt=question + (f"\n\n{inp}" if inp else ""), rendered=rendered,
                     reference=reference)


def prompts_from_file(path: Path, limit: int, field_map: dict[str, str] | None = None,
                      fmt=None) -> list[AnswerRow]:
    """--prompts FILE: JSONL/JSON records (any format Forge reads; their answers become the
    references) or plain text, one prompt a line; rendered in the run's format `fmt`."""
    path = Path(path)
    if not path.is_file():
        raise StepFailed(f"{path} does not exist or is not a file.")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        from forge_gui.core.data import ValidationOptions, iter_conversations

        rows = []
        for conv in iter_conversations([path], ValidationOptions(field_map=field_map or {})):
            row = _row_from_turns(tuple((t.role, t.content, t.input) for t in conv.turns), fmt)
            if row is not None:
                rows.append(row)
            if len(rows) >= limit:
                break
        if not rows:
            raise StepFailed(f"{path} holds no record with a question Forge can read.",
                             "Run 'forge-cli validate-training-data' on it to see why.")
        return rows
    try:
        lines = [ln.strip() for ln in path.read_text("utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise StepFailed(f"{path} cannot be read as UTF-8 text ({exc}).") from None
    if not lines:
        raise StepFailed(f"{path} is empty: give one prompt a line, or JSONL records.")
    return [r for r in (_row_from_turns((("user", q, None),), fmt) for q in lines[:limit])
            if r is not None]


# --- answers -------------------------------------------------------------------------------

_TOO_LONG = re.compile(r"prompt is too long \((\d+) tokens, max (\d+)\)")


def answer(tools: ToolSet, model: Path, rendered: str, seed: int, max_tokens: int,
           cancel: CancelToken, log_file: Path | None = None, ctx: int = 1024,
           lora: Path | None = None, stop: str = STOP_MARKER) -> str:
    """One greedy completion of `rendered` (the training format), cut at the next turn."""
    argv = smoke_argv(tools, model, rendered, seed, max_tokens, stop)
    argv[argv.index("-c") + 1] = str(ctx)  # room for a held-out record as long as training's
    if lora:
        argv[argv.index("-m") + 2:argv.index("-m") + 2] = _lora_args(lora)
    # its timing report comes after the generated text: without it the text may be cut short
    code, out, err = run_until_complete(argv, cancel, log_file, lambda o, e: "eval time" in e)
    if code != 0 and (long := _TOO_LONG.search(err)):
        return (f"(not asked: the prompt is {long.group(1)} tokens, more than the "
                f"{long.group(2)} that fit in a context of {ctx})")
    if code != 0:
        raise StepFailed(f"llama-completion could not run {model.name} (exit code {code}).",
                         f"The tool's output is in {log_file}." if log_file else None)
    return extract_answer(out, stop)


def chat_inputs(fmt, conversations: Path, run_dir: Path, limit: int,
                text_name: str | None = "heldout.rendered.txt") -> tuple[Path, list[AnswerRow]]:
    """A chat-format run's held-out JSONL -> (its training text for llama-perplexity, written
    to run_dir/text_name, prompts rendered in that format with their reference answers)."""
    rendered: list[str] = []
    rows: list[AnswerRow] = []
    with open(conversations, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if "segments" in record:  # segments-jsonl: the text, the last answer trained
                segments = record["segments"]
                rendered.append("".join(t for t, _ in segments))
                last = max((i for i, (_, trained) in enumerate(segments) if trained), default=0)
                if segments and segments[last][1] and len(rows) < limit:
                    answer = segments[last][0].removesuffix(fmt.stop_marker)
                    rows.append(AnswerRow(prompt=segments[last - 1][0] if last else "",
                                          rendered="".join(t for t, _ in segments[:last]),
                                          reference=answer))
                continue
            messages = [(m["role"], m["content"]) for m in record["messages"]]
            rendered.append(fmt.render(messages))
            users = [i for i, (role, _) in enumerate(messages) if role == "user"]
            if users and len(rows) < limit:
                last = users[-1]
                reference = next((c for r, c in messages[last + 1:] if r == "assistant"), None)
                rows.append(AnswerRow(prompt=messages[last][1],
                                      rendered=fmt.prompt(messages[:last + 1]),
                                      reference=reference))
    if text_name is None:
        return conversations, rows
    text = run_dir / text_name
    atomic_write_text(text, "\n".join(rendered))
    return text, rows


# --- the whole evaluation ------------------------------------------------------------------

def _pick(*paths: Path | None) -> Path | None:
    return next((Path(p) for p in paths if p and Path(p).is_file()), None)


def evaluate(*, run_dir: Path, settings, artifacts, tools: ToolSet | None = None,
             progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
             prompts: list[AnswerRow] | None = None, prompts_source: str | None = None,
             n_prompts: int = DEFAULT_PROMPTS, measure_loss: bool = True,
             previous: EvaluationResult | None = None,
             log_file: Path | None = None) -> EvaluationResult:
    """Measure the base and the fine-tuned model of a run (see the module docstring).

    settings / artifacts: the run's RunSettings and RunArtifacts (read with getattr, so a
    run.json of another version works). `prompts` overrides the held-out ones. `previous`:
    an earlier result whose losses are reused when the models and the text are the same."""
    progress = progress or (lambda event: None)
    cancel = cancel or CancelToken()
    tools = tools or find_tools(getattr(settings, "tools_dir", None))
    base = _pick(getattr(artifacts, "base_gguf", None), getattr(artifacts, "train_base_gguf", None))
    # the ADAPTER route keeps no merged file: the adapter on the base is the fine-tune
    tuned = _pick(getattr(artifacts, "output_gguf", None), getattr(artifacts, "trained_gguf", None),
                  getattr(artifacts, "adapter_file", None))
    if base is None:
        raise StepFailed("The base model's GGUF of this run is not there any more "
                         f"({getattr(artifacts, 'base_gguf', None) or 'never recorded'}).")
    if tuned is None:
        raise StepFailed("This run has no fine-tuned model to compare (it did not get that far, "
                         "or its GGUF was deleted).")
    # A fine-tune that is only a GGUF LoRA adapter runs on the base it was trained on.
    tuned_model, lora = tuned, None
    if _is_adapter(tuned):
        tuned_model = _pick(getattr(artifacts, "train_base_gguf", None), base) or base
        lora = tuned
    seed = int(getattr(settings, "seed", 42) or 42)
    val = _pick(getattr(artifacts, "prepared_val", None))
    from forge_gui.core.llamacpp.base_format import format_of

    fmt = format_of(getattr(artifacts, "chat_format", None), getattr(artifacts, "base_gguf", None))
    if not fmt.chat and _is_segments(val):  # plain format fed as segments: its plain text
        assert val is not None
        val = plain_text_of(val, run_dir / "heldout.txt")
    if fmt.chat and val is not None and prompts is None:  # conversations, not a text
        val, prompts = chat_inputs(fmt, val, run_dir, n_prompts)
        prompts_source = prompts_source or f"held-out conversations ({val.name})"
    train_ctx = training_ctx(int(getattr(settings, "ctx", 512) or 512))
    result = EvaluationResult(created=_now(), base_gguf=base, tuned_gguf=tuned, eval_file=val,
                              held_out_records=getattr(artifacts, "held_out", None),
                              train_ctx=train_ctx, seed=seed)
    threads = getattr(settings, "threads", None)
    if not threads:
        from forge_gui.core.llamacpp.trainer import physical_cores
        threads = physical_cores()
    gpu_layers = getattr(settings, "gpu_layers", None)

    def say(fraction: float, message: str) -> None:
        progress(ProgressEvent(step=EVAL_KEY, fraction=fraction, message=message))

    # 1. held-out loss
    if val is None:
        result.loss_note = ("Nothing was held out of training, so there is no held-out loss. "
                            "Hold out a share of the records (--val-fraction 0.1, or the Data "
                            "page's \"Held out for evaluation\") to measure it.")
    elif previous is not None and _same_loss_inputs(previous, base, tuned, val):
        for field in ("eval_tokens", "ctx", "base", "tuned", "loss_note"):
            setattr(result, field, getattr(previous, field))
    elif not measure_loss:
        result.loss_note = "The held-out loss was not measured this time."
    else:
        say(0.02, "Counting the held-out tokens")
        result.eval_tokens = count_tokens(tools, base, val, cancel)
        ctx = eval_ctx(result.eval_tokens, train_ctx)
        if ctx is None:
            result.loss_note = too_short_sentence(result.eval_tokens, 2 * MIN_EVAL_CTX, MIN_EVAL_CTX)
        else:
            result.ctx = ctx
            if ctx != train_ctx:
                result.loss_note = (f"Measured at a context of {ctx} tokens, not the training "
                                    f"context of {train_ctx}: the held-out text is "
                                    f"{result.eval_tokens} tokens and llama-perplexity needs "
                                    f"twice the context.")
            for i, (which, model) in enumerate((("base", base), ("tuned", tuned))):
                say(0.05 + 0.2 * i, f"Held-out loss of the {'base' if i == 0 else 'fine-tuned'} "
                                    f"model (llama-perplexity, context {ctx})")
                try:
                    loss = held_out_loss(tools, tuned_model if which == "tuned" else model, val,
                                         ctx, cancel, log_file, threads, gpu_layers,
                                         lora if which == "tuned" else None)
                except TextTooShort as exc:
                    result.base = result.tuned = None  # tokens differ from the count: rare
                    result.loss_note = str(exc)
                    break
                setattr(result, which, HeldOutLoss(**asdict(loss)))
            if result.base and result.tuned:
                say(0.45, result.headline())

    # 2. answers side by side
    if prompts is None:
        if val is not None:
            prompts = exchanges_from_text(_head(val), n_prompts)
            prompts_source = prompts_source or f"held-out records ({val.name})"
        else:
            train = _pick(getattr(artifacts, "prepared_train", None))
            if not fmt.chat and _is_segments(train):
                assert train is not None
                train = plain_text_of(train, run_dir / "train.plain.txt")
            prompts = [] if not train else chat_inputs(fmt, train, run_dir, n_prompts, None)[1] \
                if fmt.chat else exchanges_from_text(_head(train), n_prompts)
            prompts_source = prompts_source or ("training records (nothing was held out, so "
                                                "these show what was learnt, not generalisation)")
    result.prompts_source = prompts_source or "given prompts"
    max_tokens = result.max_tokens
    answer_ctx = max(1024, train_ctx + max_tokens)
    for i, row in enumerate(prompts[:n_prompts]):
        cancel.raise_if_cancelled()
        say(0.5 + 0.5 * i / max(1, len(prompts[:n_prompts])),
            f"Answers {i + 1}/{len(prompts[:n_prompts])}: base and fine-tuned")
        row = row.model_copy()
        row.base = answer(tools, base, row.rendered, seed, max_tokens, cancel, log_file, answer_ctx,
                          stop=fmt.stop_marker)
        row.tuned = answer(tools, tuned_model, row.rendered, seed, max_tokens, cancel, log_file,
                           answer_ctx, lora, stop=fmt.stop_marker)
        result.answers.append(row)
    say(1.0, result.headline())
    return result


def _head(path: Path, limit: int = 2 << 20) -> str:
    """The first `limit` bytes of a (maybe very large) prepared text: enough for N prompts."""
    with open(path, "rb") as fh:
        return fh.read(limit).decode("utf-8", "replace")


def _is_adapter(path: Path) -> bool:
    from forge_gui.core.llamacpp.gguf_info import inspect_gguf

    try:
        return inspect_gguf(path).general_type == "adapter"
    except Exception as exc:
        log.warning("cannot read the header of %s: %s", path, exc)
        return False


def _same_loss_inputs(previous: EvaluationResult, base: Path, tuned: Path, val: Path) -> bool:
    return (previous.base is not None and previous.tuned is not None
            and previous.base_gguf == base and previous.tuned_gguf == tuned
            and previous.eval_file == val)


# --- the pipeline step ---------------------------------------------------------------------

def eval_specs(settings) -> list[StepSpec]:
    """The "evaluate" step: after the fine-tuned GGUF exists (after quantize/completion),
    before the Ollama steps. Reads state.artifacts: base_gguf / train_base_gguf,
    output_gguf / trained_gguf, prepared_val (or prepared_train when nothing was held out)."""
    # imported here: core/runs/run.py may import EvaluationResult from this module (a cycle else)
    from forge_gui.core.runs.run import StepSpec

    return [StepSpec(EVAL_KEY, EVAL_LABEL, _evaluate_step)]


def _evaluate_step(state) -> FunctionStep:
    log_path = state.log_path(EVAL_KEY)

    def run(progress: ProgressCallback, cancel: CancelToken) -> None:
        log_path.unlink(missing_ok=True)  # a retry starts a fresh log
        result = evaluate(run_dir=state.run_dir, settings=state.settings,
                          artifacts=state.artifacts, progress=progress, cancel=cancel,
                          log_file=log_path)
        save_result(state.run_dir, result, f"{state.settings.name}: base and fine-tuned, side by side")
        store_in_run(state, result)

    return FunctionStep(key=EVAL_KEY, label=EVAL_LABEL, run=run, log_path=log_path)
