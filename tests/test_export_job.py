"""forge-cli export-job (core/export): the folder a GPU host runs with Axolotl, read back and
checked — data, YAML (against Axolotl's documented keys), DeepSpeed config, README commands —
and hostile names and paths."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from fixtures_llama import CHATML_TEMPLATE
from tinymodel import make_tiny_model

from forge_gui.cli import main
from forge_gui.core.export import axolotl as ax

RECORDS = [{"instruction": "What colour is the sky?", "output": "Blue."},
           {"instruction": "Sum", "input": "2 and 2", "output": "4"},
           {"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "Hi \"there\"\nfriend"},
                         {"role": "assistant", "content": "Hello ünïcode ✓"}]}]


@pytest.fixture(scope="module")
def chatml_base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export base 'quoted\"")
    return make_tiny_model(folder / "qwen like.gguf", "f16", chat_template=CHATML_TEMPLATE)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), "utf-8")
    return path


def _export(capsys, *argv):
    code = main(["export-job", "--engine", "axolotl", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_writes_a_job_axolotl_can_run(tmp_path, data, chatml_base, capsys):
    job = tmp_path / "job"
    code, out, err = _export(capsys, "--hf-base", "acme/tiny-chat-0.5B", "--data", data,
                             "--base-gguf", chatml_base, "--lora-rank", 8, "--lora-alpha", 16,
                             "--lora-modules", "attn_q,attn_v,ffn_down", "--lr", 2e-4,
                             "--epochs", 3, "--ctx", 1024, "--name", "my-qwen", job)
    assert code == 0, err
    assert "warning" not in err and f"Wrote {job}" in out
    assert sorted(p.name for p in job.iterdir()) == sorted(
        ["axolotl.yaml", "deepspeed_zero2.json", "README.md", "forge-job.json", "data"])
    config = yaml.safe_load((job / "axolotl.yaml").read_text("utf-8"))
    ax.validate(config)
    assert config["base_model"] == "acme/tiny-chat-0.5B"
    assert config["chat_template"] == "tokenizer_default" and config["adapter"] == "lora"
    assert (config["lora_r"], config["lora_alpha"]) == (8, 16)
    assert config["lora_target_modules"] == ["q_proj", "v_proj", "down_proj"]
    assert (config["learning_rate"], config["num_epochs"], config["sequence_len"]) == (2e-4, 3, 1024)
    assert config["sample_packing"] is True and config["bf16"] == "auto"
    (dataset,) = config["datasets"]
    assert dataset["path"] == "data/train.jsonl" and dataset["type"] == "chat_template"
    assert dataset["roles_to_train"] == ["assistant"] and dataset["train_on_eos"] == "turn"
    assert "test_datasets" not in config and "&id" not in (job / "axolotl.yaml").read_text()
    lines = (job / "data" / "train.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"messages": [{"role": "user", "content": "What colour is the sky?"},
                      {"role": "assistant", "content": "Blue."}]},
        {"messages": [{"role": "user", "content": "Sum\n\n2 and 2"},
                      {"role": "assistant", "content": "4"}]},
        {"messages": RECORDS[2]["messages"]}]
    zero = json.loads((job / "deepspeed_zero2.json").read_text())
    assert zero["zero_optimization"]["stage"] == 2 and zero["train_batch_size"] == "auto"
    readme = (job / "README.md").read_text("utf-8")
    assert "\n    axolotl train axolotl.yaml\n" in readme
    assert ("axolotl train axolotl.yaml --deepspeed deepspeed_zero2.json --launcher torchrun "
            "-- --nproc_per_node=N") in readme
    home = next(line.strip() for line in readme.splitlines() if "forge-cli retrain" in line)
    assert shlex.split(home) == ["forge-cli", "retrain", "--adapter", "outputs/lora",
                                 "--base-gguf", str(chatml_base), "--name", "my-qwen"]
    assert json.loads((job / "forge-job.json").read_text())["home_command"] == home


def test_held_out_records_go_to_a_test_dataset(tmp_path, data, capsys):
    job = tmp_path / "job"
    code, out, err = _export(capsys, "--hf-base", "org/model", "--val-fraction", 0.3,
                             "--data", data, job)
    assert code == 0, err
    config = yaml.safe_load((job / "axolotl.yaml").read_text("utf-8"))
    assert config["test_datasets"][0]["path"] == "data/val.jsonl"
    assert len((job / "data" / "val.jsonl").read_text().splitlines()) == 1
    assert len((job / "data" / "train.jsonl").read_text().splitlines()) == 2
    readme = (job / "README.md").read_text("utf-8")
    assert "--base OLLAMA_BASE_MODEL --name model-tuned" in readme


def test_a_base_that_does_not_look_like_the_hf_model_is_warned_about(tmp_path, data, capsys,
                                                                      chatml_base):
    llama = make_tiny_model(tmp_path / "llama.gguf", "f16")
    code, _, err = _export(capsys, "--hf-base", "Qwen/Qwen2.5-7B-Instruct", "--data", data,
                           "--base-gguf", llama, tmp_path / "job")
    assert code == 0
    assert ("warning: The GGUF base is a llama model but Qwen/Qwen2.5-7B-Instruct looks like a "
            "qwen model") in err
    code, _, err = _export(capsys, "--hf-base", "meta-llama/Llama-3.2-1B-Instruct", "--data",
                           data, "--base-gguf", chatml_base, tmp_path / "job2")
    assert code == 0 and ("The GGUF base's chat template is ChatML's but "
                          "meta-llama/Llama-3.2-1B-Instruct uses Llama 3's") in err
    assert "Check:" in (tmp_path / "job2" / "README.md").read_text()


@pytest.mark.parametrize("hf_base", ['org/na"me', "org/name\nrm -rf /", "../etc/passwd",
                                     "org/..", "org/name/extra", "", "org/name'"])
def test_hostile_model_ids_are_refused_before_anything_is_written(hf_base, tmp_path, data,
                                                                   capsys):
    code, _, err = _export(capsys, "--hf-base", hf_base, "--data", data, tmp_path / "job")
    assert code == 2 and "is not a Hugging Face model id" in err
    assert "Traceback" not in err and not (tmp_path / "job").exists()


def test_a_folder_that_is_not_empty_is_never_written_into(tmp_path, data, capsys):
    job = tmp_path / "job"
    job.mkdir()
    (job / "axolotl.yaml").write_text("mine")
    code, _, err = _export(capsys, "--hf-base", "org/m", "--data", data, job)
    assert code == 2 and "is not empty" in err
    assert [p.name for p in job.iterdir()] == ["axolotl.yaml"]
    assert (job / "axolotl.yaml").read_text() == "mine"
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = _export(capsys, "--hf-base", "org/m", "--data", data, "--", afile)
    assert code == 2 and "not a folder" in err and afile.read_text() == "x"


def test_odd_folder_and_base_names_are_kept_exactly(tmp_path, data, capsys):
    odd = tmp_path / "a 'b' \"c\" $(x)\nd"
    base = tmp_path / "base ' $HOME.gguf"
    make_tiny_model(base, "f16")
    code, _, err = _export(capsys, "--hf-base", "meta-llama/Llama-3.2-1B", "--data", data,
                           "--base-gguf", base, odd)
    assert code == 0, err
    readme = (odd / "README.md").read_text("utf-8")
    home = next(line.strip() for line in readme.splitlines() if "forge-cli retrain" in line)
    assert shlex.split(home)[5] == str(base)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
    # an empty folder that exists is used
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _export(capsys, "--hf-base", "org/m", "--data", data, empty)[0] == 0
    assert (empty / "axolotl.yaml").is_file()


def test_invalid_data_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "no answer"}\n{not json\n', "utf-8")
    code, _, err = _export(capsys, "--hf-base", "org/m", "--data", bad, tmp_path / "job")
    assert code == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


@pytest.mark.parametrize("argv, words", [
    (["--lora-rank", "0"], "The LoRA rank must be"),
    (["--ctx", "1000"], "multiple of 256"),
    (["--lora-modules", "attn_x"], "unknown layer"),
    (["--name", "bad name!"], "--name"),
    (["--base", "x:1b", "--base-gguf", "y.gguf"], "give the base once"),
])
def test_bad_settings_are_one_sentence_and_exit_2(argv, words, tmp_path, data, capsys):
    code, _, err = _export(capsys, "--hf-base", "org/m", "--data", data, *argv, tmp_path / "job")
    assert code == 2 and words in err and not (tmp_path / "job").exists()


def test_the_check_refuses_what_axolotl_does_not_document():
    good = ax.build_config(hf_base="org/m", lora_rank=4, lora_alpha=8, modules=["q_proj"],
                           learning_rate=1e-4, epochs=1, ctx=512, seed=1, has_val=False)
    ax.validate(good)
    for bad, words in [({**good, "lora_rnak": 4}, "'lora_rnak' is not a key"),
                       ({**good, "lora_r": "4"}, "'lora_r' must be int"),
                       ({**good, "sample_packing": 1}, "'sample_packing' must be bool"),
                       ({**good, "bf16": "yes"}, "bf16 must be"),
                       ({**good, "datasets": [{**good["datasets"][0], "train_on_eos": "x"}]},
                        "train_on_eos must be")]:
        with pytest.raises(ax.ConfigError, match=words):
            ax.validate(bad)


def test_forge_layer_names_map_to_hugging_face_modules():
    assert ax.hf_modules("all") == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                    "up_proj", "down_proj"]
    assert ax.hf_modules("attn_q,attn_k,attn_o,ffn_up,ffn_gate", "phi3") == [
        "qkv_proj", "o_proj", "gate_up_proj"]
