"""Reading and writing weights without pickles: safetensors files, ``torch.load(weights_only=True)`` for ``.pth``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...io.jsonio import atomic_write
from ..config import CheckpointError


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file (never a pickle); :class:`CheckpointError` naming the file."""
    from safetensors import safe_open
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except Exception as e:  # safetensors raises SafetensorError, OSError, ...
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e}); "
                              "only safetensors checkpoints are loaded (no pickles)") from e


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``torch.save`` file, without unpickling arbitrary objects.

    Raises:
        ValueError: the file is missing or cannot be read (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # safetensors / torch raise many kinds
        raise ValueError(f"{path}: cannot read weights ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def atomic_save_tensors(path: str | Path, tensors: dict[str, torch.Tensor],
                        metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically; tensors are made contiguous CPU copies."""
    from safetensors.torch import save_file
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=metadata))


def load_state_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` with errors that name the file, the key and both shapes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in own.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k, got, want = wrong[0]
            parts.append(f"{len(wrong)} tensor(s) of the wrong shape, e.g. {k}: checkpoint {got}, model {want}")
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
        raise CheckpointError(f"{source}: checkpoint does not fit the model architecture: " + "; ".join(parts))
    model.load_state_dict(state)
