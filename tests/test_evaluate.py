"""Before/after evaluation: the held-out loss of the base and the fine-tuned model
(llama-perplexity) and their answers side by side (llama-completion), on a real tiny run."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from fixtures_llama import write_colour_dataset

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.evaluation.evaluate import (
    EvaluationResult,
    HeldOutLoss,
    eval_ctx,
    exchanges_from_text,
    load_evaluation,
    parse_perplexity,
    prompts_from_file,
    render_markdown,
)

# --- pure parts ---------------------------------------------------------------------------

PPL_TAIL = """perplexity: calculating perplexity over 2 chunks, n_ctx=256, batch_size=256, n_seq=1
perplexity: 0.05 seconds per pass - ETA 0.00 minutes
[1]31843.2811,[2]30212.8107,
Final estimate: PPL = 30212.8107 +/- 2032.47417
"""


def test_the_final_estimate_is_read_and_its_log_is_the_loss():
    assert parse_perplexity(PPL_TAIL) == (30212.8107, 2032.47417)
    assert parse_perplexity("no estimate here") is None


def test_the_eval_context_is_the_training_one_when_the_text_allows():
    assert eval_ctx(2000, 512) == 512  # llama-perplexity needs 2 × ctx tokens
    assert eval_ctx(700, 512) == 256
    assert eval_ctx(127, 512) is None  # not even 2 × 64


def test_prompts_and_references_come_from_the_prepared_text(tmp_path):
    from forge_gui.core.data import prepare_training_data

    data = write_colour_dataset(tmp_path / "c.jsonl", records=10)
    result = prepare_training_data([data], tmp_path / "train.txt", val_fraction=0.3, seed=42)
    val_text = result.val_out.read_text()
    rows = exchanges_from_text(val_text, limit=5)
    questions = [line for line in val_text.splitlines() if line.startswith("What colour")]
    assert result.held_out == len(questions) == 3
    assert [r.prompt for r in rows] == list(dict.fromkeys(questions))  # each prompt once
    records = [json.loads(line) for line in data.read_text().splitlines()]
    for row in rows:
        assert {"instruction": row.prompt, "output": row.reference} in records
        assert row.rendered == (f"### Instruction:\n{row.prompt}\n\n### Input:\n(none)\n\n"
                                "### Response:\n")


def test_prompts_from_a_file(tmp_path):
    plain = tmp_path / "p.txt"
    plain.write_text("Name a colour.\n\nWhat is 2+2?\n")
    rows = prompts_from_file(plain, 5)
    assert [r.prompt for r in rows] == ["Name a colour.", "What is 2+2?"]
    assert rows[0].reference is None and rows[0].rendered.endswith("### Response:\n")
    records = write_colour_dataset(tmp_path / "r.jsonl", records=4)
    rows = prompts_from_file(records, 2)
    assert len(rows) == 2 and rows[0].reference.startswith("The ball is ")
    with pytest.raises(StepFailed, match="does not exist"):
        prompts_from_file(tmp_path / "missing.txt", 5)


def test_the_report_is_a_readable_markdown_table(tmp_path):
    from forge_gui.core.evaluation.evaluate import AnswerRow

    result = EvaluationResult(
        base_gguf=tmp_path / "b.gguf", tuned_gguf=tmp_path / "t.gguf", ctx=256, train_ctx=256,
        base=HeldOutLoss(gguf=tmp_path / "b.gguf", perplexity=math.e ** 10, loss=10.0),
        tuned=HeldOutLoss(gguf=tmp_path / "t.gguf", perplexity=math.e ** 2, loss=2.0),
        prompts_source="held-out records",
        answers=[AnswerRow(prompt="A | B?", rendered="x", reference="line 1\nline 2",
                           base="", tuned="The ball is red.")])
    text = render_markdown(result, "tiny")
    assert "| base | 10.0000 |" in text and "| fine-tuned | 2.0000 |" in text
    assert "| 1 | A \\| B? | line 1<br>line 2 | (nothing) | The ball is red. |" in text
    assert result.loss_change == -8.0 and "lower" in result.headline()


# --- a real run ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evaluated_run(llama_tools, tiny_gguf, tmp_path_factory):
    """A tiny run with 30 % of the records held out, the evaluate step at its end."""
    from forge_gui.core.pipeline.train_pipeline import train_specs
    from forge_gui.core.pipeline.walk import run_pipeline
    from forge_gui.core.runs.run import RunSettings, RunState

    folder = tmp_path_factory.mktemp("eval-run")
    data = write_colour_dataset(folder / "colours.jsonl", records=60)
    # LoRA, the default method; the tiny random model learns with the output layer adapted too
    settings = RunSettings(data=[data], name="tiny-eval", base_gguf=tiny_gguf["f32"], epochs=2,
                           learning_rate=1e-3, ctx=256, val_fraction=0.3, create=False,
                           lora_modules="attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down,"
                                        "output")
    state = RunState.create(settings, folder / "run")
    run_pipeline(train_specs(settings), state)
    return state




@pytest.mark.tools
@pytest.mark.slow
def test_the_fine_tuned_model_has_the_lower_held_out_loss(evaluated_run):
    state = evaluated_run
    run_json = json.loads((state.run_dir / "run.json").read_text())
    assert run_json["status"] == "done"
    assert [s["status"] for s in run_json["steps"] if s["key"] == "evaluate"] == ["done"]
    result = load_evaluation(state.run_dir)
    assert result is not None
    assert result.ctx == result.train_ctx == 256  # the training context
    assert result.base.loss > 8  # a random model: about ln(32000)
    # the held-out text is prompts and answers; LoRA learns the answers only (a fifth of the
    # tokens here), so the whole text's loss falls by less than the answers' (was 2 nats)
    assert result.tuned.loss < result.base.loss - 1, result.headline()
    assert result.tuned.loss == pytest.approx(math.log(result.tuned.perplexity))
    # the figures are kept in the run folder (run.json once RunArtifacts has the field)
    saved = json.loads((state.run_dir / "evaluation.json").read_text())
    assert saved["tuned"]["loss"] == result.tuned.loss
    evaluation = run_json["artifacts"].get("evaluation")
    if "evaluation" in type(state.artifacts).model_fields:
        assert evaluation["tuned"]["loss"] == result.tuned.loss
    # the held-out prompts (at most 5, each once), answered by both models, next to the
    # reference
    # LoRA is fed segments; the evaluation reads their plain text (evaluation/held_out.py)
    assert result.eval_file == state.run_dir / "heldout.txt"
    held_out = result.eval_file.read_text().splitlines()
    distinct = list(dict.fromkeys(q for q in held_out if q.startswith("What colour")))
    assert [row.prompt for row in result.answers] == distinct[:5] and len(distinct) >= 3
    assert all(row.reference == f"The ball is {row.prompt.split()[4]}." for row in result.answers)
    report = (state.run_dir / "compare.md").read_text()
    assert f"| base | {result.base.loss:.4f} |" in report
    assert report.count("\n| ") >= 2 + 3
    # the same tools, same seed: the commands are in the log
    log = (state.run_dir / "logs" / "evaluate.log").read_text()
    assert log.count("llama-perplexity") >= 2 and log.count("llama-completion") >= 6


@pytest.mark.tools
@pytest.mark.slow
def test_the_done_page_shows_the_losses_and_the_table(qtbot, evaluated_run):
    from forge_gui.gui.pages.done import DonePage

    state = evaluated_run
    page = DonePage()
    qtbot.addWidget(page)
    page.show_result(state.settings, state.artifacts, state.run_dir)
    result = load_evaluation(state.run_dir)
    text = page.compare.figures.text()
    assert f"{result.base.loss:.3f}" in text and f"{result.tuned.loss:.3f}" in text
    assert "lower" in text
    assert page.compare.table.rowCount() == len(result.answers) >= 3
    assert page.compare.cell_text(0, "Reference") == result.answers[0].reference
    assert page.compare.cell_text(0, "Fine-tuned") == (result.answers[0].tuned or "(nothing)")


def forge(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forge_gui.cli", *args], capture_output=True,
                          timeout=timeout, text=True)


@pytest.mark.tools
@pytest.mark.slow
def test_forge_cli_compare_writes_the_side_by_side_report(evaluated_run, tmp_path):
    run_dir = evaluated_run.run_dir
    report = run_dir / "compare.md"
    report.unlink()
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What colour is the green ball?\nWhat colour is the blue ball?\n")
    done = forge("compare", str(run_dir), "--prompts", str(prompts), "-n", "2", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Held-out loss" in done.stderr and f"Wrote {report}" in done.stderr
    result = EvaluationResult.model_validate_json(done.stdout.strip().splitlines()[-1])
    assert [r.prompt for r in result.answers] == ["What colour is the green ball?",
                                                  "What colour is the blue ball?"]
    assert result.tuned.loss < result.base.loss  # reused from the run's evaluation
    text = report.read_text()
    assert "| 1 | What colour is the green ball? | — |" in text
    assert (run_dir / "logs" / "compare.log").read_text().count("llama-completion") == 4


def test_forge_cli_compare_refuses_what_is_not_a_finished_run(tmp_path):
    from forge_gui.core.runs.run import RunSettings, RunState

    done = forge("compare", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == (f"forge-cli: error: {tmp_path} is not a Forge run folder "
                                   f"(it has no run.json).")
    state = RunState.create(RunSettings(data=[tmp_path], name="x"), tmp_path / "early")
    done = forge("compare", str(state.run_dir))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "base model's GGUF" in done.stderr or "no fine-tuned model" in done.stderr
    done = forge("compare", str(state.run_dir), "-n", "0")
    assert done.returncode == 2 and "-n 0 is out of range" in done.stderr


def test_a_tool_whose_last_lines_were_lost_is_run_again(tmp_path):
    """llama.cpp's logger can drop the last lines at exit (exit code 0): try again."""
    from forge_gui.core.base.steps import CancelToken
    from forge_gui.core.evaluation.evaluate import run_until_complete

    counter = tmp_path / "tries"
    tool = tmp_path / "tool.py"
    tool.write_text("import pathlib, sys\n"
                    f"p = pathlib.Path({str(counter)!r})\n"
                    "n = int(p.read_text()) + 1 if p.exists() else 1\n"
                    "p.write_text(str(n))\n"
                    "sys.stderr.write('perplexity: 0.5 seconds per pass - ETA ')\n"
                    "if n == 2: sys.stderr.write('Final estimate: PPL = 25.1441 +/- 2.01040\\n')\n")
    log = tmp_path / "eval.log"
    code, out, err = run_until_complete([sys.executable, str(tool)], CancelToken(), log,
                                        lambda o, e: parse_perplexity(e) is not None)
    assert code == 0 and parse_perplexity(err) == (25.1441, 2.0104)
    assert counter.read_text() == "2" and log.read_text().count("$ ") == 2


def test_run_json_can_hold_the_result_without_an_import_cycle():
    """core/runs/run.py may import EvaluationResult: evaluate must not import run or pipeline."""
    code = ("import sys, forge_gui.core.evaluation.evaluate as e; "
            "print(any(m in sys.modules for m in "
            "('forge_gui.core.runs.run', 'forge_gui.core.pipeline.walk')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.tools
def test_a_prompt_longer_than_the_context_is_said_not_failed(llama_tools, tiny_gguf, tmp_path):
    from forge_gui.core.base.steps import CancelToken
    from forge_gui.core.evaluation.evaluate import answer
    from forge_gui.core.llamacpp.discover import find_tools

    long_prompt = "### Instruction:\n" + "red green blue yellow " * 200 + "\n\n### Response:\n"
    text = answer(find_tools(), tiny_gguf["f32"], long_prompt, 42, 8, CancelToken(),
                  tmp_path / "a.log", ctx=256)
    assert text.startswith("(not asked: the prompt is ") and "context of 256" in text


@pytest.mark.tools
def test_a_fine_tune_that_is_only_a_lora_adapter_runs_on_its_base(llama_tools, tiny_gguf,
                                                                    tmp_path):
    """The lora method's result may be a GGUF LoRA: measured as base + --lora ADAPTER."""
    from types import SimpleNamespace

    from forge_gui.core.data import prepare_training_data
    from forge_gui.core.evaluation.evaluate import evaluate

    data = write_colour_dataset(tmp_path / "c.jsonl", records=80)
    prepared = prepare_training_data([data], tmp_path / "train.txt", val_fraction=0.5, seed=1)
    artifacts = SimpleNamespace(base_gguf=tiny_gguf["f32"], train_base_gguf=tiny_gguf["f32"],
                                output_gguf=tiny_gguf["lora"], prepared_val=prepared.val_out,
                                held_out=prepared.held_out)
    settings = SimpleNamespace(ctx=256, seed=42, threads=None, gpu_layers=None, tools_dir=None)
    log = tmp_path / "eval.log"
    result = evaluate(run_dir=tmp_path, settings=settings, artifacts=artifacts, n_prompts=1,
                      log_file=log)
    assert result.base.gguf == tiny_gguf["f32"] and result.tuned.gguf == tiny_gguf["lora"]
    assert result.base.loss > 8 and result.tuned.loss > 8  # a random adapter: no better
    assert result.tuned.perplexity != result.base.perplexity  # but it was applied
    assert log.read_text().count(f"--lora {tiny_gguf['lora']}") == 2  # perplexity + completion


def test_prompts_from_a_file_are_rendered_in_the_bases_own_chat_format(tmp_path):
    """A run trained in its base's own template (Llama 3.2's here) is asked its --prompts in
    that template, as it learnt them, not in Forge's plain text."""
    from forge_gui.core.formats.template_format import template_format
    from forge_gui.core.llamacpp.build import source_dir

    path = source_dir() / "models" / "templates" / "meta-llama-Llama-3.2-3B-Instruct.jinja"
    if not path.is_file():
        pytest.skip("the llama.cpp source tree (templates) is not extracted yet")
    fmt = template_format(path.read_text("utf-8"), "<|begin_of_text|>", "<|eot_id|>")
    plain = tmp_path / "p.txt"
    plain.write_text("Name a colour.\n")
    (row,) = prompts_from_file(plain, 5, fmt=fmt)
    assert row.rendered == fmt.prompt([("user", "Name a colour.")])
    assert row.rendered.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "### Instruction" not in row.rendered
    records = write_colour_dataset(tmp_path / "r.jsonl", records=2)
    rows = prompts_from_file(records, 2, fmt=fmt)
    assert all(r.rendered.startswith("<|start_header_id|>system") and r.prompt in r.rendered
               for r in rows)
