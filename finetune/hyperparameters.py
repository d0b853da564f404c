"""The `lora` method's hyper-parameters: names as the API spells them, ranges, defaults. Plain
Python (no PyTorch): the web process validates a job's body with it, the trainer reads the result
from `Job.hyperparameters`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from proxy.validation import fault, type_name


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    default: float | int
    integer: bool = True
    low_open: bool = False  # the low end itself is not allowed
    help: str = ""

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        above = "above" if self.low_open else "from"
        return f"expected {kind} {above} {_shown(self.low)} to {_shown(self.high)}"

    def check(self, name: str, value: Any) -> float | int:
        ok_type = int if self.integer else int | float
        if isinstance(value, bool) or not isinstance(value, ok_type):
            raise fault(name, f"{self.describe()}, got {type_name(value)}")
        if not math.isfinite(value) or value > self.high or value < self.low:
            raise fault(name, self.describe())
        if self.low_open and value == self.low:
            raise fault(name, self.describe())
        return value if self.integer else float(value)


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# The API's names. `epochs` and `learningRate` are the job's own fields (both methods take them).
LORA = {
    "loraRank": Range(1, 256, 16, help="the rank r of the LoRA matrices"),
    "loraAlpha": Range(1, 1024, 32, help="the LoRA scaling alpha (scale = alpha / r)"),
    "loraDropout": Range(0, 0.5, 0.05, integer=False, help="dropout on the LoRA path"),
    "maxSeqLength": Range(32, 32768, 1024, help="tokens per conversation; longer ones are cut"),
    "batchSize": Range(
        1, 256, 8, help="conversations per optimizer step (gradient accumulation behind it)"
    ),
    "validationSplit": Range(
        0, 0.5, 0.1, integer=False, help="the share of the dataset held out for eval loss"
    ),
    "seed": Range(0, 2**31 - 1, 42, help="the seed of the shuffle, the split and the LoRA init"),
}
LEARNING_RATE = 2e-4  # the lora default when the job names none
FIELDS = tuple(LORA)


def parse(body: dict[str, Any], method: str) -> dict[str, Any]:
    """The validated hyper-parameters of the body (400 naming the field), with the defaults
    filled in for `lora`; {} for another method, which refuses them."""
    given = {name: body[name] for name in FIELDS if name in body and body[name] is not None}
    if method != "lora":
        if given:
            name = next(iter(given))
            raise fault(name, 'applies to method "lora" only')
        return {}
    values = {name: LORA[name].check(name, value) for name, value in given.items()}
    resolved = {name: values.get(name, spec.default) for name, spec in LORA.items()}
    return resolved
