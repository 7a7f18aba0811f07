"""Training logs: CSV files that survive a resume, and the crop-level validation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from ...io import atomic_write_text
from ..dataset import PersonCropDataset
from ..models.networks import PersonNet
from .losses import compute_losses

METRIC_FIELDS = ["step", "epoch", "loss", "loss_mask", "loss_kp", "lr", "grad_norm", "crops_per_s", "seconds"]
VAL_FIELDS = ["step", "val_loss", "val_crop_iou"]


def truncate_csv(path: Path, step: int) -> None:
    """Keep the header and the rows with ``step <= step`` (rows a killed run wrote after its last checkpoint go)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
    text = "".join(",".join(r) + "\n" for r in kept)
    atomic_write_text(path, text)


class CsvLog:
    """Append rows to a CSV file (header on creation), flushed after every row."""

    def __init__(self, path: Path, fields: list[str]):
        self.fields = fields
        new = not path.is_file() or path.stat().st_size == 0
        self.file = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=fields)
        if new:
            self.writer.writeheader()
            self.file.flush()

    def write(self, row: dict) -> None:
        self.writer.writerow({k: row.get(k, "") for k in self.fields})
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


@torch.no_grad()
def crop_validation(model: PersonNet, dataset: PersonCropDataset, device: torch.device, batch_size: int) -> dict:
    """Mean loss and mean crop-level IoU (``logit > 0`` vs the mask, valid pixels) over a validation set."""
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    losses, ious = [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(batch["input"])
        loss, _ = compute_losses(out, batch, 1.0)
        losses.append(float(loss) * len(batch["input"]))
        pred = (out["mask"] > 0) & (batch["valid"] > 0)
        gt = (batch["mask"] > 0.5) & (batch["valid"] > 0)
        inter = (pred & gt).sum((1, 2, 3)).float()
        union = (pred | gt).sum((1, 2, 3)).float()
        ious.extend(torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).tolist())
    model.train()
    return {"val_loss": sum(losses) / max(len(ious), 1), "val_crop_iou": float(np.mean(ious)) if ious else float("nan")}
