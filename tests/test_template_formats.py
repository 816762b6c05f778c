"""Every popular family trains in its own chat format (issue 20, docs/training.md "Which format
is trained"): tiny vocab-only GGUFs carrying each family's real tokenizer
(models/ggml-vocab-*.gguf) and real chat template (models/templates/*.jinja) from the pinned
llama.cpp source tree, read through inspect_gguf + detect as a run reads a base.

- the trained text of single-turn, system-prompt and multi-turn records is exactly the answers
  and their end-of-turn markers, and the whole text is the template's own render (no BOS);
- the Ollama TEMPLATE Forge derives renders the training prompt, with Go's own text/template,
  and Forge's model of text/template (the check the pipeline runs without Go) agrees with Go;
- the segments survive tokenization as the patched trainer tokenizes them: every boundary falls
  between two tokens of the whole text (llama-tokenize from the tool cache).
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import gguf
import pytest
from tinymodel import splice_records

from forge_gui.core.formats.chat_format import ChatFormat, messages_of
from forge_gui.core.formats.detect import detect
from forge_gui.core.formats.template_check import check_go_template, render_go
from forge_gui.core.llamacpp.build import source_dir, tools_cache_root
from forge_gui.core.llamacpp.gguf_header import read_header
from forge_gui.core.llamacpp.gguf_info import inspect_gguf

PHI4 = ("{% for message in messages %}{% if (message['role'] == 'system') %}"
        "{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}"
        "{% elif (message['role'] == 'user') %}"
        "{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|>'}}"
        "{% elif (message['role'] == 'assistant') %}"
        "{{'<|im_start|>assistant<|im_sep|>' + message['content'] + '<|im_end|>'}}"
        "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}")

# Two families whose templates the pinned llama.cpp tree does not carry, as their models ship
# them (tokenizer_config.json's chat_template): Gemma 3 (google/gemma-3-*-it) and Mixtral
# (mistralai/Mixtral-8x7B-Instruct-v0.1, the same text Ollama's converter knows).
GEMMA3 = (
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/"
    "assistant/...\") }}\n    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n{%- endif -%}\n")
MIXTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/"
    "assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}")

R1_EOT = "<｜end▁of▁sentence｜>"
QWEN3_EMPTY_THINK = "<think>\n\n</think>\n\n"
# family -> (template file or Phi-4's text, vocab, end-of-turn, what the last answer starts with)
FAMILIES = {
    "llama-3.1": ("meta-llama-Llama-3.1-8B-Instruct", "llama-bpe", "<|eot_id|>", ""),
    "llama-3.2": ("meta-llama-Llama-3.2-3B-Instruct", "llama-bpe", "<|eot_id|>", ""),
    "llama-3.3": ("meta-llama-Llama-3.3-70B-Instruct", "llama-bpe", "<|eot_id|>", ""),
    "qwen-2.5": ("Qwen-Qwen2.5-7B-Instruct", "qwen2", "<|im_end|>", ""),
    "qwen-3": ("Qwen-Qwen3-0.6B", "qwen35", "<|im_end|>", QWEN3_EMPTY_THINK),
    "smollm-3": ("HuggingFaceTB-SmolLM3-3B", "qwen2", "<|im_end|>", ""),
    "gemma-2": ("google-gemma-2-2b-it", "gemma-4", "<end_of_turn>", ""),
    "gemma-3": (GEMMA3, "gemma-4", "<end_of_turn>", ""),
    "mistral-nemo": ("mistralai-Mistral-Nemo-Instruct-2407", "llama-spm", "</s>", ""),
    "mixtral": (MIXTRAL, "llama-spm", "</s>", ""),
    "phi-3.5": ("microsoft-Phi-3.5-mini-instruct", "phi-3", "<|end|>", ""),
    "phi-4": (PHI4, "qwen2", "<|im_end|>", ""),
    "deepseek-r1-llama": ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B", "deepseek-llm", R1_EOT, ""),
    "deepseek-r1-qwen": ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "deepseek-llm", R1_EOT, ""),
}

RECORDS = {
    "single-turn": (("user", "What colour is the sky?", None),
                    ("assistant", "The sky is blue.", None)),
    "system prompt": (("system", "Answer in one word.", None),
                      ("user", "What colour is grass?", None), ("assistant", "Green.", None)),
    "multi-turn": (("system", "You are terse.", None), ("user", "Name a fruit.", None),
                   ("assistant", "An apple.", None), ("user", "And a vegetable?", None),
                   ("assistant", "A carrot.", None), ("user", "Thanks", None)),
}


@pytest.fixture(scope="session")
def models_dir() -> Path:
    models = source_dir() / "models"
    if not (models / "templates").is_dir():
        pytest.skip("the llama.cpp source tree (tokenizers, templates) is not extracted yet")
    return models


def _write_family(models: Path, family: str, out: Path) -> Path:
    """A vocab-only GGUF: the family's real tokenizer with its real chat template."""
    template, vocab, _, _ = FAMILIES[family]
    source = template if "{%" in template else (models / "templates" / f"{template}.jinja"
                                                ).read_text("utf-8")
    vocab_file = models / f"ggml-vocab-{vocab}.gguf"
    header = read_header(vocab_file)
    writer = gguf.GGUFWriter(out, str(header.fields["general.architecture"]))
    writer.add_string("tokenizer.chat_template", source)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    splice_records(out, vocab_file, [key for key in header.spans if key not in (
        "general.architecture", "tokenizer.chat_template")])  # the rest, byte for byte
    return out


@pytest.fixture(scope="session")
def family_gguf(models_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    made: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in made:
            made[family] = _write_family(models_dir, family, folder / f"{family}.gguf")
        return made[family]
    return get


def _format(path: Path) -> ChatFormat:
    info = inspect_gguf(path)
    fmt, why = detect(info.chat_template, info.bos_token, info.eos_token)
    assert fmt.key == "template", why
    return fmt


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_trains_the_answers_and_their_end_of_turn_only(family, family_gguf):
    fmt = _format(family_gguf(family))
    info = inspect_gguf(family_gguf(family))
    _, _, eot, think = FAMILIES[family]
    expected = {
        "single-turn": [f"{think}The sky is blue.{eot}"],
        "system prompt": [f"{think}Green.{eot}"],
        # Qwen 3 renders the empty think block only after the last question
        "multi-turn": [f"An apple.{eot}", f"{think}A carrot.{eot}"],
    }
    for name, turns in RECORDS.items():
        segments = fmt.segments(turns)
        assert [t for t, trained in segments if trained] == expected[name], name
        text = "".join(t for t, _ in segments)
        assert info.bos_token and not text.startswith(info.bos_token)  # the trainer adds it
        answered = [m for m in messages_of(turns)][:-1 if turns[-1][0] == "user" else None]
        assert text == fmt.engine.render(answered).rstrip("\n") + text[len(text.rstrip("\n")):]
        untrained = "".join(t for t, trained in segments if not trained)
        for role, content, _ in turns[:-1] if turns[-1][0] == "user" else turns:
            if role != "assistant":  # every question and system prompt is in the text, untrained
                assert content in untrained, (name, content)
        assert "Thanks" not in text  # a question without an answer trains nothing


def test_the_formats_say_what_they_do_with_a_system_prompt(family_gguf):
    gemma = _format(family_gguf("gemma-2"))  # Gemma 2's template raises on a system message
    turns = RECORDS["system prompt"]
    assert gemma.segments(turns)[0][0].startswith(
        "<start_of_turn>user\nAnswer in one word.\n\nWhat colour is grass?")
    info = inspect_gguf(family_gguf("gemma-2"))
    assert "system prompt is put before the first user message" in detect(
        info.chat_template, info.bos_token, info.eos_token)[1]
    # Qwen 2.5's template adds its default system prompt when a record has none
    qwen = _format(family_gguf("qwen-2.5"))
    assert "You are Qwen, created by Alibaba Cloud" in qwen.segments(RECORDS["single-turn"])[0][0]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_ollama_template_renders_the_training_prompt_with_real_go(family, family_gguf,
                                                                     go_template):
    fmt = _format(family_gguf(family))
    for turns in RECORDS.values():
        messages = messages_of(turns)
        for k, (role, _) in enumerate(messages):
            if role != "assistant":
                continue
            text = "".join(t for t, _ in fmt.segments(turns))
            go = go_template(fmt.go_template, messages[:k])
            assert go == fmt.prompt(messages[:k])
            assert go == render_go(fmt.go_template, messages[:k])  # the model of Go agrees
            if k == len(messages) - 1 or messages[-1][0] == "user" and k == len(messages) - 2:
                # the last answer: the training text is that prompt + the answer …
                assert text.startswith(go) or family.startswith("deepseek-r1")
    assert check_go_template(fmt, fmt.go_template,
                             [messages_of(t) for t in RECORDS.values()]) == []


def test_the_check_says_where_a_template_differs(family_gguf):
    fmt = _format(family_gguf("llama-3.1"))
    other = _format(family_gguf("qwen-2.5"))
    problems = check_go_template(fmt, other.go_template, [messages_of(RECORDS["single-turn"])])
    assert problems and "renders a different prompt at character 2" in problems[0]


def test_a_date_line_follows_the_day_the_run_renders(models_dir):
    """Llama 3.2's template writes today's date (strftime_now) into its system block."""
    from forge_gui.core.formats.jinja_chat import JinjaChat

    source = (models_dir / "templates" / "meta-llama-Llama-3.2-3B-Instruct.jinja").read_text()
    chat = JinjaChat(source, "<|begin_of_text|>", "<|eot_id|>",
                     now=lambda: datetime.datetime(2025, 3, 1))
    assert "Today Date: 01 Mar 2025" in chat.render([("user", "Hi")], True)


def _tokenize_binary() -> Path | None:
    found = shutil.which("llama-tokenize")
    candidates = sorted(tools_cache_root().glob("*/bin/llama-tokenize"))
    return Path(found) if found else (candidates[0] if candidates else None)


def token_ids(binary: Path, model: Path, text: str, tmp: Path) -> list[int]:
    """The tokens of `text` as llama-tokenize (`binary`) makes them with `model`'s vocabulary."""
    file = tmp / "text.txt"
    file.write_text(text, "utf-8", newline="")
    done = subprocess.run([str(binary), "-m", str(model), "-f", str(file), "--ids",
                           "--log-disable"], capture_output=True, text=True, timeout=120,
                          check=True)
    return [int(i) for i in done.stdout.strip().splitlines()[-1].strip("[]").split(",")]


# How the patched trainer maps segments to tokens (docs/training.md, "How the trainer is fed"):
# it tokenizes the whole text once (BOS by the tokenizer's rule, special tokens parsed) and finds
# where each segment ends by tokenizing the text up to there. Tokenizing segments one by one
# would not do: SentencePiece tokenizers (Mistral's, Phi-3's: add_space_prefix) put a space
# before the text of every call.
@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "phi-4"])
def test_segments_survive_tokenization(family, family_gguf, tmp_path):
    """Every segment boundary falls between two tokens of the whole text: the tokens of the
    text up to a boundary are the first tokens of the whole text, so the trained tokens are
    exactly the answers' (no token spans an answer's start or end)."""
    binary = _tokenize_binary()
    if binary is None:
        pytest.skip("llama-tokenize is not built in the tool cache yet")
    path = family_gguf(family)
    fmt = _format(path)
    segments = fmt.segments(RECORDS["multi-turn"])

    def ids(text: str) -> list[int]:
        return token_ids(binary, path, text, tmp_path)

    text = "".join(t for t, _ in segments)
    whole = ids(text)
    end = 0
    for piece, _ in segments[:-1]:
        end += len(piece)
        prefix = ids(text[:end])
        assert whole[:len(prefix)] == prefix, (family, text[:end][-30:])


def test_prepare_writes_segments_in_the_base_format_and_plain_with_its_eos(tmp_path,
                                                                          family_gguf):
    import json

    from forge_gui.core.data import prepare_training_data
    from forge_gui.core.formats.chat_format import PLAIN

    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}) + "\n")
    fmt = _format(family_gguf("llama-3.1"))
    out = prepare_training_data([data], tmp_path / "train.jsonl", fmt="segments-jsonl",
                                chat_format=fmt).out
    segments = json.loads(out.read_text("utf-8"))["segments"]
    assert [t for t, trained in segments if trained] == ["Hello.<|eot_id|>"]
    out = prepare_training_data([data], tmp_path / "plain.jsonl", fmt="segments-jsonl",
                                chat_format=PLAIN.with_eos("</s>")).out
    segments = json.loads(out.read_text("utf-8"))["segments"]
    assert segments == [["### Instruction:\nHi\n\n### Input:\n(none)\n\n### Response:\n", False],
                        ["Hello.\n", True], ["</s>", True]]
