"""Run by tests/integration/test_distributed.py: `trainer.validate` under `strategy="ddp"` on 2
CPU ranks.

Lightning's ddp launcher starts this script again for rank 1, so it must be a script.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[2]))

from tests.integration.test_distributed import _monitor
from tests.support.helpers import DigitsData, LitClassifier, make_trainer

if __name__ == "__main__":
    warnings.simplefilter("ignore")
    root, weights = Path(sys.argv[1]), sys.argv[2]
    model = LitClassifier()
    model.load_state_dict(torch.load(weights, weights_only=True))
    trainer = make_trainer(root, [_monitor()], strategy="ddp", devices=2)
    trainer.validate(model, datamodule=DigitsData())
