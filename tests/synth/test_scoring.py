"""The scoring helper against hand-made cases and the textbook formulas written out."""

from __future__ import annotations

import numpy as np
import pytest

from territoires.synth.scoring import score_classes, score_continuous


def test_continuous_scores_of_a_known_error() -> None:
    truth = np.array([[0.0, 0.5], [1.0, np.nan]])
    result = np.array([[0.1, 0.4], [1.3, 0.2]])
    score = score_continuous(result, truth)
    assert score.count == 3
    assert score.mae == pytest.approx((0.1 + 0.1 + 0.3) / 3)
    assert score.rmse == pytest.approx(np.sqrt((0.01 + 0.01 + 0.09) / 3))
    assert score.bias == pytest.approx((0.1 - 0.1 + 0.3) / 3)
    with pytest.raises(ValueError):
        score_continuous(np.full((2, 2), np.nan), truth)


def test_class_scores_match_the_textbook_kappa() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 4, (60, 60))
    result = np.where(rng.random((60, 60)) < 0.8, truth, rng.integers(1, 4, (60, 60)))
    score = score_classes(result, truth)
    observed = (result == truth).mean()
    expected = sum(((truth == c).mean() * (result == c).mean()) for c in (1, 2, 3))
    assert score.accuracy == pytest.approx(observed)
    assert score.kappa == pytest.approx((observed - expected) / (1 - expected))
    assert score.confusion.sum() == 3600 and score.classes == (1, 2, 3)
    for c in (1, 2, 3):
        both = ((result == c) & (truth == c)).sum()
        either = ((result == c) | (truth == c)).sum()
        assert score.iou[c] == pytest.approx(both / either)
