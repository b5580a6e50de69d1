"""A model that takes its time: lets the e2e test kill a worker mid-batch."""

from __future__ import annotations

import time
from typing import Any

from pgwarden.models import BaseDetectionModel, ModelResult

SLEEP_SECONDS = 6.0


class SlowModel(BaseDetectionModel):
    model_id = "slow_probe"

    def run(self, ctx: Any) -> ModelResult:
        time.sleep(SLEEP_SECONDS)
        return ModelResult(outputs=[{"entity_key": "slept", "score": 1.0}], metrics={})
