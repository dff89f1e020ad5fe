"""The benchmark's JAX peer: the same members, data and batch orders, trained with JAX + optax.

Not a dependency of actbench: `actbench bench --ways jax` loads this file when JAX and optax
are importable and skips the way with a one-line note otherwise. Each epoch is one jitted
function (a `lax.scan` over the full minibatches, then the short tail batch); every activation
group is a `vmap` over its members. Compilation is timed apart from training. It runs on the
device the population runs on (`device_of`): the CPU, or the GPU when the population trains
on CUDA and this JAX has a GPU backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from actbench.config import Config
from actbench.data import Dataset
from actbench.engine import accuracy, member_generator
from actbench.model import init_model, n_logits
from actbench.population import MemberSpec


def _activation(name: str, params: Mapping[str, Any]) -> Callable[[Any], Any] | None:
    """The JAX function of an actbench activation, or None where there is no counterpart."""
    table: dict[str, Callable[[Any], Any]] = {
        "identity": lambda x: x,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "leaky_relu": lambda x: jax.nn.leaky_relu(x, params.get("negative_slope", 0.01)),
        "elu": lambda x: jax.nn.elu(x, params.get("alpha", 1.0)),
        "selu": jax.nn.selu,
        "gelu": lambda x: jax.nn.gelu(x, approximate=params.get("approximate") == "tanh"),
        "silu": jax.nn.silu,
        "softplus": jax.nn.softplus,
        "relu6": jax.nn.relu6,
    }
    return table.get(name)


def supported(member: MemberSpec) -> bool:
    return _activation(member.activation, member.params) is not None


def device_of(kind: str) -> Any | None:
    """JAX's first device of a kind ('cpu' or 'gpu'), or None when this JAX has none."""
    try:
        return jax.devices(kind)[0]
    except RuntimeError:  # no backend of that kind
        return None


def peak_memory_mb(device: Any) -> float | None:
    """The device's peak memory in use by JAX (MB), where its backend reports one."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return float(stats["peak_bytes_in_use"]) / 2**20


def run(
    members: Sequence[MemberSpec], data: Dataset, config: Config, device: Any = None
) -> tuple[float, float, list[float]]:
    """Train every member on `device` (JAX's default when None); (training seconds, compile
    seconds, test accuracy per member)."""
    if config.model.head != "softmax":
        raise ValueError("the JAX peer implements the softmax head only")
    with jax.default_device(device if device is not None else jax.devices()[0]):
        return _run(members, data, config)


def _run(
    members: Sequence[MemberSpec], data: Dataset, config: Config
) -> tuple[float, float, list[float]]:
    hidden, cfg = config.model.hidden, config.train
    n_out = n_logits(config.model.head, data.n_classes)
    groups: dict[tuple[str, str], list[int]] = {}
    for index, member in enumerate(members):
        key = (member.activation, repr(sorted(member.params.items())))
        groups.setdefault(key, []).append(index)
    order = [i for indices in groups.values() for i in indices]
    functions = [
        _activation(members[ix[0]].activation, members[ix[0]].params) for ix in groups.values()
    ]
    params = []
    for indices in groups.values():
        models = [
            init_model(members[i].seed, data.n_features, hidden, n_out, members[i].activation)
            for i in indices
        ]
        layers = [[*model.hidden, model.out] for model in models]
        params.append(
            [
                (
                    jnp.asarray(np.stack([m[k].weight.detach().numpy() for m in layers])),
                    jnp.asarray(np.stack([m[k].bias.detach().numpy() for m in layers])),
                )
                for k in range(len(hidden) + 1)
            ]
        )
    x_train = jnp.asarray(data.x_train.cpu().numpy())
    y_train = jnp.asarray(data.y_train.cpu().numpy())
    n = x_train.shape[0]
    batch = min(cfg.batch_size, n)
    full = n // batch
    tail = n - full * batch

    def forward(layers: Any, x: Any, f: Callable[[Any], Any]) -> Any:
        for weight, bias in layers[:-1]:
            x = f(x @ weight.T + bias)
        weight, bias = layers[-1]
        return x @ weight.T + bias

    def member_loss(layers: Any, x: Any, y: Any, f: Callable[[Any], Any]) -> Any:
        logits = forward(layers, x, f)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def total_loss(all_params: Any, index: Any) -> Any:
        # index: [M, b] sample indices in `order`; each group takes its rows
        total = 0.0
        start = 0
        for group_params, f in zip(all_params, functions, strict=True):
            size = group_params[0][0].shape[0]
            rows = index[start : start + size]
            start += size
            losses = jax.vmap(lambda p, r, f=f: member_loss(p, x_train[r], y_train[r], f))(
                group_params, rows
            )
            total = total + losses.sum()
        return total

    optimizer = optax.adam(cfg.lr)
    grad = jax.grad(total_loss)

    def step(state: Any, index: Any) -> tuple[Any, None]:
        all_params, opt_state = state
        updates, opt_state = optimizer.update(grad(all_params, index), opt_state, all_params)
        return (optax.apply_updates(all_params, updates), opt_state), None

    def epoch(state: Any, permutation: Any) -> Any:
        head_part = permutation[:, : full * batch].reshape(len(order), full, batch)
        state, _ = jax.lax.scan(step, state, jnp.swapaxes(head_part, 0, 1))
        if tail:
            state, _ = step(state, permutation[:, full * batch :])
        return state

    generators = [member_generator(members[i].seed) for i in order]
    permutations = [
        np.stack([torch.randperm(n, generator=g).numpy() for g in generators])
        for _ in range(cfg.epochs)
    ]
    state = (params, optimizer.init(params))
    started = time.perf_counter()
    compiled = jax.jit(epoch).lower(state, jnp.asarray(permutations[0])).compile()
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for permutation in permutations:
        state = compiled(state, jnp.asarray(permutation))
    jax.block_until_ready(state)
    seconds = time.perf_counter() - started
    x_test = jnp.asarray(data.x_test.cpu().numpy())
    y_test = np.asarray(data.y_test.cpu().numpy())
    accuracy_in_order: list[float] = []
    for group_params, f in zip(state[0], functions, strict=True):
        logits = jax.vmap(lambda p, f=f: forward(p, x_test, f))(group_params)
        correct = torch.from_numpy((np.asarray(logits).argmax(-1) == y_test).sum(1))
        accuracy_in_order += accuracy(correct, len(y_test)).tolist()
    accuracies = [0.0] * len(members)
    for position, index in enumerate(order):
        accuracies[index] = accuracy_in_order[position]
    return seconds, compile_seconds, accuracies
