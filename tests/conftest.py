"""The fixtures every test gets; the helpers tests import are in tests/support/."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl

from tests.support.helpers import DigitsData


@pytest.fixture
def data() -> DigitsData:
    return DigitsData()


@pytest.fixture(autouse=True)
def _seed() -> None:
    pl.seed_everything(0, verbose=False)
