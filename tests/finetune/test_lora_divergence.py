"""A lora job whose loss diverges (a learningRate near 1 can) fails with `loss_diverged` and a
message saying what to change, instead of writing NaN into the job's metrics (PostgreSQL's jsonb
refuses NaN and infinity). The check itself, without a training run."""

from __future__ import annotations

import json
import math

import pytest

from finetune.trainers import TrainingError

pytest.importorskip("peft", reason="the `train` extra (torch, transformers, peft) is not installed")

from finetune.trainers.lora import finite_loss


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_it_fails_a_diverged_loss_with_a_stable_code(loss: float) -> None:
    with pytest.raises(TrainingError) as failure:
        finite_loss(loss, 7, "train")
    assert failure.value.code == "loss_diverged"
    assert "step 7" in failure.value.message
    assert "learningRate" in failure.value.message


def test_it_fails_a_diverged_eval_loss() -> None:
    with pytest.raises(TrainingError, match="evaluation"):
        finite_loss(math.nan, None, "eval")


def test_it_keeps_a_finite_loss_for_the_metrics() -> None:
    assert finite_loss(2.5, 1, "train") == 2.5
    json.dumps({"trainLoss": finite_loss(0.0, 1, "train")}, allow_nan=False)
