from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_datasets_is_ours_not_the_pypi_package():
    # `datasets` is also Hugging Face's package name; in the project environment it must resolve to this repository
    import datasets

    assert Path(datasets.__file__).resolve().parent == REPO / "datasets"
    assert hasattr(__import__("datasets.splits").splits, "load_split")


def test_top_level_packages_import():
    import methods  # noqa: F401
    import protocols  # noqa: F401
    import results  # noqa: F401
