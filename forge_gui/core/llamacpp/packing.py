"""How Forge's patched llama-finetune-lora packs conversations into windows, computed ahead.

The trainer (resources/llama.cpp/qvac-fabric-57d4c98-forge.patch, common_opt_segments_dataset_init)
puts whole conversations into windows of `ctx` tokens, first-fit decreasing: longest first,
each into the first window with room; a conversation longer than the window is skipped. Each
conversation is its own sequence inside its window (positions from 0, attention only within
itself), so packing changes the cost, not what is learnt. The preflight runs the same plan on
the token counts to say "N conversations in M windows (P % filled)" before anything trains,
and to pick the window from the data (docs/training.md, "A context that fits the data").

    pack_windows(lengths, ctx)   -> the conversations (indices) in each window
    plan_windows(lengths, ctx)   -> Packing (windows, fill, skipped)
    choose_ctx(lengths, most)    -> the window for this data, at most `most` tokens
"""

from __future__ import annotations

from dataclasses import dataclass

LORA_CTX_STEP = 64  # windows are multiples of this (any size trains; ggml's kernels like 64)
CONVERSATIONS_PER_WINDOW = 4  # a window should hold a few typical conversations
MAX_SEQS = 256  # sequences one window may hold (llama.cpp's LLAMA_MAX_SEQ)


@dataclass(frozen=True)
class Packing:
    ctx: int
    windows: int
    conversations: int  # packed (those that fit)
    skipped: int  # longer than the window
    tokens: int  # real tokens packed

    @property
    def filled(self) -> float:
        """Share of the computed positions that are real tokens (the rest is padding)."""
        return self.tokens / (self.windows * self.ctx) if self.windows else 0.0

    def sentence(self) -> str:
        text = (f"{self.conversations:,} conversations in {self.windows:,} windows of "
                f"{self.ctx:,} tokens ({self.filled:.0%} filled)")
        if self.skipped:
            text += f"; {self.skipped:,} longer than the window skipped"
        return text


def round_ctx(ctx: int) -> int:
    return max(LORA_CTX_STEP, -(-ctx // LORA_CTX_STEP) * LORA_CTX_STEP)


def pack_windows(lengths: list[int], ctx: int) -> list[list[int]]:
    """First-fit decreasing, as the trainer does it (same order, same rule): the indices of
    the conversations in each window; those longer than the window are in none."""
    room: list[int] = []
    windows: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = lengths[i]
        if n > ctx:
            continue
        for w, free in enumerate(room):
            if free >= n and len(windows[w]) < MAX_SEQS:
                room[w] -= n
                windows[w].append(i)
                break
        else:
            room.append(ctx - n)
            windows.append([i])
    return windows


def plan_windows(lengths: list[int], ctx: int) -> Packing:
    """What packing `lengths` into windows of `ctx` gives (pack_windows, counted)."""
    windows = pack_windows(lengths, ctx)
    packed = [i for window in windows for i in window]
    return Packing(ctx, len(windows), len(packed), len(lengths) - len(packed),
                   sum(lengths[i] for i in packed))


def choose_ctx(lengths: list[int], most: int) -> int:
    """The window for this data: the smallest multiple of 64 that holds the longest
    conversation and a few typical ones, at most `most` (the user's context). Small windows
    make more, cheaper steps; the trainer's cost follows the real tokens either way."""
    if not lengths:
        return round_ctx(most)
    ordered = sorted(lengths)
    median = ordered[len(ordered) // 2]
    want = max(ordered[-1], CONVERSATIONS_PER_WINDOW * median)
    return min(round_ctx(want), round_ctx(most))
