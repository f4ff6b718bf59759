"""Shared validators raise ParameterError with the argument name and the offending value."""

from __future__ import annotations

import pytest
import torch

from audiointerp.errors import AudioInterpError, ParameterError
from audiointerp.validation import check_choice, check_positive, check_tensor


def test_parameter_error_is_value_error_and_package_error():
    assert issubclass(ParameterError, ValueError)
    assert issubclass(ParameterError, AudioInterpError)


def test_check_choice_lists_valid_values():
    assert check_choice("route", "phase", ["phase", "paper"]) == "phase"
    with pytest.raises(ParameterError, match=r"route='x'.*'phase', 'paper'"):
        check_choice("route", "x", ["phase", "paper"])


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_check_positive_rejects(value):
    with pytest.raises(ParameterError, match="hop_length"):
        check_positive("hop_length", value)


def test_check_positive_allows_zero_when_asked():
    assert check_positive("snr", 0, allow_zero=True) == 0


def test_check_tensor_contracts():
    x = torch.zeros(2, 1, 4, 5)
    assert check_tensor("features", x, shape=(None, 1, 4, None)) is x
    with pytest.raises(ParameterError, match=r"features must have shape \(\*, 1, 3, \*\)"):
        check_tensor("features", x, shape=(None, 1, 3, None))
    with pytest.raises(ParameterError, match="4 dimensions"):
        check_tensor("features", torch.zeros(3), ndim=4)
    with pytest.raises(ParameterError, match="floating dtype"):
        check_tensor("features", torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ParameterError, match="NaN or Inf"):
        check_tensor("features", torch.tensor([0.0, float("nan")]))
    with pytest.raises(ParameterError, match="torch.Tensor"):
        check_tensor("features", [0.0])
