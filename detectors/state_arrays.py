"""A detector's learnt state as named numpy arrays, for `anomaly-state.npz`."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

StateArrays = dict[str, npt.NDArray[Any]]


class ArrayState:
    """State that is exactly the arrays named in `_STATE`: copied out by `state_dict`,
    and adopted by `load_state` only when every one is there with the shape it has now
    (KeyError or ValueError otherwise, and nothing changes), so a file written for
    other devices or settings never leaves a half-loaded detector."""

    _STATE: ClassVar[tuple[str, ...]] = ()

    def state_dict(self) -> StateArrays:
        return {name: getattr(self, name).copy() for name in self._STATE}

    def load_state(self, state: StateArrays) -> None:
        adopted = {}
        for name in self._STATE:
            current = getattr(self, name)
            value = np.asarray(state[name], dtype=current.dtype)
            if value.shape != current.shape:
                raise ValueError(f"{name}: shape {value.shape}, expected {current.shape}")
            adopted[name] = value.copy()
        for name, value in adopted.items():
            setattr(self, name, value)
