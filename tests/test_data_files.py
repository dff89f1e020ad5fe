"""Kind file: CSV/TSV/TXT (csv module + numpy), .npz and .parquet; every kind of bad data is one
line, exit 2 and no run folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from clirun import run_cli

from actbench.config import load_config
from actbench.data import check, describe, make_dataset, split_raw
from actbench.errors import DataError

FAST = ["--epochs", "2", "--seeds", "1", "--set", "activations=[relu,tanh]"]


def table(rows: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three features and string labels that depend on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    return x, np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")


def write_csv(path: Path, x: np.ndarray, labels: np.ndarray, *, sep: str = ",", header=True):
    with path.open("w", encoding="utf-8") as handle:
        if header:
            handle.write(sep.join([*(f"f{i}" for i in range(x.shape[1])), "label"]) + "\n")
        for row, label in zip(x, labels, strict=True):
            handle.write(sep.join([*(f"{v:.6f}" for v in row), str(label)]) + "\n")
    return path


def file_config(path: Path, target: object = "label", **keys: object):
    overrides = ["data.kind=file", f"data.path={path}"]
    overrides += [f"data.target={target}"] if target is not None else []
    overrides += [f"data.{key}={value}" for key, value in keys.items()]
    return load_config(None, overrides).data


# --- reading --------------------------------------------------------------------------------


def test_a_csv_with_a_header_and_string_labels(tmp_path: Path) -> None:
    x, labels = table()
    data = make_dataset(file_config(write_csv(tmp_path / "d.csv", x, labels)))
    assert data.classes == ("no", "yes")
    assert data.n_features == 3 and data.n_classes == 2
    fingerprint = data.fingerprint
    assert fingerprint is not None
    assert fingerprint.features == ["f0", "f1", "f2"] and fingerprint.target == "label"
    assert fingerprint.class_counts == [int((labels == "no").sum()), int((labels == "yes").sum())]
    assert fingerprint.size == (tmp_path / "d.csv").stat().st_size
    assert fingerprint.shape == [60, 3]


def test_the_values_are_the_files(tmp_path: Path) -> None:
    x, labels = table()
    cfg = file_config(write_csv(tmp_path / "d.csv", x, labels))
    split = split_raw(cfg)
    rows = np.concatenate([split.x_train, split.x_test])
    assert sorted(map(tuple, rows)) == sorted(map(tuple, np.round(x, 6)))


def test_a_headerless_tsv_by_column_index(tmp_path: Path) -> None:
    x, labels = table()
    path = write_csv(tmp_path / "d.tsv", x, (labels == "yes").astype(int), sep="\t", header=False)
    data = make_dataset(file_config(path, target=-1))
    assert data.classes == (0, 1)
    assert data.fingerprint is not None and data.fingerprint.features == ["0", "1", "2"]
    assert make_dataset(file_config(path, target=3)).fingerprint == data.fingerprint


@pytest.mark.parametrize("sep", [";", "|", "\t"])
def test_the_delimiter_is_sniffed(tmp_path: Path, sep: str) -> None:
    x, labels = table()
    data = make_dataset(file_config(write_csv(tmp_path / "d.csv", x, labels, sep=sep)))
    assert data.n_features == 3


def test_a_space_separated_txt(tmp_path: Path) -> None:
    x, labels = table()
    data = make_dataset(file_config(write_csv(tmp_path / "d.txt", x, labels, sep=" ")))
    assert data.n_features == 3 and data.classes == ("no", "yes")


def test_header_false_reads_the_first_row_as_data(tmp_path: Path) -> None:
    x, labels = table()
    path = write_csv(tmp_path / "d.csv", x, labels, header=False)
    assert check(file_config(path, target=3, header="false")).shape == [60, 3]
    assert check(file_config(path, target=3)).shape == [60, 3]


def test_features_pick_columns_by_name_or_index(tmp_path: Path) -> None:
    x, labels = table()
    path = write_csv(tmp_path / "d.csv", x, labels)
    picked = check(file_config(path, features="[f2,0]"))
    assert picked.features == ["f2", "f0"] and picked.shape == [60, 2]


def test_labels_keep_their_type_and_sort(tmp_path: Path) -> None:
    x, _ = table(40)
    for labels, classes in [
        (np.tile([10, 2, -1, 2], 10), (-1, 2, 10)),
        (np.tile(["True", "false"], 20), (False, True)),
        (np.tile([0.5, 1.5], 20), (0.5, 1.5)),
        (np.tile(["b", "a", "c", "a"], 10), ("a", "b", "c")),
    ]:
        path = write_csv(tmp_path / "d.csv", x, labels)
        assert make_dataset(file_config(path)).classes == classes


def test_the_split_is_stratified(tmp_path: Path) -> None:
    x, _ = table(100)
    labels = np.array(["rare"] * 10 + ["common"] * 90)
    data = check(file_config(write_csv(tmp_path / "d.csv", x, labels)))
    assert data.test_class_counts == [18, 2]  # common, rare: 20% of each
    assert data.majority_accuracy() == 0.9


def test_the_scaler_is_fit_on_the_training_part_only(tmp_path: Path) -> None:
    x, labels = table(200)
    data = make_dataset(file_config(write_csv(tmp_path / "d.csv", x, labels)))
    assert np.allclose(data.x_train.double().mean(0).numpy(), 0, atol=1e-6)
    assert not np.allclose(data.x_test.double().mean(0).numpy(), 0, atol=1e-3)


def test_a_file_is_read_once_for_the_check_and_the_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actbench.data.files as files

    x, labels = table()
    cfg = file_config(write_csv(tmp_path / "d.csv", x, labels))
    calls = []
    read = files.read_delimited
    monkeypatch.setattr(files, "read_delimited", lambda *a: calls.append(a) or read(*a))
    check(cfg)
    make_dataset(cfg)
    assert len(calls) == 1


def test_npz_arrays_x_and_y(tmp_path: Path) -> None:
    x, labels = table()
    np.savez(tmp_path / "d.npz", X=x, y=labels)
    data = make_dataset(file_config(tmp_path / "d.npz", target=None))
    assert data.classes == ("no", "yes") and data.n_features == 3
    shape = describe(file_config(tmp_path / "d.npz", target=None))
    assert (shape.n_samples, shape.n_features, shape.estimated) == (60, 3, False)


@pytest.mark.parametrize(
    "features, message",
    [("[]", "data.features is empty"), ("[0,0]", "data.features lists a column twice")],
)
def test_npz_features_are_checked_as_a_delimited_files_are(
    tmp_path: Path, features: str, message: str
) -> None:
    x, labels = table()
    np.savez(tmp_path / "d.npz", X=x, y=labels)
    with pytest.raises(DataError, match=message):
        check(file_config(tmp_path / "d.npz", target=None, features=features))


def test_parquet_features_may_not_name_the_target(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    x, labels = table()
    frame = pandas.DataFrame(x, columns=["a", "b", "c"]).assign(label=labels)
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(DataError, match="lists the target column 'label'"):
        check(file_config(tmp_path / "d.parquet", features="[a,label]"))


def test_a_damaged_parquet_file_is_one_error_before_reading(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    (tmp_path / "d.parquet").write_bytes(b"PAR1" + b"x" * 16 + b"PAR1")
    with pytest.raises(DataError, match=r"^cannot read 'd.parquet' as Parquet: "):
        describe(file_config(tmp_path / "d.parquet"))


def test_parquet_through_the_extra(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    x, labels = table()
    frame = pandas.DataFrame(x, columns=["a", "b", "c"]).assign(label=labels)
    frame.to_parquet(tmp_path / "d.parquet")
    data = make_dataset(file_config(tmp_path / "d.parquet"))
    assert data.classes == ("no", "yes") and data.n_features == 3
    csv = make_dataset(file_config(write_csv(tmp_path / "d.csv", np.round(x, 6), labels)))
    assert data.fingerprint is not None and csv.fingerprint is not None
    assert data.fingerprint.class_counts == csv.fingerprint.class_counts


def test_parquet_without_pyarrow_gives_the_install_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"pip install 'actbench\[parquet\]'"):
        describe(file_config(tmp_path / "d.parquet"))


def test_a_config_files_path_is_relative_to_its_folder(tmp_path: Path) -> None:
    x, labels = table()
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "d.csv", x, labels)
    config = tmp_path / "run.yaml"
    config.write_text("data: {kind: file, path: data/d.csv, target: label}\n")
    assert load_config(config).data.path == str(tmp_path / "data" / "d.csv")


def test_the_size_estimate_is_close(tmp_path: Path) -> None:
    x, labels = table(3000)
    shape = describe(file_config(write_csv(tmp_path / "d.csv", x, labels)))
    assert shape.estimated and abs(shape.n_samples - 3000) < 300 and shape.n_features == 3


# --- bad data: one line, exit 2, nothing written ------------------------------------------------


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    runs = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *args, *FAST, "--out", str(runs))
    assert outcome.code == 2, outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1, outcome.err
    assert not runs.exists()
    return lines[0]


def csv_text(tmp_path: Path, text: str, name: str = "d.csv") -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return str(tmp_path / name)


ROWS = "".join(f"{i},{i % 7},{'yes' if i % 2 else 'no'}\n" for i in range(20))


@pytest.mark.parametrize(
    ("name", "content", "target", "expected"),
    [
        ("missing.csv", None, "label", "data file '.*missing.csv' not found"),
        ("d.xlsx", "x", "label", r"unknown data file type '.xlsx'.*choices: .csv, .tsv, .txt"),
        ("d.csv", "", "label", "data file '.*d.csv' is empty"),
        ("d.csv", "a,b,label\n", "label", "'d.csv' has a header but no data rows"),
        ("d.csv", "a,b,label\n" + ROWS, "lable", "did you mean 'label'\\? choices: a, b, label"),
        ("d.csv", "a,b,label\n" + ROWS, "9", "data.target 9 is not a column of 'd.csv'"),
        ("d.csv", "a,b,label\n1,2,x\n3,4,x\n", "label", "'label' has one class \\('x'\\) in 2"),
        (
            "d.csv",
            "a,b,label\n" + ROWS + "5,5,maybe\n",
            "label",
            "class 'maybe' has one row; a stratified split needs at least 2 rows",
        ),
        (
            "d.csv",
            "a,city,b,color,label\n" + "".join(f"{i},Oslo,{i},red,{i % 2}\n" for i in range(20)),
            "label",
            "feature columns 'city' \\('Oslo' on line 2\\), 'color' \\('red' on line 2\\) are "
            "not numeric; encode categories as numbers.*get_dummies",
        ),
        (
            "d.csv",
            "a,b,label\n" + ROWS + "nan,1,yes\n2,inf,no\n3,,yes\n4,-inf,no\n",
            "label",
            "has 4 missing or non-finite values \\(empty, NaN or inf\\) in "
            "'a' \\(1\\), 'b' \\(3\\)",
        ),
        (
            "d.csv",
            "a,b,label\n" + ROWS + "1,2\n",
            "label",
            "line 22 has 2 fields but the header has 3",
        ),
        ("d.csv", "a,a,label\n" + ROWS, "label", "column name 'a' is used twice"),
        ("d.csv", "a,b,label\n" + ROWS + "1,2,\n", "label", "the target 'label' is empty on"),
        ("d.npz", "not a zip", None, "'d.npz' is not a NumPy .npz archive"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 12 else None,
)
def test_bad_data_is_one_line_exit_2_and_no_run_folder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    target: str | None,
    expected: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    args = ["--data", str(path)] + (["--target", target] if target else [])
    line = refused(tmp_path, capsys, *args)
    assert line.startswith("error: ")
    assert re.search(expected, line), line


def test_undecodable_bytes_say_the_encoding_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.csv").write_bytes(("a,b,label\n" + ROWS + "1,2,café\n").encode("latin-1"))
    line = refused(tmp_path, capsys, "--data", str(tmp_path / "d.csv"), "--target", "label")
    assert "'d.csv' is not UTF-8 text: byte 0xe9" in line and "(line 22)" in line
    assert "save it as UTF-8" in line


def test_a_missing_target_for_a_csv_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = csv_text(tmp_path, "a,b,label\n" + ROWS)
    assert "--target COL" in refused(tmp_path, capsys, "--data", path)


def test_a_sigmoid_head_needs_two_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"{i},{i % 5},{'abc'[i % 3]}\n" for i in range(30))
    path = csv_text(tmp_path, "a,b,label\n" + rows)
    line = refused(
        tmp_path, capsys, "--data", path, "--target", "label", "--set", "model.head=sigmoid"
    )
    assert "model.head sigmoid is binary only (the data have 3 classes)" in line


def test_a_file_too_large_for_memory_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import actbench.data.files as files
    import actbench.resources as resources

    x, labels = table(20_000)
    big = write_csv(tmp_path / "big.csv", x, labels)
    small = write_csv(tmp_path / "small.csv", x[:50], labels[:50])
    members = 2
    needed = {
        path: sum(resources.estimate_memory(load_config(None, config_of(path)), members).values())
        for path in (big, small)
    }
    # the guard's budget lowered to just under what the big file needs
    budget = int(needed[big] / 0.9) - 1
    assert needed[small] <= 0.9 * budget
    monkeypatch.setattr(resources, "available_memory", lambda device: budget)

    def never(*args: object) -> None:
        raise AssertionError("the file was read")

    assert run_cli(capsys, "compare", *config_args(small), "--no-save").code == 0
    monkeypatch.setattr(files, "read_delimited", never)
    line = refused(tmp_path, capsys, *config_args(big))
    assert "GiB" in line and "available" in line
    assert f"the data file '{big}'" in line and "too large to read here" in line


def config_of(path: Path) -> list[str]:
    return [
        "data.kind=file",
        f"data.path={path}",
        "data.target=label",
        "activations=[relu,tanh]",
        "train.seeds=1",
    ]


def config_args(path: Path) -> list[str]:
    return ["--data", str(path), "--target", "label", "--set", "activations=[relu,tanh]"]


# --- end to end ---------------------------------------------------------------------------------


def test_compare_and_train_a_csv_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, labels = table(120)
    path = write_csv(tmp_path / "d.csv", x, labels)
    out = tmp_path / "runs"
    compared = run_cli(
        capsys, "compare", "--data", str(path), "--target", "label", *FAST,
        "--format", "json", "--out", str(out),
    )  # fmt: skip
    assert compared.code == 0, compared.err
    trained = run_cli(
        capsys, "train", "--act", "tanh", "--data", str(path), "--target", "label",
        "--epochs", "2", "--seeds", "1", "--format", "json", "--out", str(out),
    )  # fmt: skip
    assert trained.code == 0, trained.err
    (tanh,) = [run for run in compared.json["runs"] if run["label"] == "tanh"]
    assert trained.json["runs"][0]["test_accuracy"] == tanh["test_accuracy"]
    (run_dir,) = [path for path in out.iterdir() if "-d-" in path.name]  # named after the file
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["data"][0]["classes"] == ["no", "yes"]
    assert saved["data"][0]["path"] == str(path)


def test_windows_line_ends_a_byte_order_mark_and_quotes(tmp_path: Path) -> None:
    rows = "".join(f'{i},"{i % 7}",{"yes" if i % 2 else "no"}\r\n' for i in range(20))
    path = tmp_path / "d.csv"
    path.write_text('\ufeff"a b","c, d",label\r\n' + rows, encoding="utf-8", newline="")
    data = check(file_config(path))
    assert data.features == ["a b", "c, d"] and data.shape == [20, 2]


def test_decimal_commas_get_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_text(tmp_path, "a;b;label\n" + "".join(f"{i},5;{i};{i % 2}\n" for i in range(20)))
    line = refused(tmp_path, capsys, "--data", path, "--target", "label")
    assert "feature column 'a' ('0,5' on line 2) is not numeric" in line
    assert "decimal commas" in line


@pytest.mark.parametrize("kind", ["csv with a header", "headerless tsv", "npz"])
def test_each_file_type_trains_from_the_cli_and_the_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    import actbench

    x, labels = table(90)
    if kind == "csv with a header":
        path, target = write_csv(tmp_path / "d.csv", x, labels), "label"
    elif kind == "headerless tsv":
        path, target = write_csv(tmp_path / "d.tsv", x, labels, sep="\t", header=False), "3"
    else:
        path, target = tmp_path / "d.npz", "y"
        np.savez(path, X=x, y=labels)
    cli = run_cli(
        capsys, "compare", "--data", str(path), "--target", target, *FAST, "--format", "json",
        "--no-save",
    )  # fmt: skip
    assert cli.code == 0, cli.err
    api = actbench.compare(
        {"data": {"kind": "file", "path": str(path), "target": target}},
        overrides={"activations": ["relu", "tanh"]},
        epochs=2,
        seeds=1,
    )
    assert [r["test_accuracy"] for r in cli.json["runs"]] == [r.test_accuracy for r in api.runs]
    assert api.run_result.data[0].classes == ["no", "yes"]
