"""Input rules live in core (core/runs/rules.py): forge-cli and the wizard give the same verdict,
in core's own sentence, for the same input (issue 12, "Rules in core")."""

from __future__ import annotations

import shlex

from forge_gui.cli import main
from forge_gui.core.runs.rules import setting_problems


def _cli(capsys, data, base, *extra) -> tuple[int, str]:
    code = main(["train-run", "--data", str(data), "--base-gguf", str(base), *extra])
    return code, capsys.readouterr().err


def test_a_context_the_cli_refuses_the_trainer_page_refuses_in_the_same_words(
        qtbot, wizard, data_folder, tmp_path, capsys):
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")  # the settings are refused before the file is read
    sentence = setting_problems({"ctx": 300})[0]
    code, err = _cli(capsys, data_folder, base, "--name", "t", "--ctx", "300")
    assert code == 2 and sentence in err

    page = wizard.trainer_page
    page.ctx.setValue(300)  # typed into the box: not a multiple of 256
    assert page.ctx.value() == 300
    assert not page.isComplete()
    assert sentence in page.problem_label.text()

    page.ctx.setValue(512)  # a context both accept
    assert page.problem() is None and page.problem_label.text() == ""
    assert setting_problems({"ctx": 512}) == []


def test_ranges_are_the_same_in_both_front_ends(qtbot, wizard, data_folder, tmp_path, capsys):
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    page = wizard.trainer_page
    page.advanced.setChecked(True)
    page.lora_alpha.setValue(0.05)  # below the box's minimum: the box holds core's range
    assert page.lora_alpha.value() >= 0.1
    code, err = _cli(capsys, data_folder, base, "--name", "t", "--lora-alpha", "0.05")
    assert code == 2 and setting_problems({"lora_alpha": 0.05})[0] in err
    page.lora_modules.setText("attn_q,not_a_layer")
    sentence = setting_problems({"lora_modules": "attn_q,not_a_layer"})[0]
    assert not page.isComplete() and sentence in page.problem_label.text()
    code, err = _cli(capsys, data_folder, base, "--name", "t", "--lora-modules",
                     "attn_q,not_a_layer")
    assert code == 2 and sentence in err


def test_library_foo_is_foo_for_the_cli_and_the_name_page(qtbot, wizard, data_folder, tmp_path,
                                                          capsys, ollama):
    """Ollama fills in library/ and :latest and folds case: 'library/Foo' is the model 'foo'."""
    ollama.add_model("foo:latest")
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    code, err = _cli(capsys, data_folder, base, "--name", "library/Foo", "--host", ollama.url)
    assert code == 2 and "already exists" in err

    wizard.base_page.host.setText(ollama.url)
    wizard.base_page.refresh()
    qtbot.waitUntil(lambda: wizard.base_page.models == ["foo:latest"], timeout=15000)
    page = wizard.name_page
    page.name_edit.setText("library/Foo")
    assert not page.isComplete() and "already exists" in page.name_state.text()


def test_a_name_the_cli_refuses_the_name_page_refuses_in_the_same_words(
        qtbot, wizard, data_folder, tmp_path, capsys):
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    code, err = _cli(capsys, data_folder, base, "--name", "me/my.model/x:v1")
    problem = err.split("cannot be an Ollama model name. ", 1)[1].strip()
    assert code == 2 and problem
    page = wizard.name_page
    page.name_edit.setText("me/my.model/x:v1")
    assert not page.isComplete() and problem in page.name_state.text()


def test_the_done_page_shows_core_s_finish_command_quoted_for_a_shell(qtbot, wizard, tmp_path):
    """A run folder with a space: the command on the Done page must survive copy and paste."""
    from forge_gui.core.registration.register import finish_command
    from forge_gui.core.runs.run import RunArtifacts, RunSettings

    run_dir = tmp_path / "my runs" / "run 1"
    settings = RunSettings(data=[tmp_path], name="tiny", create=False)
    modelfile = run_dir / "Modelfile"
    wizard.done_page.show_result(settings, RunArtifacts(modelfile=modelfile), run_dir)
    shown = wizard.done_page.command.text()
    assert shown == finish_command("tiny", modelfile)
    assert shlex.split(shown) == ["ollama", "create", "tiny", "-f", str(modelfile)]


def test_the_trainer_page_s_preflight_gives_the_run_s_verdict(qtbot, wizard, tmp_path, capsys,
                                                              tiny_chatml, gui_tools_dir):
    """Conversations longer than the window are skipped, so nothing is left to pack. The run
    refuses that at its preflight; "Count tokens exactly" on the Trainer page must say so too
    (in the app's words)."""
    from fixtures_gui import open_trainer_page, write_jsonl

    long_answer = " ".join(f"word{i}" for i in range(600))
    data = write_jsonl(tmp_path / "long.jsonl", [{"instruction": f"Recite list {n}.",
                                                  "output": long_answer} for n in range(6)])
    code = main(["train-run", "--data", str(data), "--base-gguf", str(tiny_chatml), "--name", "t",
                 "--ctx", "256", "--no-create", "--workdir", str(tmp_path / "run"),
                 "--tools-dir", str(gui_tools_dir)])
    err = capsys.readouterr().err
    assert code == 1
    verdict = next(line for line in err.splitlines() if "window(s) of" in line)
    verdict = verdict.removeprefix("forge-cli: ")

    page = open_trainer_page(qtbot, wizard, data, tiny_chatml, gui_tools_dir)
    page.ctx.setValue(256)
    page.preflight_button.click()
    qtbot.waitUntil(lambda: page.preflight_label.text().startswith(("✔", "✘")), timeout=120000)
    shown = page.preflight_label.text()
    assert shown.startswith("✘") and verdict in shown
    assert "--ctx" not in shown  # the hint in the app's words


def test_the_host_box_starts_with_core_s_reading_of_ollama_host(qtbot, wizard, monkeypatch):
    from forge_gui.core.ollama.client import DEFAULT_HOST, base_url, configured_host

    monkeypatch.setenv("OLLAMA_HOST", "  myhost:1234 ")  # as a shell profile may leave it
    page = wizard.base_page
    monkeypatch.setattr(page, "refresh", lambda: None)  # no network: only the box is checked
    page.initializePage()
    assert page.host.text() == configured_host() == "myhost:1234"
    assert base_url(page.ollama_host()) == base_url(None) == "http://myhost:1234"
    monkeypatch.delenv("OLLAMA_HOST")
    page.host.clear()
    assert page.ollama_host() == DEFAULT_HOST
