"""The JSON nesting scan: exact on valid documents however the body is cut into pieces, and
cheap on a body of nothing but brackets."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

from territoires.shared.request_limits import BodyGuard, JsonNesting

# Keys and strings full of what a naive scan would miscount: brackets, quotes, backslashes.
TRICKY = ["[", "{", '"]', "\\", '\\"[', "\\\\", "é[", "]]}}", "\\\\\\", "x"]


def depth(document: Any) -> int:
    if isinstance(document, dict):
        document = list(document.values())
    if not isinstance(document, list):
        return 0
    return 1 + max((depth(child) for child in document), default=0)


def random_document(rng: random.Random, levels: int) -> Any:
    draw = rng.random()
    if levels and draw < 0.3:
        return [random_document(rng, levels - 1) for _ in range(rng.randint(0, 3))]
    if levels and draw < 0.6:
        return {rng.choice(TRICKY): random_document(rng, levels - 1) for _ in range(3)}
    return rng.choice([*TRICKY, 1, None, 2.5, True])


def scan(text: bytes, cuts: list[int]) -> JsonNesting:
    nesting = JsonNesting()
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        nesting.feed(text[start:end])
    return nesting


def test_depth_is_exact_wherever_the_body_is_cut() -> None:
    rng = random.Random(15)
    for _ in range(2000):
        document = random_document(rng, rng.randint(0, 12))
        text = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode()
        cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(0, 6))))
        nesting = scan(text, cuts)
        assert nesting.deepest == depth(document), text
        assert nesting.depth == 0 and not nesting.in_string


def test_an_escaped_backslash_run_across_pieces() -> None:
    # The string ends after `\\\\` (two escaped backslashes): the bracket after it counts.
    text = b'["\\\\\\\\", [[1]]]'
    for cut in range(len(text) + 1):
        assert scan(text, [cut]).deepest == 3


def test_ten_mebibytes_of_brackets_cost_little() -> None:
    body = b"[]" * (5 * 1024 * 1024)
    started = time.perf_counter()
    nesting = scan(body, list(range(65536, len(body), 65536)))
    assert nesting.deepest == 1
    # About 0.1 s when the machine is quiet; json.loads of the same body takes far longer.
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 33 + b"]" * 33, 400),
        (b"\xef\xbb\xbf \r\n" + b"{" * 40, 400),  # BOM and whitespace first
        ('[[["deep"]]]'.encode("utf-16-le"), 415),  # json.loads would read it; the scan not
        ('[[["deep"]]]'.encode("utf-32"), 415),
        (b"[" * 32 + b"]" * 32, None),
        (b"<" * 100, None),  # not JSON: nothing to scan
        (b"1" * 2048, 413),
    ],
)
def test_body_guard(body: bytes, status: int | None) -> None:
    guard = BodyGuard(max_bytes=1024, max_depth=32)
    answers = [guard.feed(body[i : i + 1], i == len(body) - 1) for i in range(len(body))]
    refused = [a for a in answers if a is not None]
    assert (refused[0].status_code if refused else None) == status
