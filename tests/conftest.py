import pytest
import torch

import fastgan


def pytest_report_header(config):
    return f"fastgan native build: {fastgan.native_info()}"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
