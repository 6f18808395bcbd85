"""MovieLens loaders on hand-written fixtures (plain and gzipped), and on the real ML-100K when present."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from recsys_pyg.data.files import DataFileError
from recsys_pyg.data.movielens import load_ml1m, load_ml100k

REAL_ML100K = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-100k"

# raw user 7 rates only low (a cold user after thresholding); item 5 too.
U_DATA = (
    "1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t2\t4\t881250951\n2\t3\t5\t881250952\n"
    "3\t1\t4\t881250953\n3\t4\t2\t881250954\n7\t5\t1\t881250955\n"
)


def _genres(*on: int) -> str:
    return "|".join("1" if j in on else "0" for j in range(19))


U_ITEM = "".join(
    f"{i}|{title}|{date}||http://x|{_genres(*g)}\n"
    for i, title, date, g in [
        (1, "Toy Story (1995)", "01-Jan-1995", (3, 4)),
        (2, "Café Society (1990)", "01-Jan-1990", (0,)),
        (3, "Unknown", "", ()),
        (4, "Later (2000)", "01-Jan-2000", (18,)),
        (5, "Five (1998)", "01-Jan-1998", (1, 2)),
        (6, "Never rated (1980)", "01-Jan-1980", (5,)),
    ]
)
U_USER = "1|24|M|technician|85711\n2|53|F|other|94043\n3|33|M|writer|32067\n7|43|F|other|12345\n"
U_OCCUPATION = "other\ntechnician\nwriter\nartist\n"


def _write(path: Path, text: str, gz: bool) -> None:
    raw = text.encode("latin-1")
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def _ml100k(folder: Path, gz: bool, extra: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    _write(folder / "u.data", U_DATA, gz)
    if extra:
        _write(folder / "u.item", U_ITEM, not gz)  # mixed plain / gzipped in one folder
        _write(folder / "u.user", U_USER, gz)
        _write(folder / "u.occupation", U_OCCUPATION, gz)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_ml100k_threshold_keeps_id_space(tmp_path: Path, gz: bool) -> None:
    data = load_ml100k(_ml100k(tmp_path / "ml", gz))
    assert (data.num_users, data.num_items, len(data)) == (4, 5, 4)
    assert data.user_ids == [1, 2, 3, 7] and data.item_ids == [1, 2, 3, 4, 5]
    assert data.user.tolist() == [0, 1, 1, 2] and data.item.tolist() == [0, 1, 2, 0]
    assert data.rating.tolist() == [5.0, 4.0, 5.0, 4.0]
    assert data.timestamp.dtype == torch.long
    assert data.timestamp.tolist() == [881250949, 881250951, 881250952, 881250953]

    every = load_ml100k(tmp_path / "ml", threshold=None)
    assert (every.num_users, every.num_items, len(every)) == (4, 5, 7)
    assert every.user[-1].item() == 3 and every.item[-1].item() == 4


def test_ml100k_features(tmp_path: Path) -> None:
    data = load_ml100k(_ml100k(tmp_path / "ml", gz=False))
    items = data.item_features
    assert items.shape == (5, 20)
    assert items[0, :19].nonzero().flatten().tolist() == [3, 4]
    assert items[4, :19].nonzero().flatten().tolist() == [1, 2]
    mean = (1995 + 1990 + 2000 + 1998) / 4
    expected_year = torch.tensor([0.5, 0.0, (mean - 1990) / 10, 1.0, 0.8])
    torch.testing.assert_close(items[:, 19], expected_year)

    users = data.user_features
    assert users.shape == (4, 2 + 4)  # age, gender, 4 occupations of u.occupation
    torch.testing.assert_close(users[:, 0], torch.tensor([0.0, 1.0, 9 / 29, 19 / 29]))
    assert users[:, 1].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert users[:, 2:].argmax(1).tolist() == [1, 0, 2, 0]  # technician, other, writer, other
    assert data.item_columns == {"title": ["Toy Story (1995)", "Café Society (1990)", "Unknown", "Later (2000)",
                                           "Five (1998)"]}  # fmt: skip


def test_ml100k_titles_are_a_text_column_fitted_on_training_items(tmp_path: Path) -> None:
    from recsys_pyg.data.dataset import prepare_dataset
    from recsys_pyg.data.split import temporal_split

    folder = str(_ml100k(tmp_path / "ml", gz=False))
    data = prepare_dataset(
        "ml", load_ml100k, temporal_split, path=folder, cache=False, features={"types": {"title": "text"}}
    )
    item = data.features["item"]
    assert [(c.name, c.kind) for c in item.columns] == [("features", "vector"), ("title", "text")]
    assert item.dense.shape[1] == 20 + item.columns[1].width  # genres/year as given, then the title's TF-IDF
    vocabulary = set(item.columns[1].encoder.vectorizer.vocabulary_)
    trained = data.split.train.item.unique().tolist()
    titles = [data.split.train.item_columns["title"][i].lower() for i in trained]
    assert vocabulary and all(any(t in title for title in titles) for t in vocabulary)


def test_ml100k_missing_optional_files_give_no_features(tmp_path: Path) -> None:
    data = load_ml100k(_ml100k(tmp_path / "ml", gz=True, extra=False))
    assert data.item_features is None and data.user_features is None
    assert load_ml100k(_ml100k(tmp_path / "ml2", gz=False), features=False).item_features is None


def test_ml100k_occupations_without_u_occupation_are_sorted(tmp_path: Path) -> None:
    folder = _ml100k(tmp_path / "ml", gz=False)
    (folder / "u.occupation").unlink()
    users = load_ml100k(folder).user_features
    assert users.shape == (4, 2 + 3)  # other, technician, writer
    assert users[:, 2:].argmax(1).tolist() == [1, 0, 2, 0]


def test_ml100k_malformed_rating_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "u.data").write_text("1\t1\t5\t0\n1\t2\t3\t0\n2\tabc\t4\t0\n")
    with pytest.raises(DataFileError) as info:
        load_ml100k(folder)
    assert str(info.value).startswith(f"{folder / 'u.data'}, line 3: item id 'abc' is not an integer")

    (folder / "u.data").write_text("1\t1\t5\n")
    with pytest.raises(DataFileError, match=r"u\.data, line 1: expected 4 fields"):
        load_ml100k(folder)

    (folder / "u.data").write_text("")
    with pytest.raises(DataFileError, match=r"u\.data: no ratings"):
        load_ml100k(folder)


def test_ml100k_malformed_item_file(tmp_path: Path) -> None:
    folder = _ml100k(tmp_path / "ml", gz=False, extra=False)
    (folder / "u.item").write_text("1|Toy Story|01-Jan-1995\n")
    with pytest.raises(DataFileError, match=r"u\.item, line 1: expected 24"):
        load_ml100k(folder)


def test_ml100k_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dataset.path"):
        load_ml100k(tmp_path / "nowhere")


ML1M_RATINGS = "1::10::5::978300760\n1::20::3::978300761\n2::10::4::978300762\n2::30::4::978300763\n3::20::2::978300764"
ML1M_MOVIES = (
    "10::Café Society (1995)::Comedy|Drama\n20::GoldenEye (1990)::Action\n30::Heat (2000)::Film-Noir|Western\n"
)
ML1M_USERS = "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::0::55117\n"


@pytest.mark.parametrize("gz", [False, True])
def test_ml1m(tmp_path: Path, gz: bool) -> None:
    for name, text in (("ratings.dat", ML1M_RATINGS), ("movies.dat", ML1M_MOVIES), ("users.dat", ML1M_USERS)):
        _write(tmp_path / name, text, gz)
    data = load_ml1m(tmp_path)
    assert (data.num_users, data.num_items, len(data)) == (3, 3, 3)
    assert data.item_ids == [10, 20, 30] and data.user.tolist() == [0, 1, 1] and data.item.tolist() == [0, 0, 2]
    assert data.item_features.shape == (3, 19)
    assert data.item_features[0, :18].nonzero().flatten().tolist() == [4, 7]  # Comedy, Drama
    assert data.item_features[2, :18].nonzero().flatten().tolist() == [9, 17]  # Film-Noir, Western
    torch.testing.assert_close(data.item_features[:, 18], torch.tensor([0.5, 0.0, 1.0]))
    assert data.user_features.shape == (3, 23)
    torch.testing.assert_close(data.user_features[:, 0], torch.tensor([0.0, 1.0, 24 / 55]))
    assert data.user_features[:, 1].tolist() == [0.0, 1.0, 1.0]
    assert data.user_features[:, 2:].argmax(1).tolist() == [10, 16, 0]
    assert len(load_ml1m(tmp_path, threshold=None, features=False)) == 5


def test_ml1m_unknown_genre(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text(ML1M_RATINGS)
    (tmp_path / "movies.dat").write_text("10::Toy Story (1995)::Comedy|Anime\n")
    with pytest.raises(DataFileError, match=r"movies\.dat, line 1: unknown genre 'Anime'"):
        load_ml1m(tmp_path)


@pytest.mark.skipif(not REAL_ML100K.is_dir(), reason=f"real ML-100K not found at {REAL_ML100K}")
def test_real_ml100k_counts() -> None:
    every = load_ml100k(REAL_ML100K, threshold=None, features=False)
    assert (every.num_users, every.num_items, len(every)) == (943, 1682, 100_000)
    data = load_ml100k(REAL_ML100K)
    assert (data.num_users, data.num_items, len(data)) == (943, 1682, 55_375)
    assert data.user.unique().numel() == 942 and data.item.unique().numel() == 1447
    assert data.item_features.shape == (1682, 20) and data.user_features.shape == (943, 23)
    assert not torch.isnan(data.item_features).any()
