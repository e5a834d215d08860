import torch

from conftest import at_threads, trained_tiny
from hyco.image.base import DECODE_THREADS
from hyco.nn.ops import pinned_threads


def test_pinned_threads_restores_the_setting():
    def inside_and_after() -> tuple[int, int]:
        with pinned_threads(1):
            inside = torch.get_num_threads()
        return inside, torch.get_num_threads()

    assert at_threads(2, inside_and_after) == (1, 2)


def test_decode_and_eval_forward_run_at_the_decode_thread_count(monkeypatch):
    """Float synthesis sums in a thread-count dependent order: decoding pins it."""
    model = trained_tiny("mean-scale")
    seen = []
    real = model.g_s.forward
    monkeypatch.setattr(model.g_s, "forward",
                        lambda y: seen.append(torch.get_num_threads()) or real(y))
    x = torch.rand(1, 3, 40, 56)

    def code_and_run() -> int:
        model.decompress(model.compress(x))
        with torch.no_grad():
            model(x)
        return torch.get_num_threads()

    assert at_threads(2, code_and_run) == 2
    assert seen == [DECODE_THREADS, DECODE_THREADS]
