"""``heron.inspect(obj)``: the runtime state of a mapped instance or class.

Layer 4 entry point re-exported at the top level.
"""

from __future__ import annotations

from typing import Any

from heron import exc
from heron.orm.mapper import Mapper
from heron.orm.state import InstanceState, instance_state


def inspect(subject: Any) -> Any:
    """Return the ``InstanceState`` of a mapped instance, or the ``Mapper`` of a mapped class.

    Raises:
        ArgumentError: ``subject`` is neither.
    """
    if isinstance(subject, type):
        mapper = getattr(subject, "__mapper__", None)
        if isinstance(mapper, Mapper):
            return mapper
        raise exc.ArgumentError(f"{subject.__name__} is not a mapped class")
    if isinstance(subject, InstanceState):
        return subject
    return instance_state(subject)
