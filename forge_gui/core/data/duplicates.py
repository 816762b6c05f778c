"""The duplicate check: a stable digest of each record and a bounded table of those seen.

The digest is blake2b of the normalised record, the same in every process: worker processes
(forked or spawned, docs/data.md "Numbers") send the parent their records' digests and the
parent compares them with the table. Python's `hash()` would not do there: string hashes are
salted per process (PYTHONHASHSEED), so under spawn (macOS, Windows) equal records from two
workers would look different. A scan that stays in one process keys on `hash()`: the same
table, the same odds, no digest to compute (it costs ~25 % of a scan's CPU time).
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import orjson

log = logging.getLogger(__name__)

# 8 bytes: the table stores 64-bit keys. Two different records share a digest with odds of
# about n^2 / 2^65: one in ten million at the table's ~1.4 million records.
DIGEST_BYTES = 8


def digest(turns: Any) -> int:
    """A nonzero signed 64-bit digest of a normalised record (its turns), stable across
    processes and runs."""
    try:
        data = orjson.dumps(turns)
    except TypeError:  # a lone surrogate (never from orjson's own parse): still hashable
        data = repr(turns).encode("utf-8", "surrogatepass")
    key = int.from_bytes(hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest(),
                         "little", signed=True)
    return key or 1  # 0 marks an empty slot


class SeenHashes:
    """Open-addressing set of 64-bit record digests with where each was first seen.

    Sized from the input's size up front (growing means holding two tables at once), at most
    `max_slots` (16 bytes a slot, 32 MB); when full, new records are still compared with the
    ones stored but no longer added, and the report says so.
    """

    def __init__(self, expected_records: int = 0, max_slots: int = 1 << 21) -> None:
        self.max_slots = max_slots
        self.full = False
        slots = 1 << 12
        while slots < max_slots and slots * 7 < expected_records * 10:
            slots *= 2
        self._reset(slots)

    def _reset(self, slots: int) -> None:
        self.slots = slots
        self.mask = slots - 1
        self.keys = array("q", [0]) * slots
        self.where = array("q", [0]) * slots
        self.count = 0

    def release(self) -> None:
        """Drop the table's memory (a forked worker's copy of the parent's: unused there,
        and counted again once the parent writes to its own)."""
        self.keys = array("q")
        self.where = array("q")

    def check_add(self, key: int, where: int) -> int | None:
        """Where `key` was first seen, or None after adding it (if there is room)."""
        key = key or 1  # 0 marks an empty slot
        keys, mask = self.keys, self.mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self.where[slot]
            if found == 0:
                break
            slot = (slot + 1) & mask
        if self.full:
            return None
        keys[slot] = key
        self.where[slot] = where
        self.count += 1
        if self.count * 10 > self.slots * 7:
            self._grow()
        return None

    def _grow(self) -> None:
        if self.slots * 2 > self.max_slots:
            self.full = True
            log.info("duplicate table full at %d records: later ones are compared, not added",
                     self.count)
            return
        old_keys, old_where = self.keys, self.where
        self._reset(self.slots * 2)
        for i, k in enumerate(old_keys):
            if k:
                self.check_add(k, old_where[i])


def check_batch(seen: SeenHashes, keys: array, lines: array, index: int, offset: int,
                check: Callable[[int, int], None]) -> None:
    """The duplicate check for a chunk's records, as if `check(key, line)` ran for each one
    in file order.

    A record whose digest lands in an empty slot of the table, a slot no other record of the
    chunk lands in, is new: numpy stores all of those at once (in the table's own memory).
    The rest (possible duplicates, collisions) take the one-by-one check, in order. That
    split is exact: two equal digests always share a slot, so both take the slow path.
    """
    slow: Sequence[int] = range(len(keys))
    np = _numpy()
    if np is not None and keys and (seen.count + len(keys)) * 10 < seen.slots * 7:
        digests = np.frombuffer(keys, dtype=np.int64)
        home = digests & seen.mask
        table = np.frombuffer(seen.keys, dtype=np.int64)
        _, first, repeats = np.unique(home, return_index=True, return_counts=True)
        alone = np.zeros(len(digests), dtype=bool)
        alone[first[repeats == 1]] = True
        new = alone & (table[home] == 0)
        table[home[new]] = digests[new]
        where = np.frombuffer(seen.where, dtype=np.int64)
        where[home[new]] = (index << 40) | (np.frombuffer(lines, dtype=np.int64)[new] + offset)
        seen.count += int(new.sum())
        del table, where  # release the views: the table may be replaced when it grows
        slow = np.flatnonzero(~new).tolist()
    elif np is not None and keys and seen.full:
        slow = _stored_already(np, np.frombuffer(keys, dtype=np.int64), seen)
    for i in slow:
        check(keys[i], lines[i] + offset)


def _stored_already(np: ModuleType, keys: Any, seen: SeenHashes) -> list[int]:
    """Positions of the keys found in a full table (which takes no new ones): each key's
    probe sequence followed for all keys at once, until its key or an empty slot."""
    table = np.frombuffer(seen.keys, dtype=np.int64)
    where = np.arange(len(keys))
    slot = keys & seen.mask
    found = []
    while where.size:
        stored = table[slot]
        hit = stored == keys[where]
        found.append(where[hit])
        going_on = ~hit & (stored != 0)
        where, slot = where[going_on], (slot[going_on] + 1) & seen.mask
    del table
    result: list[int] = np.sort(np.concatenate(found)).tolist()
    return result


def _numpy() -> ModuleType | None:
    """numpy, imported on first use (it takes ~0.1 s: only big files need it), or None
    where it is missing: the one-by-one check then does all the work."""
    try:
        import numpy
    except ImportError:  # pragma: no cover
        log.debug("numpy is missing: the duplicate check goes one record at a time")
        return None
    return numpy
