import torch

from conftest import trained_tiny
from hyco.image.base import DECODE_THREADS
from hyco.nn.ops import pinned_threads


def test_pinned_threads_restores_the_setting():
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with pinned_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)


def test_decode_and_eval_forward_run_at_the_decode_thread_count(monkeypatch):
    """Float synthesis sums in a thread-count dependent order: decoding pins it."""
    model = trained_tiny("mean-scale")
    seen = []
    real = model.g_s.forward
    monkeypatch.setattr(model.g_s, "forward",
                        lambda y: seen.append(torch.get_num_threads()) or real(y))
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        x = torch.rand(1, 3, 40, 56)
        payload = model.compress(x)
        model.decompress(payload)
        with torch.no_grad():
            model(x)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    assert seen == [DECODE_THREADS, DECODE_THREADS]
