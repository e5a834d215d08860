"""--bf16 is honoured only where bf16 runs natively (emulated bf16 was 22x slower on AVX2 CPUs)."""

from __future__ import annotations

import torch

from hyco.train import precision


def test_bf16_kept_where_native(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.resolve_bf16(True, torch.device("cpu")) is True


def test_bf16_dropped_with_a_note_where_emulated(monkeypatch, capsys):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.resolve_bf16(True, torch.device("cpu")) is False
    assert "--bf16 ignored" in capsys.readouterr().err


def test_not_requested_stays_off(monkeypatch, capsys):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.resolve_bf16(False, torch.device("cpu")) is False
    assert capsys.readouterr().err == ""


def test_native_bf16_answers_for_this_machine():
    # guards the private torch probe it relies on (torch.ops.mkldnn._is_mkldnn_bf16_supported):
    # should a torch upgrade drop it, this fails here rather than in every training run
    assert isinstance(precision.native_bf16(torch.device("cpu")), bool)
