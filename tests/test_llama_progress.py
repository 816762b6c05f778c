"""The llama-finetune progress parser, on output captured from a real run and on edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge_gui.core.base.lines import LineSplitter
from forge_gui.core.llamacpp.progress import FinetuneProgressParser, epoch_from_log

REAL_LOG = Path(__file__).parent / "data" / "finetune-tiny-3epochs.log"  # -epochs 3 -val-split 0.1


def feed(parser, data: bytes, chunk: int | None = None):
    splitter, events = LineSplitter(), []
    pieces = [data] if chunk is None else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        events += [e for line in splitter.feed(piece) if (e := parser(line))]
    events += [e for line in splitter.flush() if (e := parser(line))]
    return events


def test_real_run_gives_whole_run_progress_losses_and_epochs():
    parser = FinetuneProgressParser(epochs=3, val_split=0.1)
    events = feed(parser, REAL_LOG.read_bytes())
    train = [e for e in events if e.phase == "train"]
    val = [e for e in events if e.phase == "val"]
    assert len(train) == 3 * 52 and len(val) == 3 * 8
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions), "overall progress never goes back"
    assert fractions[-1] == pytest.approx(1.0)
    assert 0.3 < events[len(events) // 3].fraction < 0.37  # a third of the lines, a third done
    assert [e.epoch for e in train[::52]] == [1, 2, 3]
    assert train[0].loss == pytest.approx(10.36533)  # the first batch, reported ±nan
    assert parser.first_loss == pytest.approx(10.36533)
    assert parser.last_loss == pytest.approx(2.81665)
    assert parser.last_val_loss == pytest.approx(2.49284)
    assert train[0].val_loss is None and train[-1].val_loss is not None
    xs = [e.x for e in train]
    assert xs == sorted(xs) and xs[-1] == 3  # in epochs: the chart's x axis
    assert train[26].x == pytest.approx(27 / 52)
    assert xs[51] == pytest.approx(1.0) and xs[52 + 26] == pytest.approx(1 + 27 / 52)
    assert [e.x for e in val][7::8] == [1.0, 2.0, 3.0]
    # ETA for the whole run: large early, zero at the end
    assert train[10].eta_seconds > 10 and events[-1].eta_seconds == pytest.approx(0)


def test_reads_split_at_every_byte_give_the_same_events():
    whole = feed(FinetuneProgressParser(3, 0.1), REAL_LOG.read_bytes())
    bytewise = feed(FinetuneProgressParser(3, 0.1), REAL_LOG.read_bytes(), chunk=1)
    assert [e.model_dump() for e in bytewise] == [e.model_dump() for e in whole]


def test_nan_loss_is_not_reported_as_a_number():
    parser = FinetuneProgressParser(epochs=1, val_split=0.05)
    line = "train: [▏       ] data=0000001/0000010 loss=nan±nan acc=-nan±nan% t=00:00:00 ETA=00:00:01 "
    event = parser(line)
    assert event is not None and event.loss is None and event.accuracy is None
    assert event.fraction == pytest.approx(0.1 * 0.95, rel=0.01)


def test_without_validation_epochs_are_counted_from_the_restart():
    parser = FinetuneProgressParser(epochs=2, val_split=0.0)
    lines = [f"train: [        ] data={i:07d}/0000004 loss={5 - i * 0.1:.5f}±0.1 acc=1.00±0.10% "
             f"t=00:00:0{i} ETA=00:00:01 " for e in range(2) for i in range(1, 5)]
    events = [parser(line) for line in lines]
    assert [e.epoch for e in events] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert events[3].fraction == pytest.approx(0.5) and events[-1].fraction == pytest.approx(1)


def test_other_lines_are_ignored_and_epoch_logs_read():
    parser = FinetuneProgressParser(epochs=1)
    assert parser("llama_model_loader: - type  f32:   21 tensors") is None
    assert parser("") is None
    assert epoch_from_log("0.31.932.700 I epoch 2 lr=0.001") == 2
    assert epoch_from_log("train: nothing") is None
