"""ProbeShard without processes: each rank's rows of the probe, the strategy check. The DDP
runs are in tests/integration/test_distributed.py."""

from __future__ import annotations

import torch

from lightning_xai.distributed import ProbeShard


def test_shards_cover_the_probe_evenly() -> None:
    rows = [ProbeShard(None, rank, 2).rows(5).tolist() for rank in (0, 1)]
    assert rows == [[0, 1, 2], [3, 4, 4]]
    assert ProbeShard(None, 0, 1).gather(torch.ones(3), 3) is not None


def test_sharded_parameter_strategies_get_a_clear_error() -> None:
    class FSDPStrategy:  # the check reads the strategy's class name only
        pass

    why = ProbeShard.unsupported(FSDPStrategy())
    assert why is not None and "FSDPStrategy strategy is not supported" in why
