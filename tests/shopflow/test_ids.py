"""Pooled random ids: real version-4 UUIDs, never repeated, not even across a fork."""

from __future__ import annotations

import os
import uuid

from shopflow import ids


def test_ids_are_version_4_uuids_and_never_repeat() -> None:
    drawn = [ids.uuid4_hex() for _ in range(20_000)]  # many buffers' worth
    assert len(set(drawn)) == len(drawn)
    for text in drawn:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == text
    objects = [ids.uuid4() for _ in range(1_000)]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in objects)
    assert len({u.hex for u in objects} | set(drawn)) == len(objects) + len(drawn)


def test_a_forked_child_does_not_reuse_its_parents_buffer() -> None:
    ids.uuid4_hex()  # the buffer holds 255 more ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then leave without pytest's cleanup
        os.write(write, ids.uuid4_hex().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child != ids.uuid4_hex()
