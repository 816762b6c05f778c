"""The Name page checks a name the way Ollama compares names, and never calls a name free
when Ollama could not be asked."""

from __future__ import annotations


def _listed(qtbot, wizard, url):
    wizard.base_page.host.setText(url)
    wizard.base_page.refresh()
    qtbot.waitUntil(lambda: not wizard.base_page._tasks.get("list"), timeout=15000)


def test_a_name_differing_only_in_case_is_the_existing_model(qtbot, wizard, ollama):
    ollama.add_model("llama3.2:1b")
    _listed(qtbot, wizard, ollama.url)
    page = wizard.name_page
    page.name_edit.setText("LLAMA3.2:1B")  # Ollama would write over llama3.2:1b
    assert not page.isComplete()
    assert "already exists" in page.name_state.text() and not page.replace.isHidden()
    page.name_edit.setText("Llama3.2:2b")
    assert page.isComplete() and "is free" in page.name_state.text()


def test_with_ollama_down_a_name_is_not_called_free(qtbot, wizard, ollama_down):
    _listed(qtbot, wizard, ollama_down.url)
    state = wizard.base_page.ollama_state.text()
    assert state.count("not reachable") == 1, state  # said once, not "…: Ollama is not …"
    page = wizard.name_page
    page.name_edit.setText("my-model")
    assert "free" not in page.name_state.text()
    assert "could not be asked" in page.name_state.text()


def test_a_name_is_checked_against_the_list_as_soon_as_it_is_shown(qtbot, wizard, ollama,
                                                                  monkeypatch):
    """The list's arrival and its task's end are two queued signals: between the two, the
    Name page must already count the list as known (else a free name reads as unknown)."""
    ollama.add_model("taken:latest")
    base, seen = wizard.base_page, []
    shown = base.set_models

    def set_models(names):
        shown(names)
        seen.append(wizard.name_page.models_known())

    monkeypatch.setattr(base, "set_models", set_models)
    _listed(qtbot, wizard, ollama.url)
    assert seen == [True]
    wizard.name_page.name_edit.setText("free-name")
    assert "is free" in wizard.name_page.name_state.text()
