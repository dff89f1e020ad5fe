"""actbench's default network against scikit-learn's MLPClassifier on the bundled data sets.

The same split and scaling (actbench.data.split_raw, a StandardScaler fit on the training part),
hidden layer, activation, optimizer (adam), learning rate, batch size, epochs and no weight
decay; MLPClassifier trains every epoch (tol=0). Prints a table of mean test accuracy over the
seeds, per data set and activation:

    python benchmarks/sklearn_mlp.py                          # the bundled data sets, 5 seeds
    python benchmarks/sklearn_mlp.py --kinds classification   # the default data
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import actbench
from actbench.config import BUNDLED_KINDS, load_config
from actbench.data import split_raw

# actbench's activation -> MLPClassifier's name for it (the ones scikit-learn has)
ACTIVATIONS = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}


def sklearn_accuracy(kind: str, activation: str, seeds: int) -> float:
    """MLPClassifier's mean test accuracy over seeds 0..seeds-1, with the default network's
    settings, on actbench's split of data.kind `kind`."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    config = load_config(None, [f"data.kind={kind}"])
    raw = split_raw(config.data)
    scaler = StandardScaler().fit(raw.x_train)
    train, test = scaler.transform(raw.x_train), scaler.transform(raw.x_test)
    accuracies = []
    for seed in range(seeds):
        model = MLPClassifier(
            hidden_layer_sizes=tuple(config.model.hidden),
            activation=activation,
            solver="adam",
            alpha=config.train.weight_decay,
            batch_size=config.train.batch_size,
            learning_rate_init=config.train.lr,
            max_iter=config.train.epochs,
            tol=0.0,  # every epoch, as actbench trains
            n_iter_no_change=config.train.epochs,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train, raw.y_train)
        accuracies.append(model.score(test, raw.y_test))
    return float(np.mean(accuracies))


def actbench_accuracy(kind: str, seeds: int) -> dict[str, float]:
    """The default network's mean test accuracy per activation of ACTIVATIONS."""
    result = actbench.compare(
        overrides={"data.kind": kind, "activations": list(ACTIVATIONS)}, seeds=seeds
    )
    return {row.label: row.test_accuracy_mean or float("nan") for row in result.summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--kinds", default=",".join(BUNDLED_KINDS), help="data.kind values")
    args = parser.parse_args()
    row = "{:<15} {:<11} {:>10} {:>16} {:>11}"
    print(row.format("data", "activation", "actbench %", "MLPClassifier %", "difference"))
    for kind in args.kinds.split(","):
        ours = actbench_accuracy(kind, args.seeds)
        for activation, name in ACTIVATIONS.items():
            theirs = sklearn_accuracy(kind, name, args.seeds)
            difference = 100 * (ours[activation] - theirs)
            print(
                row.format(
                    kind,
                    activation,
                    f"{100 * ours[activation]:.1f}",
                    f"{100 * theirs:.1f}",
                    f"{difference:+.1f}",
                )
            )


if __name__ == "__main__":
    main()
