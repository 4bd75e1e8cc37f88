"""String ops and TfIdfVectorizer against hand-computed values and plain Python."""
import numpy as np
import pytest

import pyinfer
from support.one_node import assert_same, run


def strings(*values, shape=None):
    a = np.array(list(values), dtype=object)
    return a.reshape(shape) if shape else a


def test_string_normalizer_stopwords_and_case():
    x = strings("Monday", "tuesday", "MONDAY", "Straße")
    y = run("StringNormalizer", [x], stopwords=["monday"], case_change_action="UPPER")
    assert_same(y, strings("TUESDAY", "STRASSE"))
    y = run("StringNormalizer", [x], stopwords=["monday"], is_case_sensitive=1, case_change_action="LOWER")
    assert_same(y, strings("monday", "tuesday", "monday", "straße"))  # no exact "monday" to drop
    y = run("StringNormalizer", [x.reshape(1, 4)], stopwords=["Monday", "MONDAY", "tuesday", "Straße"],
            is_case_sensitive=1)
    assert_same(y, strings("", shape=(1, 1)))  # all dropped: one empty string, rank kept


def test_string_normalizer_rejects_bad_shape_and_action():
    with pytest.raises(pyinfer.Error, match=r"\[1, ?C\]"):  # onnx's rules refuse the declared shape at load
        run("StringNormalizer", [strings("a", "b", "c", "d", shape=(2, 2))])
    with pytest.raises(pyinfer.Error, match="case_change_action"):
        run("StringNormalizer", [strings("a")], case_change_action="TITLE")


def test_string_split_delimiter_and_padding():
    y, z = run("StringSplit", [strings("a,b,,c", "x", "")], n_outputs=2, delimiter=",")
    assert_same(y, strings("a", "b", "", "c", "x", "", "", "", "", "", "", "", shape=(3, 4)))
    assert_same(z, np.array([4, 1, 1], np.int64))


def test_string_split_whitespace_and_maxsplit():
    y, z = run("StringSplit", [strings("  hello   big world ", "one", shape=(2, 1))], n_outputs=2, maxsplit=1)
    assert_same(y, strings("hello", "big world ", "one", "", shape=(2, 1, 2)))
    assert_same(z, np.array([[2], [1]], np.int64))


def test_string_split_empty_input():
    y, z = run("StringSplit", [np.zeros((0, 2), dtype=object)], n_outputs=2, delimiter="-")
    assert y.shape == (0, 2, 0) and z.shape == (0, 2) and z.dtype == np.int64


def test_string_concat_broadcast_and_utf8():
    y = run("StringConcat", [strings("a", "é", shape=(2, 1)), strings("x", "ñ", "")])
    assert_same(y, strings("ax", "añ", "a", "éx", "éñ", "é", shape=(2, 3)))
    with pytest.raises(pyinfer.Error, match="broadcast|Incompatible dimensions"):
        run("StringConcat", [strings("a", "b"), strings("a", "b", "c")])


def test_regex_full_match():
    x = strings("www.google.com", "www.facebook.com", "www.bbc.co.uk", "wxw.google.com", "", shape=(5,))
    y = run("RegexFullMatch", [x], pattern=r"www\.[\w.-]+\.\bcom\b")
    assert_same(y, np.array([True, True, False, False, False]))
    # RE2's \d is ASCII only: an Arabic-Indic digit does not match
    assert_same(run("RegexFullMatch", [strings("12", "\u0661\u0662")], pattern=r"\d+"), np.array([True, False]))
    with pytest.raises(pyinfer.Error, match="invalid regular expression"):
        run("RegexFullMatch", [strings("a")], pattern="(")


def _ngram_counts(row, pool, min_n, max_n, max_skip):
    """Plain definition: every n-gram (n in [min_n, max_n]) with items skip+1 apart; 1-grams once."""
    counts = {g: 0 for g in pool}
    for n in range(min_n, max_n + 1):
        for skip in range(max_skip + 1 if n > 1 else 1):
            for s in range(len(row)):
                idx = [s + i * (skip + 1) for i in range(n)]
                if idx[-1] < len(row):
                    g = tuple(row[i] for i in idx)
                    if g in counts:
                        counts[g] += 1
    return counts


@pytest.mark.parametrize("min_n,max_n,skip", [(1, 1, 0), (2, 2, 0), (1, 2, 3), (2, 2, 5)])
def test_tfidf_vectorizer_counts(min_n, max_n, skip):
    x = np.array([[1, 1, 3, 3, 3, 7], [8, 6, 7, 5, 6, 8]], np.int32)
    unigrams, bigrams = [2, 3, 5, 4], [(5, 6), (7, 8), (6, 7), (3, 3)]
    pool = [2, 3, 5, 4] + [v for b in bigrams for v in b]
    ngram_list = [(u,) for u in unigrams] + bigrams
    indexes = [3, 0, 6, 1, 7, 2, 4, 5]  # a permutation: output column of each n-gram
    y = run("TfIdfVectorizer", [x], mode="TF", min_gram_length=min_n, max_gram_length=max_n, max_skip_count=skip,
            ngram_counts=[0, 4], ngram_indexes=indexes, pool_int64s=pool)
    want = np.zeros((2, 8), np.float32)
    for r in range(2):
        counts = _ngram_counts(x[r].tolist(), ngram_list, min_n, max_n, skip)
        for i, g in enumerate(ngram_list):
            want[r, indexes[i]] = counts[g]
    assert_same(y, want)


def test_tfidf_vectorizer_strings_idf_tfidf():
    x = strings("a", "b", "a", "c", "a", "b")
    pool = ["a", "b", "a", "b", "b", "c"]  # unigrams a, b; bigrams (a, b), (b, c)... counted with skip 0
    weights = [0.5, 2.0, 3.0, 4.0]
    args = dict(min_gram_length=1, max_gram_length=2, max_skip_count=0, ngram_counts=[0, 2],
                ngram_indexes=[0, 1, 2, 3], pool_strings=pool, weights=weights)
    # counts: a=3, b=2, (a,b)=2, (b,c)=0
    assert_same(run("TfIdfVectorizer", [x], mode="TF", **args), np.array([3, 2, 2, 0], np.float32))
    assert_same(run("TfIdfVectorizer", [x], mode="IDF", **args), np.array([0.5, 2, 3, 0], np.float32))
    assert_same(run("TfIdfVectorizer", [x], mode="TFIDF", **args), np.array([1.5, 4, 6, 0], np.float32))


def test_tfidf_vectorizer_model_errors():
    with pytest.raises(pyinfer.Error, match="exactly one"):
        run("TfIdfVectorizer", [np.array([1], np.int64)], mode="TF", min_gram_length=1, max_gram_length=1,
            max_skip_count=0, ngram_counts=[0], ngram_indexes=[0])
    with pytest.raises(pyinfer.Error, match="whole"):
        run("TfIdfVectorizer", [np.array([1], np.int64)], mode="TF", min_gram_length=1, max_gram_length=2,
            max_skip_count=0, ngram_counts=[0, 1], ngram_indexes=[0, 1], pool_int64s=[1, 2, 3, 4])
