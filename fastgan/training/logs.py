"""Run records: stats.jsonl (one JSON object per tick), optional TensorBoard, loss curves PNG."""

import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)


class StatsWriter:
    """Appends one JSON line per tick to stats.jsonl and, if asked and installed, TensorBoard."""

    def __init__(self, run_dir: str | Path, *, tensorboard: bool = False) -> None:
        self.path = Path(run_dir) / "stats.jsonl"
        self.file = open(self.path, "a")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                warnings.warn(
                    "tensorboard is not installed; writing stats.jsonl only "
                    "(pip install tensorboard to get event files)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            else:
                self.tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def write(self, record: Mapping[str, float]) -> None:
        """record: {"step": int, "kimg": float, "sec": float, name: value, ...}."""
        self.file.write(json.dumps(dict(record)) + "\n")
        self.file.flush()
        if self.tb is not None:
            step = int(record["step"])
            for key, value in record.items():
                if key != "step":
                    self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def read_stats(path: str | Path) -> list[dict[str, float]]:
    """The records of a stats.jsonl file."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(stats_path: str | Path, out_path: str | Path) -> Path | None:
    """Plot every loss_* and D_* series of stats.jsonl against the step; None if no records."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    records = read_stats(stats_path)
    if not records:
        return None
    losses = sorted({k for r in records for k in r if k.startswith("loss_")})
    probs = sorted({k for r in records for k in r if k.startswith("D_")})

    # Losses on the left, D's mean outputs on the right.
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, keys, title in ((axes[0], losses, "losses"), (axes[1], probs, "D(x) (mean)")):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if key in r]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=key)
        ax.set_xlabel("step")
        ax.set_title(title)
        if keys:
            ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return Path(out_path)
