"""One category rule for vocabularies and codes, training frames and request rows alike."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from clickintent.ranker.encoding import MatrixEncoder
from clickintent.ranker.tabular import category_text, infer_schema, vocabulary


def test_three_three_point_zero_and_padded_text_are_one_category() -> None:
    assert {category_text(3), category_text(3.0), category_text(" 3"), category_text(np.float32(3.0))} == {"3"}
    assert category_text(2.5) == "2.5" and category_text(None) is None and category_text(float("nan")) is None
    assert vocabulary(pd.Series([3.0, None, 1.0, 3.0])) == ("1", "3")
    assert vocabulary(pd.Series(["b ", "a", None])) == ("a", "b")


def test_frames_and_rows_give_the_same_codes_whatever_the_reader() -> None:
    train = pd.DataFrame({"region": [1.0, 2.0, 3.0, 1.0], "amount": [1, 2, 3, 4]})
    schema = infer_schema(train, categorical=["region"])
    encoder = MatrixEncoder.of(schema)
    later = pd.DataFrame({"region": ["3", " 2", "9", None], "amount": [1.5, None, 2.0, 3.0]})

    frame_matrix = encoder.encode_frame(later)
    rows_matrix = encoder.encode_rows([{"region": 3, "amount": 1.5}, {"region": 2.0}, {"region": "9", "amount": 2.0}, {"amount": "3"}])

    np.testing.assert_array_equal(frame_matrix, rows_matrix)
    assert frame_matrix[:, 0].tolist()[:2] == [2.0, 1.0] and math.isnan(frame_matrix[2, 0]) and math.isnan(frame_matrix[3, 0])
