"""Train a tiny model on one fixed batch until a metric reaches 1.0 (the overfit tests of each task).

The model is small_models' configuration from a random start (seed 0), without dropout and with
the visual stream zeroed; Adam at 3e-3 on every window of ``encoded`` at once.
"""

from __future__ import annotations

from typing import Any

import torch

from small_models import small_config
from layoutlmv2.tasks.windows import collate
from layoutlmv2.training.recipe import apply_visual_mode


def overfit(model_class, task, documents, encoded, metric: str, steps: int,
            every: int) -> tuple[dict[str, Any], list[dict[str, Any]], int, float]:
    """(scores, predictions, steps taken, last loss); scored every ``every`` steps, stopping at 1.0."""
    torch.manual_seed(0)
    model = model_class(small_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    apply_visual_mode(model, "zero")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    batch = collate(encoded.windows, encoded.pages)
    scores: dict[str, Any] = {}
    predictions: list[dict[str, Any]] = []
    for step in range(1, steps + 1):
        model.train()
        loss = task.loss(model(**task.model_inputs(batch)), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % every == 0:
            predictions = task.decode(documents, encoded, task.window_outputs(model, encoded))
            scores = task.evaluate(documents, predictions)
            if scores[metric] == 1.0:
                break
    return scores, predictions, step, loss.item()
