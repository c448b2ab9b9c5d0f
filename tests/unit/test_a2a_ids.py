"""Client-supplied A2A ids are checked against the SDK's 36-character id columns."""

from __future__ import annotations

import pytest
from a2a.types.a2a_pb2 import Message
from a2a.utils.errors import InvalidParamsError

from aether.mesh.a2a_ids import MAX_ID_LENGTH, check_id, check_message_ids


@pytest.mark.parametrize("value", ["", "task-1", "0" * MAX_ID_LENGTH, "é" * MAX_ID_LENGTH])
def test_ids_that_fit_pass(value: str) -> None:
    check_id("id", value)


def test_an_overlong_id_names_the_field_and_the_limit() -> None:
    with pytest.raises(InvalidParamsError) as raised:
        check_id("message.contextId", "x" * (MAX_ID_LENGTH + 1))
    assert raised.value.message == (
        "message.contextId is 37 characters long; at most 36 are allowed"
    )


@pytest.mark.parametrize("value", ["task\x00", "task\n", "\x1b[31m"])
def test_control_characters_are_refused(value: str) -> None:
    with pytest.raises(InvalidParamsError, match="id contains control characters"):
        check_id("id", value)


def test_every_id_of_a_message_is_checked() -> None:
    fine = "f" * MAX_ID_LENGTH
    check_message_ids(Message(task_id=fine, context_id=fine, reference_task_ids=[fine]))
    overlong = Message(task_id=fine, context_id=fine, reference_task_ids=[fine, fine + "!"])
    with pytest.raises(InvalidParamsError, match=r"^message\.referenceTaskIds\[1\] is 37"):
        check_message_ids(overlong)
