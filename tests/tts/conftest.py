import pytest
import torch

from workloads.tts.revcol import build_revcol


@pytest.fixture
def micro_model():
    """A randomly initialised 4-column RevCol with non-trivial residual branches (layer scale 0.5, alphas
    away from their init), so every level matters in the tests."""
    torch.manual_seed(0)
    model = build_revcol("revcol_micro", 10)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
            elif ".alpha" in name:
                p.uniform_(0.3, 1.2)
    return model.eval()
