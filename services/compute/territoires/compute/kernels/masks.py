"""Cloud and quality masks: which pixels of a scene may be used.

Sentinel-2 L2A says it with a class per pixel (SCL), Landsat with bit fields (QA); both come
down to clearing `valid` where a rejected class or flag is present.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# SCL classes that hide the ground: 3 cloud shadow, 8 and 9 cloud (medium, high probability),
# 10 thin cirrus; 0 is "no data".
SCL_REJECTED = (0, 3, 8, 9, 10)

# Landsat Collection 2 QA_PIXEL bits: fill, dilated cloud, cirrus, cloud, cloud shadow.
QA_PIXEL_RULES = (
    (1 << 0, 1 << 0),
    (1 << 1, 1 << 1),
    (1 << 2, 1 << 2),
    (1 << 3, 1 << 3),
    (1 << 4, 1 << 4),
)
# Landsat Collection 1 BQA: fill, cloud, and high confidence (both bits) of cloud shadow and
# cirrus. Low confidence (one bit) is set on most clear pixels, so it must not reject them.
BQA_RULES = ((1 << 0, 1 << 0), (1 << 4, 1 << 4), (3 << 7, 3 << 7), (3 << 11, 3 << 11))


def class_table(rejected: tuple[int, ...], size: int = 256) -> np.ndarray:
    """A lookup table: True for the classes that make a pixel unusable."""
    table = np.zeros(size, dtype=np.bool_)
    table[list(rejected)] = True
    return table


def bit_rules(rules: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """(masks, values) arrays: a pixel is rejected when `qa & mask == value` for any rule."""
    masks = np.array([mask for mask, _ in rules], dtype=np.uint16)
    values = np.array([value for _, value in rules], dtype=np.uint16)
    return masks, values


@njit(parallel=True, cache=True, nogil=True)
def reject_classes(classes, rejected, valid):
    """valid &= not rejected[class]; classes beyond the table are kept."""
    rows, cols = classes.shape
    size = rejected.shape[0]
    for i in prange(rows):
        for j in range(cols):
            value = classes[i, j]
            if value < size and rejected[value]:
                valid[i, j] = False


@njit(parallel=True, cache=True, nogil=True)
def reject_bits(qa, masks, values, valid):
    """valid &= no rule matches, a rule matching when `qa & mask == value`."""
    rows, cols = qa.shape
    for i in prange(rows):
        for j in range(cols):
            flags = qa[i, j]
            for k in range(masks.shape[0]):
                if flags & masks[k] == values[k]:
                    valid[i, j] = False
                    break


def warm_up() -> None:
    """Compiles or loads the mask kernels for the flag types scenes carry."""
    valid = np.ones((4, 4), np.bool_)
    reject_classes(np.ones((4, 4), np.uint8), class_table(SCL_REJECTED), valid)
    reject_bits(np.ones((4, 4), np.uint16), *bit_rules(QA_PIXEL_RULES), valid)
