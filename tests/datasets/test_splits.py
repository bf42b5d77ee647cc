import pytest

from datasets.errors import LayoutError, MissingVideoError, SplitFileError, UnsafePathError
from datasets.splits import load_split, train_val_split


def test_ucf_reader_labels_groups_and_crlf(ucf_root):
    assert b"\r\n" in (ucf_root / "ucfTrainTestlist" / "trainlist01.txt").read_bytes()
    idx = load_split("ucf101", ucf_root, split=1)
    assert idx.classes == ["MoveLeft", "MoveRight"]
    assert len(idx.train) == 2 * 2 * 2 and len(idx.test) == 2 * 1 * 2
    # testlist has no label: it comes from the folder through classInd (1-based -> 0-based)
    assert {e.label for e in idx.test if e.relpath.startswith("MoveRight/")} == {1}
    assert all(e.group.endswith("/g01") for e in idx.test)
    assert all(e.path.is_file() for e in idx.train + idx.test)


def test_ucf_video_and_split_dirs_given_separately(ucf_root):
    idx = load_split("ucf101", video_dir=ucf_root / "UCF-101", split_dir=ucf_root / "ucfTrainTestlist", split=2)
    assert len(idx.test) == 4 and all("_g02_" in e.relpath for e in idx.test)


def test_hmdb_reader_flags_and_sorted_classes(hmdb_root):
    idx = load_split("hmdb51", hmdb_root, split=3)
    assert idx.classes == ["jump", "wave"]
    # split 3 marks the last video of each class as unused (flag 0)
    assert len(idx.train) + len(idx.test) == 2 * 3
    assert all(not e.relpath.endswith("_3.avi") for e in idx.train + idx.test)
    assert {e.label for e in idx.train} == {0, 1}


def test_wrong_root_names_expected_files(tmp_path):
    with pytest.raises(LayoutError, match="classInd.txt|UCF-101"):
        load_split("ucf101", tmp_path)
    (tmp_path / "UCF-101").mkdir()
    with pytest.raises(LayoutError, match="classInd.txt"):
        load_split("ucf101", tmp_path)
    with pytest.raises(LayoutError, match="testTrainMulti_7030_splits"):
        load_split("hmdb51", tmp_path)


def test_unknown_class_gives_file_and_line(ucf_root):
    f = ucf_root / "ucfTrainTestlist" / "testlist01.txt"
    f.write_bytes(f.read_bytes() + b"Juggling/v_Juggling_g01_c01.avi\r\n")
    with pytest.raises(SplitFileError, match=r"testlist01.txt:5: unknown class 'Juggling'"):
        load_split("ucf101", ucf_root)


def test_malformed_and_empty_lines(ucf_root, hmdb_root):
    f = ucf_root / "ucfTrainTestlist" / "trainlist01.txt"
    f.write_bytes(b"MoveLeft/v_MoveLeft_g02_c01.avi one two\r\n")
    with pytest.raises(SplitFileError, match=r"trainlist01.txt:1: expected"):
        load_split("ucf101", ucf_root)
    f.write_bytes(b"\r\n\r\n")
    with pytest.raises(SplitFileError, match="trainlist01.txt: the split is empty"):
        load_split("ucf101", ucf_root)
    h = hmdb_root / "testTrainMulti_7030_splits" / "jump_test_split1.txt"
    h.write_text("jump_video_0.avi 7 \n")
    with pytest.raises(SplitFileError, match=r"jump_test_split1.txt:1: expected '<name>.avi <0\|1\|2>'"):
        load_split("hmdb51", hmdb_root)


def test_label_disagreeing_with_classind(ucf_root):
    f = ucf_root / "ucfTrainTestlist" / "trainlist01.txt"
    f.write_bytes(b"MoveLeft/v_MoveLeft_g02_c01.avi 2\r\n")
    with pytest.raises(SplitFileError, match="disagrees with classInd"):
        load_split("ucf101", ucf_root)


def test_missing_video_error_and_counted_skip(ucf_root):
    (ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g02_c01.avi").unlink()
    with pytest.raises(MissingVideoError, match=r"v_MoveLeft_g02_c01.avi \(listed at .*trainlist01.txt:\d+\)"):
        load_split("ucf101", ucf_root)
    idx = load_split("ucf101", ucf_root, on_missing="skip")
    assert len(idx.missing) == 1 and len(idx.train) == 7


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "MoveLeft/../../x.avi"])
def test_paths_leaving_the_root_are_refused(ucf_root, bad):
    f = ucf_root / "ucfTrainTestlist" / "testlist01.txt"
    f.write_bytes(f"{bad}\r\n".encode())
    with pytest.raises((UnsafePathError, SplitFileError)):
        load_split("ucf101", ucf_root)


def test_symlink_leaving_the_root_is_refused(ucf_root, tmp_path):
    outside = tmp_path / "outside.avi"
    outside.write_bytes(b"x")
    link = ucf_root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g01_c01.avi"
    link.unlink()
    link.symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symlink"):
        load_split("ucf101", ucf_root)


def test_validation_split_is_group_aware_and_deterministic(ucf_root):
    idx = load_split("ucf101", ucf_root)
    tr, va = train_val_split(idx.train, 0.3, seed=0)
    assert va and tr and len(tr) + len(va) == len(idx.train)
    assert not {e.group for e in tr} & {e.group for e in va}
    assert [e.relpath for e in va] == [e.relpath for e in train_val_split(idx.train, 0.3, seed=0)[1]]
    assert not {e.relpath for e in va} & {e.relpath for e in idx.test}
    # every class keeps training videos
    assert {e.label for e in tr} == {0, 1}


# HMDB51 as released: several clips cut from one source video share its name up to a trailing "_<n>" clip index.
HMDB_SOURCES = {
    "brush_hair": [
        ("April_09_brush_hair_u_nm_np1_ba_goo", 3),
        ("Aussie_Brunette_Brushing_Long_Hair_brush_hair_u_nm_np1_ba_med", 4),
        ("Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo", 2),
        ("Veoh_Alpha_Dog_1_brush_hair_f_nm_np1_fr_goo", 3),
        ("Blonde_being_brushed_brush_hair_f_nm_np2_ri_med", 2),
        ("brushing_my_waist_lenth_hair_brush_hair_u_nm_np1_ba_goo", 3),
    ],
    "clap": [
        ("#20_Rhythm_clap_u_nm_np1_fr_goo", 3),
        ("Kurt_Cobain_Unplugged_clap_u_cm_np1_fr_med", 2),
        ("Applauding_Goalkeeper_clap_f_cm_np1_ba_bad", 4),
        ("Hand_Clapping_Song_clap_f_nm_np1_le_goo", 3),
        ("My_Child_claps_clap_h_nm_np1_fr_med", 2),
        ("Clapping_Hands_2_clap_u_nm_np1_ri_goo", 4),
    ],
    "dribble": [
        ("Basketball_Dribbling_Tips_2_dribble_f_cm_np1_ba_med", 2),
        ("Dribbling_Drills_dribble_f_nm_np1_le_goo", 4),
        ("Ball_handling_101_dribble_u_cm_np1_fr_goo", 3),
        ("NBA_Streetball_dribble_f_cm_np1_ri_bad", 3),
        ("How_to_Crossover_dribble_f_nm_np1_fr_med", 2),
        ("Boy_dribbling_02_dribble_h_nm_np1_ba_goo", 4),
    ],
}


def _write_hmdb_split(root, listing: dict[str, list[tuple[str, int]]]):
    """An HMDB51-layout root with split 1 only: ``listing`` is class -> [(file name, flag)]. The videos are stubs
    (load_split only checks that a listed file exists)."""
    (root / "testTrainMulti_7030_splits").mkdir(parents=True, exist_ok=True)
    for cls, rows in listing.items():
        (root / "testTrainMulti_7030_splits" / f"{cls}_test_split1.txt").write_text(
            "".join(f"{name} {flag} \n" for name, flag in rows)
        )
        for name, _ in rows:
            (root / cls).mkdir(exist_ok=True)
            (root / cls / name).write_bytes(b"stub")
    return root


@pytest.fixture
def hmdb_sources_root(tmp_path):
    """Every class: 6 sources of 2-4 clips (_0, _1, ...); the first source tests, the last is unused, 4 train."""
    listing = {
        cls: [
            (f"{src}_{c}.avi", 2 if i == 0 else 0 if i == len(srcs) - 1 else 1)
            for i, (src, n) in enumerate(srcs)
            for c in range(n)
        ]
        for cls, srcs in HMDB_SOURCES.items()
    }
    return _write_hmdb_split(tmp_path / "hmdb", listing)


def _straddling(train, val) -> set[str]:
    """Source videos (name up to the clip index) with clips on both sides; independent of VideoEntry.group."""
    source = lambda e: e.relpath.rsplit("_", 1)[0]
    return {source(e) for e in train} & {source(e) for e in val}


def test_hmdb_group_is_the_source_video(hmdb_sources_root):
    idx = load_split("hmdb51", hmdb_sources_root)
    groups = {e.relpath: e.group for e in idx.train + idx.test}
    assert (
        groups["brush_hair/Veoh_Alpha_Dog_1_brush_hair_f_nm_np1_fr_goo_2.avi"]
        == "brush_hair/Veoh_Alpha_Dog_1_brush_hair_f_nm_np1_fr_goo"
    )
    assert groups["clap/#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi"] == "clap/#20_Rhythm_clap_u_nm_np1_fr_goo"
    # one group per source, shared by all its clips (the unused source is not listed)
    for cls, srcs in HMDB_SOURCES.items():
        assert {g for r, g in groups.items() if r.startswith(f"{cls}/")} == {f"{cls}/{s}" for s, _ in srcs[:-1]}


def test_hmdb_group_strips_only_a_trailing_clip_index(tmp_path):
    names = {
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi": "April_09_brush_hair_u_nm_np1_ba_goo",
        "April_09_brush_hair_u_nm_np1_ba_goo_12.avi": "April_09_brush_hair_u_nm_np1_ba_goo",  # several digits
        "Veoh_Alpha_Dog_1_brush_hair_f_nm_np2_fr_goo_1.avi": "Veoh_Alpha_Dog_1_brush_hair_f_nm_np2_fr_goo",
        "brush_hair_without_index.avi": "brush_hair_without_index",  # no trailing index: the whole stem
        "Brushing_Hair_2003.avi": "Brushing_Hair",  # a trailing "_<digits>" is read as the clip index
        "Hair_np1_ba_goo_7a.avi": "Hair_np1_ba_goo_7a",  # not only digits: no index
        "_3.avi": "_3",  # never an empty source name
    }
    rows = [(n, 1) for n in names] + [("Test_brush_hair_u_nm_np1_fr_goo_0.avi", 2)]
    idx = load_split("hmdb51", _write_hmdb_split(tmp_path / "hmdb", {"brush_hair": rows}))
    assert {e.relpath.split("/", 1)[1]: e.group for e in idx.train} == {n: f"brush_hair/{g}" for n, g in names.items()}
    assert [e.group for e in idx.test] == ["brush_hair/Test_brush_hair_u_nm_np1_fr_goo"]


@pytest.mark.parametrize("val_fraction", [0.1, 0.2, 0.3, 0.5])
def test_hmdb_validation_never_splits_a_source_video(hmdb_sources_root, val_fraction):
    idx = load_split("hmdb51", hmdb_sources_root)
    for seed in range(8):
        tr, va = train_val_split(idx.train, val_fraction, seed=seed)
        assert va and len(tr) + len(va) == len(idx.train)
        assert not _straddling(tr, va), f"seed {seed}: clips of one source in train and validation"
        assert not {e.group for e in tr} & {e.group for e in va}
        assert {e.label for e in tr} == {e.label for e in va} == {0, 1, 2}  # every class on both sides


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_embedded_hmdb_validation_keeps_sources_whole(tmp_path, size):
    """The generator names the clips of a source like HMDB51 does (``Synth<SS>_..._<n>.avi``), so validation takes
    whole sources there too. Split files as generated, stub videos (nothing is rendered)."""
    from datasets import synthetic as syn

    spec = syn.SIZES[size]
    items = syn.plan_videos("hmdb51", spec, 0)
    root = tmp_path / "hmdb"
    for rel, data in syn.split_files("hmdb51", spec, 0, items).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    for v in items:
        (root / v.relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / v.relpath).write_bytes(b"stub")
    idx = load_split("hmdb51", root)
    assert len({e.group for e in idx.train}) == spec.hmdb_classes * spec.hmdb_sources[0]
    for seed in range(3):
        tr, va = train_val_split(idx.train, 0.1, seed=seed)
        assert va and not _straddling(tr, va)
