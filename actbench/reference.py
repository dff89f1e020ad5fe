"""The plain per-run training loop: one SimpleNN, its own optimizer, its own minibatch order.

This is the definition a population member must reproduce (tests) and the baseline the
benchmark beats. It shares only the definition of a member with the engine: the init
(`init_model`), the minibatch order (`member_generator` + one randperm per epoch) and the
optimizer settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from actbench.config import InitScheme, TrainConfig
from actbench.data import Dataset
from actbench.engine import batch_slices, member_generator
from actbench.model import Head, SimpleNN, init_model, member_loss, n_logits


def make_optimizer(params: Iterable[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The torch.optim optimizer a member would use alone."""
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_single(
    data: Dataset,
    hidden: tuple[int, ...],
    head: Head,
    cfg: TrainConfig,
    activation: str,
    params: Mapping[str, Any],
    seed: int,
    init: InitScheme = "default",
) -> SimpleNN:
    """Train one member alone, the textbook way, and return it."""
    model = init_model(
        seed, data.n_features, hidden, n_logits(head, data.n_classes), activation, params, init
    ).to(data.x_train.device)
    optimizer = make_optimizer(model.parameters(), cfg)
    generator = member_generator(seed)
    n = data.x_train.shape[0]
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=generator).to(data.x_train.device)
        for batch in batch_slices(n, min(cfg.batch_size, n)):
            index = order[batch]
            loss = member_loss(model(data.x_train[index]), data.y_train[index], head).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model
