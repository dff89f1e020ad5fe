"""What the engine benchmark (actbench.bench) times, and its defaults: the one place they live.

Apart from actbench.bench so the `bench` command can show these defaults in its help without
importing torch (`actbench --help` never does).
"""

from __future__ import annotations

from dataclasses import dataclass

from actbench.config import Config, load_config

REFERENCE_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")
WAYS = ("per_run", "population", "sklearn", "vmap", "jax")
# all but the slow optional peers (vmap, jax); in the order `bench --help` shows them
DEFAULT_WAYS = ("population", "per_run", "sklearn")


@dataclass(frozen=True)
class BenchSettings:
    n_samples: int = 1000
    hidden: tuple[int, ...] = (50,)
    epochs: int = 200
    seeds: int = 5
    batch_size: int = 64
    activations: tuple[str, ...] = REFERENCE_ACTIVATIONS
    device: str = "cpu"
    ways: tuple[str, ...] = DEFAULT_WAYS
    health: bool = False  # also time the population with neuron health on (its default setting)
    repeat: int = 3  # timings of the short ways (population, sklearn): the median of this many
    threads: int | str = "auto"  # the population's and vmap's train.threads

    def config(self) -> Config:
        """The bench as an actbench config (validated like any other)."""
        return load_config(
            None,
            [
                f"data.n_samples={self.n_samples}",
                f"model.hidden={list(self.hidden)}",
                f"train.epochs={self.epochs}",
                f"train.seeds={self.seeds}",
                f"train.batch_size={self.batch_size}",
                f"train.device={self.device}",
                f"train.threads={self.threads}",
                f"activations={list(self.activations)}",
            ],
        )
