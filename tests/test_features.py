"""turborec.features: feature matrices checked against pandas, id alignment, cold-start rows, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

import turborec
from turborec.features import Features, item_features, tokenize, user_features

pd = pytest.importorskip("pandas")


@pytest.fixture
def movies():
    return pd.DataFrame({
        "movieId": [10, 20, 30, 40, 50],
        "genres": ["Action|Comedy", "Comedy", None, "Drama|Action|Action", " Drama | "],
        "studio": ["A", "B", "A", np.nan, "C"],
        "year": [1990.0, 2000.0, np.nan, 2010.0, 1995.0],
        "plot": ["a dog and a cat", "the cat sat", "", "Dogs! dogs, DOGS", np.nan],
    })


@pytest.fixture
def ratings():
    # items 30 and 20 rated, 99 rated but without a row in movies; 10/40/50 unrated
    return turborec.Interactions.from_arrays([1, 1, 2, 3], [30, 20, 20, 99], [4.0, 3.0, 5.0, 1.0])


def dense(F: Features):
    return pd.DataFrame(F.matrix.toarray(), index=list(F.ids), columns=list(F.names))


def test_multi_valued_and_categorical_match_pandas(movies):
    F = item_features(movies, "movieId", multi_valued="genres", categorical="studio")
    assert F.matrix.dtype == np.float32 and F.matrix.has_canonical_format
    assert list(F.ids) == [10, 20, 30, 40, 50] and F.n_known == 0
    got = dense(F)
    genres = movies.set_index("movieId")["genres"].fillna("").str.replace(" ", "").str.get_dummies(sep="|")
    genres = genres.loc[:, genres.columns != ""]
    genres.columns = [f"genres={c}" for c in genres.columns]
    studio = pd.get_dummies(movies.set_index("movieId")["studio"], prefix="studio", prefix_sep="=").astype(float)
    expected = pd.concat([genres.astype(float), studio], axis=1)
    pd.testing.assert_frame_equal(got[expected.columns].astype(float), expected, check_dtype=False,
                                  check_names=False)
    assert set(got.columns) == set(expected.columns)
    assert F.matrix[2].nnz == 1  # 30: no genres, studio A only


def test_tags_counted_per_item_like_groupby(movies):
    tags = pd.DataFrame({"movieId": [10, 10, 10, 40, 60, 40], "tag": ["Funny", "funny ", "dark", "dark", "new", None]})
    F = item_features(movies, "movieId", tags=tags)
    got = dense(F)
    clean = tags.dropna().assign(tag=lambda t: "tag=" + t.tag.str.strip().str.lower())
    expected = clean.groupby(["movieId", "tag"]).size().unstack(fill_value=0).astype(float)
    expected = expected.reindex(list(F.ids), fill_value=0.0)
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False, check_names=False)
    assert list(F.ids) == [10, 20, 30, 40, 50, 60]  # 60 only in the tags: appended


def test_numeric_scale_and_bins(movies):
    F = item_features(movies, "movieId", numeric="year")
    col = dense(F)["year"]
    years = movies.set_index("movieId")["year"]
    expected = ((years - years.min()) / (years.max() - years.min())).fillna(0.0)
    np.testing.assert_allclose(col.to_numpy(), expected.to_numpy(), rtol=1e-6)
    F = item_features(movies, "movieId", numeric={"year": "bins"}, n_bins=2)
    got = dense(F)
    assert got.sum(axis=1).tolist() == [1, 1, 0, 1, 1]  # one bin each, none for NaN
    for mid, row in got.iterrows():
        for name in row.index[row.to_numpy() > 0]:
            lo, hi = (float(v) for v in name.split("=[")[1].rstrip(")]").split(","))
            y = years[mid]
            assert lo <= y < hi or (name.endswith("]") and y == hi)


def test_text_tfidf_matches_the_formula(movies):
    F = item_features(movies, "movieId", text="plot")
    got = dense(F)
    docs = {mid: tokenize(t) for mid, t in zip(movies["movieId"], movies["plot"]) if isinstance(t, str) and tokenize(t)}
    assert tokenize("Dogs! dogs, DOGS a") == ["dogs", "dogs", "dogs"]
    vocab = sorted({w for d in docs.values() for w in d})
    counts = pd.DataFrame([[d.count(w) for w in vocab] for d in docs.values()], index=list(docs), columns=vocab,
                          dtype=float)
    idf = np.log((1 + len(docs)) / (1 + (counts > 0).sum())) + 1
    w = counts * idf
    w = w.div(np.sqrt((w ** 2).sum(axis=1)), axis=0)
    w.columns = [f"plot={c}" for c in vocab]
    np.testing.assert_allclose(got.loc[list(docs), w.columns].to_numpy(), w.to_numpy(), rtol=1e-5)
    assert got.loc[30].sum() == 0 and got.loc[50].sum() == 0  # empty / NaN text: empty row


def test_text_tfidf_matches_scikit_learn(movies):
    text = pytest.importorskip("sklearn.feature_extraction.text")
    F = item_features(movies, "movieId", text="plot")
    rows = [0, 1, 3]
    ref = text.TfidfVectorizer().fit(movies["plot"].iloc[rows])
    expected = ref.transform(movies["plot"].iloc[rows]).toarray()
    got = dense(F).iloc[rows][[f"plot={w}" for w in ref.get_feature_names_out()]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_text_bm25_and_count(movies):
    from turborec.similarity import bm25_weight

    count = item_features(movies, "movieId", text="plot", text_weighting="count")
    assert dense(count).loc[40, "plot=dogs"] == 3
    bm = item_features(movies, "movieId", text="plot", text_weighting="bm25")
    has_text = np.asarray([0, 1, 3])
    sub = count.matrix[has_text]
    expected = bm25_weight(sub).toarray()
    np.testing.assert_allclose(bm.matrix[has_text].toarray(), expected, rtol=1e-5)


def test_weights_scale_a_block(movies):
    F = item_features(movies, "movieId", multi_valued="genres", categorical="studio", weights={"studio": 0.5})
    got = dense(F)
    assert got.loc[10, "studio=A"] == 0.5 and got.loc[10, "genres=Action"] == 1.0


def test_aligned_to_interactions_with_cold_items(movies, ratings):
    F = item_features(movies, "movieId", interactions=ratings, multi_valued="genres")
    assert list(ratings.item_ids) == [20, 30, 99]
    assert list(F.ids) == [20, 30, 99, 10, 40, 50] and F.n_known == 3 and F.n_new == 3
    assert F.matrix[2].nnz == 0 and F.matrix[1].nnz == 0  # 99 has no row; 30 has no genres
    assert set(F.names[F.matrix[0].indices]) == {"genres=Comedy"}
    np.testing.assert_array_equal(F.index([10, 20]), [3, 0])
    with pytest.raises(KeyError, match="unknown row id 7"):
        F.index([7])
    wide = F.extend(ratings)
    assert wide.shape == (3, 6) and list(wide.item_ids) == list(F.ids)
    np.testing.assert_array_equal(wide.matrix[:, :3].toarray(), ratings.matrix.toarray())
    assert wide.matrix[:, 3:].nnz == 0
    assert wide.item_index(40) == 4
    dropped = item_features(movies, "movieId", interactions=ratings, multi_valued="genres", new_ids="drop")
    assert list(dropped.ids) == [20, 30, 99] and dropped.extend(ratings) is ratings
    with pytest.raises(ValueError, match="id 10 is not among the interactions' items"):
        item_features(movies, "movieId", interactions=ratings, multi_valued="genres", new_ids="error")
    other = turborec.Interactions.from_arrays([1], [20], [1.0])
    with pytest.raises(ValueError, match="not aligned"):
        F.extend(other)


def test_extend_keeps_timestamps_and_user_axis(ratings):
    timed = turborec.Interactions.from_arrays([1, 1, 2], ["x", "y", "y"], [4.0, 3.0, 5.0], [10, 20, 30])
    users = pd.DataFrame({"user_id": [2, 1, 7], "age": ["young", "old", "old"]})
    U = user_features(users, interactions=timed, categorical="age")
    assert list(U.ids) == [1, 2, 7] and U.n_known == 2
    wide = U.extend(timed, axis="users")
    assert wide.shape == (3, 2) and list(wide.user_ids) == [1, 2, 7]
    np.testing.assert_array_equal(wide.timestamps.toarray()[:2], timed.timestamps.toarray())
    np.testing.assert_array_equal(dense(U).loc[2].to_numpy(), [0.0, 1.0])


def test_string_ids_and_mixed(movies):
    t = movies.assign(movieId=["a", "b", "c", "d", "e"])
    F = item_features(t, "movieId", multi_valued="genres")
    assert F.ids.dtype == object and list(F.ids) == ["a", "b", "c", "d", "e"]


def test_bad_input(movies, ratings):
    with pytest.raises(ValueError, match="no column 'nope'"):
        item_features(movies, "movieId", multi_valued="nope")
    with pytest.raises(ValueError, match="no column 'item_id'"):
        item_features(movies, multi_valued="genres")
    with pytest.raises(ValueError, match="missing .* id at row 1"):
        item_features(movies.assign(movieId=[1, np.nan, 3, 4, 5]), "movieId", multi_valued="genres")
    with pytest.raises(ValueError, match="id 1 appears more than once"):
        item_features(movies.assign(movieId=[1, 1, 3, 4, 5]), "movieId", multi_valued="genres")
    with pytest.raises(ValueError, match="table is empty"):
        item_features(movies.iloc[:0], "movieId", multi_valued="genres")
    with pytest.raises(ValueError, match="no features asked for"):
        item_features(movies, "movieId")
    with pytest.raises(ValueError, match="non-finite"):
        item_features(movies.assign(year=[1.0, np.inf, 2, 3, 4]), "movieId", numeric="year")
    with pytest.raises(ValueError, match="non-number"):
        item_features(movies, "movieId", numeric="studio")
    with pytest.raises(ValueError, match="must hold strings"):
        item_features(movies, "movieId", multi_valued="year")
    with pytest.raises(ValueError, match="new_ids"):
        item_features(movies, "movieId", multi_valued="genres", new_ids="keep")
    with pytest.raises(ValueError, match="numeric\\['year'\\]"):
        item_features(movies, "movieId", numeric={"year": "log"})
    with pytest.raises(ValueError, match="weights names"):
        item_features(movies, "movieId", multi_valued="genres", weights={"year": 2.0})
    with pytest.raises(TypeError, match="pandas DataFrame"):
        item_features({"movieId": [1]}, "movieId", multi_valued="genres")
    with pytest.raises(TypeError, match="interactions must be"):
        item_features(movies, "movieId", multi_valued="genres", interactions=sp.eye(3, format="csr"))
    with pytest.raises(ValueError, match="none of the table's ids"):
        item_features(movies.assign(movieId=movies.movieId.astype(str)), "movieId", interactions=ratings,
                      multi_valued="genres")
    with pytest.raises(ValueError, match="n_bins"):
        item_features(movies, "movieId", numeric={"year": "bins"}, n_bins=0)


def test_input_table_not_modified(movies):
    before = movies.copy()
    item_features(movies, "movieId", multi_valued="genres", categorical="studio", numeric="year", text="plot")
    pd.testing.assert_frame_equal(movies, before)


def test_movielens_genres_and_tags(movielens):
    ratings = turborec.Interactions.from_csv(movielens / "ratings.csv", user="userId", item="movieId",
                                             rating="rating")
    movies = pd.read_csv(movielens / "movies.csv")
    tags = pd.read_csv(movielens / "tags.csv")
    F = item_features(movies, "movieId", interactions=ratings, multi_valued="genres", tags=tags)
    assert F.n_known == ratings.n_items and F.n_new == len(set(movies.movieId) - set(ratings.item_ids))
    row = F.index(1)[0]
    names = set(F.names[F.matrix[row].indices])
    assert {"genres=Adventure", "genres=Animation", "genres=Children", "genres=Comedy", "genres=Fantasy"} <= names
    n_tags = tags[tags.movieId == 1].tag.str.strip().str.lower().nunique()
    assert sum(n.startswith("tag=") for n in names) == n_tags
    assert not math.isnan(F.matrix.data.sum())


from hypothesis import given, settings, strategies as st  # noqa: E402

_labels = st.lists(st.sampled_from(["a", "b", "c", "d e", "f"]), max_size=4)


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(st.one_of(st.none(), _labels), st.lists(st.sampled_from(["x", "Y", "x "]), max_size=3)),
                     min_size=1, max_size=12),
       known=st.integers(0, 12))
def test_random_tables_match_pandas(rows, known):
    ids = list(range(100, 100 + len(rows)))
    table = pd.DataFrame({"id": ids, "genres": [None if g is None else "|".join(g) for g, _ in rows]})
    tags = pd.DataFrame([(i, t) for i, (_, ts) in zip(ids, rows) for t in ts], columns=["id", "tag"])
    rated = ids[:known] + [5]  # some of the table's ids were rated, plus one it does not describe
    ratings = turborec.Interactions.from_arrays(np.zeros(len(rated), int), rated)
    F = item_features(table, "id", interactions=ratings, multi_valued="genres", tags=tags if len(tags) else None)
    assert F.n_known == ratings.n_items and list(F.ids[: F.n_known]) == list(ratings.item_ids)
    assert sorted(F.ids.tolist()) == sorted(set(ids) | {5})
    got = dense(F)
    for mid, (g, ts) in zip(ids, rows):
        want = {f"genres={x}" for x in (g or [])} | {f"tag={t.strip().lower()}" for t in ts}
        row = got.loc[mid]
        assert set(row.index[row.to_numpy() > 0]) == want
        for t in {t.strip().lower() for t in ts}:
            assert row[f"tag={t}"] == sum(x.strip().lower() == t for x in ts)
    assert got.loc[5].sum() == 0  # rated, no features: an empty row
