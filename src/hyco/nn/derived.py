"""State derived from a module's parameters, rebuilt automatically when they change.

Probability tables and integer weights are expensive to derive but must never be stale.
The key is every parameter's storage pointer and in-place version counter: optimiser steps,
``load_state_dict`` and ``.to()`` all change one of them, so no ``update()`` is ever needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from torch import nn

T = TypeVar("T")


class Derived(Generic[T]):
    """Caches ``build(module)`` until any parameter or buffer of ``module`` changes."""

    def __init__(self, build: Callable[[nn.Module], T]):
        self._build = build
        self._key: tuple | None = None
        self._value: T | None = None

    @staticmethod
    def _fingerprint(module: nn.Module) -> tuple:
        tensors = [*module.parameters(), *module.buffers()]
        return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)

    def get(self, module: nn.Module) -> T:
        key = self._fingerprint(module)
        if key != self._key:
            self._value = self._build(module)
            self._key = key
        return self._value  # type: ignore[return-value]
