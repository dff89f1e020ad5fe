"""`actbench.MLPClassifier`: a scikit-learn classifier trained by actbench's engine.

`fit(X, y)` makes a `Dataset` of the arrays (standardised with their own mean and std, as every
actbench run is), a `Population` of one member and trains it with `engine.train_population`,
so a fitted estimator is the very network `actbench train` would make of the same data, seed
and settings. The activation is any name actbench takes: a built-in, `torch.nn.<Class>`,
`module:function`, `file.py:function` or a registered name. It passes scikit-learn's
`check_estimator` and works in `Pipeline`, `GridSearchCV` and `cross_val_score`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    from torch import Tensor, nn

    from actbench.config import ActivationEntry, Config
    from actbench.engine import PopulationOutcome
    from actbench.members import Standardize, TrainedMember

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A multi-layer perceptron classifier trained by actbench's engine.

    Parameters
    ----------
    activation : str
        The hidden layers' activation: a built-in name (``actbench activations``),
        ``"torch.nn.<Class>"``, ``"module:function"``, ``"file.py:function"`` or a name
        registered with ``actbench.register_activation``.
    hidden : tuple of int, or int
        Units of each hidden layer (an int: one layer).
    epochs : int
        Passes over the training data (no early stopping).
    lr : float
        Learning rate.
    batch_size : int
        Samples per step (more than the data: full batch).
    optimizer : {"adam", "adamw", "sgd"}
    seed : int
        Fixes the initial weights and the minibatch order.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    activation_params : dict or None
        The activation's parameters, e.g. ``{"negative_slope": 0.2}``.
    weight_decay : float
        The optimizer's weight decay (L2 for adam and sgd).

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted; ``predict`` returns them.
    n_features_in_ : int
    loss_curve_ : list of float
        Mean training loss after every epoch.
    n_iter_ : int
        Epochs whose update the weights hold (fewer than ``epochs`` if training diverged).
    model_ : actbench.members.TrainedMember
        The trained network with its scaler: a torch module from raw features to logits.
    """

    def __init__(
        self,
        activation: str = "relu",
        hidden: Sequence[int] = (50,),
        epochs: int = 100,
        lr: float = 1e-3,
        batch_size: int = 64,
        optimizer: str = "adam",
        seed: int = 0,
        device: str = "auto",
        activation_params: Mapping[str, Any] | None = None,
        weight_decay: float = 0.0,
    ) -> None:
        self.activation = activation
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.seed = seed
        self.device = device
        self.activation_params = activation_params
        self.weight_decay = weight_decay

    def _config(self) -> Config:
        """The parameters as an actbench config, validated as the command line validates one;
        a bad value is a ValueError with actbench's message."""
        from actbench.config import config_from_mapping
        from actbench.errors import ActbenchError

        hidden = self.hidden
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = [hidden]  # one layer, as scikit-learn's hidden_layer_sizes=50
        document = {
            "model": {"hidden": list(hidden) if isinstance(hidden, Sequence) else hidden},
            "train": {
                "epochs": self.epochs,
                "lr": self.lr,
                "batch_size": self.batch_size,
                "optimizer": self.optimizer,
                "seeds": [self.seed],
                "device": self.device,
                "weight_decay": self.weight_decay,
            },
            "activations": [
                {"name": self.activation, "params": dict(self.activation_params or {})}
            ],
        }
        try:
            return config_from_mapping(document)
        except ActbenchError as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on X [n_samples, n_features] and the labels y [n_samples]."""
        X, y = _validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        config = self._config()
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.model_, outcome = _train(config, X, codes, self.classes_)
        self._network64 = _float64(self.model_)
        member = outcome.members[0]
        self.loss_curve_ = [
            float(v) if v is not None else np.nan for v in member.history.train_loss
        ]
        self.n_iter_ = member.epochs
        if member.status == "diverged":
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(
                f"training diverged in epoch {member.epochs + 1} (the loss or a weight became "
                f"NaN or inf); the weights are those after epoch {member.epochs}: lower lr",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _logits(self, X: Any) -> Tensor:
        """Logits [n, classes] in float64: the trained weights, but no float32 rounding, so a
        sample's prediction does not depend on the others in X (the BLAS kernel a float32
        product takes depends on the batch; its roundings would show)."""
        import torch

        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        scaler = cast("Standardize", self.model_.scaler)
        with torch.no_grad():
            x = (torch.as_tensor(X) - scaler.mean.cpu()) / scaler.scale.cpu()
            return self._network64(x)

    def predict_proba(self, X: Any) -> np.ndarray:
        """[n_samples, n_classes] class probabilities, columns in `classes_` order."""
        import torch

        return torch.softmax(self._logits(X), dim=-1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The predicted label of every sample (argmax of the logits)."""
        index = self._logits(X).argmax(-1).numpy()
        return np.asarray(self.classes_[index])

    def __getstate__(self) -> dict[str, Any]:
        # The trained network travels as its state_dict: a user's activation module refers to
        # code that another process loads again when the estimator is unpickled.
        state: dict[str, Any] = dict(super().__getstate__())
        member = state.pop("model_", None)
        state.pop("_network64", None)
        if member is not None:
            state["_network_state"] = {k: v.cpu() for k, v in member.network.state_dict().items()}
            state["_scaler"] = (member.scaler.mean.cpu(), member.scaler.scale.cpu())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        network_state = state.pop("_network_state", None)
        scaler = state.pop("_scaler", None)
        super().__setstate__(state)
        if network_state is not None and scaler is not None:
            self.model_ = _member(
                self._config().activations[0],
                len(self.classes_),
                scaler[0].numpy(),
                scaler[1].numpy(),
                network_state,
                self.classes_,
            )
            self._network64 = _float64(self.model_)


def _train(
    config: Config, x: np.ndarray, codes: np.ndarray, classes: np.ndarray
) -> tuple[TrainedMember, PopulationOutcome]:
    """Train a population of one on (x, codes: indices into `classes`): the trained member
    and the engine's outcome."""
    import torch
    from sklearn.preprocessing import StandardScaler

    from actbench.data import Dataset
    from actbench.engine import TrainSettings, train_population
    from actbench.model import n_logits
    from actbench.population import MemberSpec, Population
    from actbench.resources import resolve_device
    from actbench.threads import resolve_threads, step_work, using_threads

    entry = config.activations[0]
    n_classes = len(classes)
    train = config.train
    hidden = list(config.model.hidden)
    scaler = StandardScaler().fit(x)  # as data.make_dataset: the training data's own
    inputs = torch.as_tensor(scaler.transform(x), dtype=torch.float32)
    targets = torch.as_tensor(codes, dtype=torch.int64)
    # No test split: the engine's per-epoch test accuracy is measured on the training data.
    data = Dataset(inputs, targets, inputs, targets, n_classes, scaler.mean_, scaler.scale_)
    device = resolve_device(train.device)
    spec = MemberSpec(entry.label, entry.name, entry.params, int(train.seed_values[0]))
    widths = [x.shape[1], *hidden, n_logits("softmax", n_classes)]
    work = step_work(1, min(train.batch_size, x.shape[0]), widths)
    threads = resolve_threads(train.threads, work) if device.type == "cpu" else None
    with using_threads(threads or torch.get_num_threads()):
        population = Population([spec], x.shape[1], hidden, n_classes).to(device)
        settings = TrainSettings(train, track_health=False, keep_state=True)
        outcome = train_population(population, data.to(device), settings)
    state = outcome.states[0]
    assert state is not None
    member = _member(entry, n_classes, scaler.mean_, scaler.scale_, state, classes)
    return member, outcome


def _member(
    entry: ActivationEntry,
    n_classes: int,
    mean: np.ndarray,
    scale: np.ndarray,
    state: Mapping[str, Tensor],
    classes: np.ndarray | None,
) -> TrainedMember:
    """The trained SimpleNN behind its scaler, on the CPU."""
    from actbench import activations
    from actbench.members import Standardize, TrainedMember
    from actbench.model import SimpleNN

    spec = activations.get(entry.name)
    network = SimpleNN(len(mean), _hidden(state), n_classes, lambda: spec.build(entry.params))
    network.load_state_dict(dict(state))
    labels = list(classes) if classes is not None else list(range(n_classes))
    return TrainedMember(Standardize(list(mean), list(scale)), network, "softmax", labels)


def _hidden(state: Mapping[str, Tensor]) -> list[int]:
    """The hidden widths of a SimpleNN state_dict."""
    count = sum(1 for key in state if key.startswith("hidden.") and key.endswith(".weight"))
    return [int(state[f"hidden.{i}.weight"].shape[0]) for i in range(count)]


def _float64(member: TrainedMember) -> nn.Module:
    """A float64 copy of the member's network, for predictions."""
    import copy

    return copy.deepcopy(cast("nn.Module", member.network)).double().eval()
