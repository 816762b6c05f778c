"""The starter sample (`forge-cli train-data init`) trains as it is, at the default settings,
with the real tools: a new user's first run must not stop at the preflight (docs/data.md)."""

from __future__ import annotations

import pytest

from forge_gui.cli import main
from forge_gui.core.runs.run import RunState

pytestmark = pytest.mark.tools


# chatml: each conversation is one 512-token sample, trained one by one (minutes on 2 cores)
@pytest.mark.parametrize("base", ["plain", pytest.param("chatml", marks=pytest.mark.slow)])
def test_the_starter_sample_trains_at_the_default_settings(llama_tools, tiny_gguf, tiny_chatml,
                                                           tmp_path, capsys, base):
    data = tmp_path / "my-data"
    assert main(["train-data", "init", "--out", str(data)]) == 0
    model = tiny_gguf["f32"] if base == "plain" else tiny_chatml
    code = main(["train-run", "--data", str(data), "--base-gguf", str(model), "--name", "t",
                 "--workdir", str(tmp_path / "run"), "--no-create"])
    err = capsys.readouterr().err
    assert code == 0, err
    state = RunState.load(tmp_path / "run")
    assert state.settings.method == "lora" and state.settings.ctx == 512  # the defaults
    assert state.step_record("train").status == "done"
    assert state.artifacts.windows and state.artifacts.windows >= 3
    assert state.artifacts.train_loss_first is not None  # a step really trained
