"""Scores of a result against `territoires synth`'s planted truth, one helper for the tests of
every indicator: errors of continuous values (RMSE, MAE, bias) and agreement of classes
(overall accuracy, Cohen's kappa, confusion matrix, IoU per class)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ContinuousScore:
    rmse: float
    mae: float
    bias: float  # mean of result − truth
    count: int


@dataclass(frozen=True)
class ClassScore:
    accuracy: float
    kappa: float
    confusion: np.ndarray  # rows: truth classes, columns: result classes, in `classes` order
    classes: tuple[int, ...]
    iou: dict[int, float]
    count: int


def _valid(result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if result.shape != truth.shape:
        raise ValueError(f"result {result.shape} and truth {truth.shape} differ in shape")
    valid = np.isfinite(result) & np.isfinite(truth)
    return valid if mask is None else valid & mask


def score_continuous(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> ContinuousScore:
    """Errors over the cells where both are finite (and `mask` holds)."""
    valid = _valid(result.astype(np.float64), truth.astype(np.float64), mask)
    difference = result[valid].astype(np.float64) - truth[valid].astype(np.float64)
    if difference.size == 0:
        raise ValueError("no cell where both the result and the truth have a value")
    return ContinuousScore(
        rmse=float(np.sqrt(np.mean(difference**2))),
        mae=float(np.mean(np.abs(difference))),
        bias=float(np.mean(difference)),
        count=int(difference.size),
    )


def score_classes(
    result: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> ClassScore:
    """Agreement of class rasters over the cells `mask` keeps (all by default)."""
    keep = np.ones(result.shape, np.bool_) if mask is None else mask
    found, planted = result[keep].astype(np.int64), truth[keep].astype(np.int64)
    if found.size == 0:
        raise ValueError("no cell to score")
    classes = tuple(int(c) for c in np.union1d(np.unique(found), np.unique(planted)))
    index = {c: i for i, c in enumerate(classes)}
    lookup = np.vectorize(index.__getitem__)
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(confusion, (lookup(planted), lookup(found)), 1)
    total = confusion.sum()
    agreed = np.trace(confusion) / total
    expected = float((confusion.sum(axis=0) * confusion.sum(axis=1)).sum()) / total**2
    kappa = (agreed - expected) / (1 - expected) if expected < 1 else 1.0
    iou = {
        c: float(
            confusion[i, i] / (confusion[i, :].sum() + confusion[:, i].sum() - confusion[i, i])
        )
        for c, i in index.items()
    }
    return ClassScore(float(agreed), float(kappa), confusion, classes, iou, int(total))
