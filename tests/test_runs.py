from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from actbench import runs
from actbench.errors import RunFolderError
from actbench.runs import (
    History,
    RunRecord,
    RunResult,
    SummaryRow,
    history_csv,
    list_runs,
    load_result,
    new_run_id,
    reserve_run_dir,
    resolve_run,
    write_atomic,
)

FIXED_NOW = datetime(2024, 1, 2, 3, 4, 5)


def make_record(label: str, seed: int, epochs: int = 3) -> RunRecord:
    return RunRecord(
        label=label,
        activation=label,
        seed=seed,
        epochs=epochs,
        train_loss=0.5,
        test_loss=0.6,
        train_accuracy=0.8,
        test_accuracy=0.75,
        dead_neurons=1,
        dead_per_layer=[1],
        dead_neurons_init=0,
        dormant_neurons=2,
        hidden_units=50,
        history=History(
            train_loss=[1.0 / (e + 1) for e in range(epochs)],
            test_accuracy=[0.5 + 0.1 * e for e in range(epochs)],
        ),
    )


def make_result(
    run_id: str = "run", labels: tuple[str, ...] = ("relu",), seeds: int = 1, epochs: int = 3
) -> RunResult:
    records = [make_record(label, seed, epochs) for label in labels for seed in range(seeds)]
    summary = [
        SummaryRow(
            label=label,
            activation=label,
            n_seeds=seeds,
            test_accuracy_mean=0.75,
            test_accuracy_std=None,
            test_loss_mean=0.6,
            test_loss_std=None,
            train_loss_mean=0.5,
            dead_neurons_mean=1.0,
            dead_neurons_init_mean=0.0,
            dormant_neurons_mean=2.0,
        )
        for label in labels
    ]
    return RunResult(
        actbench_version="0.1.0",
        run_id=run_id,
        device="cpu",
        seconds=1.0,
        config={"train": {"epochs": epochs}},
        runs=records,
        summary=summary,
    )


def save_result(root: Path, name: str, result: RunResult | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / runs.RESULTS_FILE).write_text((result or make_result(name)).to_json())
    return folder


# --- write_atomic ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["héllo\nwörld\n", b"\x00\x01binary"])
def test_write_atomic_writes_content(tmp_path: Path, data: str | bytes) -> None:
    target = tmp_path / "file.txt"
    write_atomic(target, data)
    expected = data.encode("utf-8") if isinstance(data, str) else data
    assert target.read_bytes() == expected


def test_write_atomic_replaces_existing_file_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_write_atomic_failure_keeps_original_and_removes_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.txt"
    target.write_text("original")

    def failing_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(runs.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new content")
    assert target.read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


# --- reserve_run_dir ------------------------------------------------------------------------------


def test_reserve_run_dir_creates_empty_folder_named_after_run_id(tmp_path: Path) -> None:
    folder = reserve_run_dir(tmp_path / "runs", "20240102-030405-x-abcdef0")
    assert folder.is_dir()
    assert folder.name == "20240102-030405-x-abcdef0"
    assert list(folder.iterdir()) == []


def test_reserve_run_dir_twice_gives_distinct_folders(tmp_path: Path) -> None:
    first = reserve_run_dir(tmp_path, "run")
    second = reserve_run_dir(tmp_path, "run")
    assert first != second
    assert first.name == "run"
    assert second.name == "run-2"
    assert first.is_dir() and second.is_dir()


def test_reserve_run_dir_never_reuses_existing_folder(tmp_path: Path) -> None:
    existing = tmp_path / "run"
    existing.mkdir()
    (existing / "results.json").write_text("{}")
    folder = reserve_run_dir(tmp_path, "run")
    assert folder != existing
    assert folder.name.startswith("run")
    assert (existing / "results.json").read_text() == "{}"


def test_reserve_run_dir_concurrent_threads_get_distinct_folders(tmp_path: Path) -> None:
    n_threads = 8
    barrier = threading.Barrier(n_threads)
    folders: list[Path] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def reserve() -> None:
        try:
            barrier.wait()
            folder = reserve_run_dir(tmp_path, "same-id")
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            folders.append(folder)

    threads = [threading.Thread(target=reserve) for _ in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(folders)) == n_threads
    assert all(folder.is_dir() and folder.name.startswith("same-id") for folder in folders)


def test_reserve_run_dir_unusable_root_is_run_folder_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunFolderError, match="cannot create"):
        reserve_run_dir(blocker / "runs", "run")


# --- new_run_id -----------------------------------------------------------------------------------


def test_new_run_id_format() -> None:
    run_id = new_run_id("smoke", {"a": 1}, now=FIXED_NOW)
    assert re.fullmatch(r"20240102-030405-smoke-[0-9a-f]{7}", run_id)


@pytest.mark.parametrize(
    ("name", "slug"),
    [("my config", "my-config"), ("configs/all", "configs-all"), ("a b/c", "a-b-c")],
)
def test_new_run_id_slugs_unsafe_names(name: str, slug: str) -> None:
    run_id = new_run_id(name, {}, now=FIXED_NOW)
    assert re.fullmatch(rf"20240102-030405-{slug}-[0-9a-f]{{7}}", run_id)


@pytest.mark.parametrize("name", ["../evil", "/", "   "])
def test_new_run_id_is_a_single_path_component(name: str) -> None:
    run_id = new_run_id(name, {}, now=FIXED_NOW)
    assert "/" not in run_id
    assert ".." not in run_id
    assert re.fullmatch(r"20240102-030405-[A-Za-z0-9_.-]+-[0-9a-f]{7}", run_id)


def test_new_run_id_hash_depends_on_config_only() -> None:
    a = new_run_id("x", {"lr": 0.1, "epochs": 2}, now=FIXED_NOW)
    same = new_run_id("x", {"epochs": 2, "lr": 0.1}, now=FIXED_NOW)
    other = new_run_id("x", {"lr": 0.2, "epochs": 2}, now=FIXED_NOW)
    assert a == same
    assert a != other


# --- load_result ----------------------------------------------------------------------------------


def test_load_result_round_trips_saved_result(tmp_path: Path) -> None:
    result = make_result("r1", labels=("relu", "tanh"), seeds=2)
    folder = save_result(tmp_path, "r1", result)
    assert load_result(folder) == result


def test_load_result_missing_file_names_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "unfinished"
    folder.mkdir()
    with pytest.raises(RunFolderError) as info:
        load_result(folder)
    assert str(folder) in str(info.value)
    assert "results.json" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        json.dumps({"run_id": "x"}),
        json.dumps({**json.loads(make_result().to_json()), "runs": [{"label": "relu"}]}),
        json.dumps({**json.loads(make_result().to_json()), "seconds": "fast"}),
    ],
    ids=["invalid-json", "empty", "missing-fields", "bad-run", "wrong-type"],
)
def test_load_result_corrupt_file_names_the_path(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "results.json"
    path.write_text(text)
    with pytest.raises(RunFolderError) as info:
        load_result(folder)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


# --- list_runs ------------------------------------------------------------------------------------


def test_list_runs_newest_first_by_folder_name(tmp_path: Path) -> None:
    for name in ["20240102-000000-a-1111111", "20240301-000000-c-3333333", "20240201-000000-b"]:
        save_result(tmp_path, name)
    listing = list_runs(tmp_path)
    assert [saved.path.name for saved in listing.complete] == [
        "20240301-000000-c-3333333",
        "20240201-000000-b",
        "20240102-000000-a-1111111",
    ]
    assert listing.broken == []


def test_list_runs_reports_broken_folders_separately(tmp_path: Path) -> None:
    good = save_result(tmp_path, "20240101-000000-good-0000000")
    corrupt = tmp_path / "20240102-000000-corrupt-0000000"
    corrupt.mkdir()
    (corrupt / "results.json").write_text("{oops")
    unfinished = tmp_path / "20240103-000000-unfinished-0000000"
    unfinished.mkdir()
    listing = list_runs(tmp_path)
    assert [saved.path for saved in listing.complete] == [good]
    assert {path for path, _ in listing.broken} == {corrupt, unfinished}
    assert all(reason for _, reason in listing.broken)


def test_list_runs_ignores_hidden_folders_and_files(tmp_path: Path) -> None:
    save_result(tmp_path, "visible")
    hidden = tmp_path / ".hidden"
    hidden.mkdir()
    (tmp_path / ".tmp-folder").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    listing = list_runs(tmp_path)
    assert [saved.path.name for saved in listing.complete] == ["visible"]
    assert listing.broken == []


def test_list_runs_missing_root_is_empty(tmp_path: Path) -> None:
    listing = list_runs(tmp_path / "nothing-here")
    assert listing.complete == []
    assert listing.broken == []


# --- resolve_run ----------------------------------------------------------------------------------


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for name in [
        "20240101-120000-smoke-aaaaaaa",
        "20240101-120000-smoke-aaaaaaa-2",
        "20240202-090000-all-bbbbbbb",
        "20240202-100000-all-ccccccc",
    ]:
        save_result(root, name)
    return root


def test_resolve_run_exact_id(run_root: Path) -> None:
    assert resolve_run("20240101-120000-smoke-aaaaaaa", run_root) == (
        run_root / "20240101-120000-smoke-aaaaaaa"
    )


def test_resolve_run_unique_prefix(run_root: Path) -> None:
    assert resolve_run("20240202-09", run_root) == run_root / "20240202-090000-all-bbbbbbb"


def test_resolve_run_ambiguous_prefix_lists_matches(run_root: Path) -> None:
    with pytest.raises(RunFolderError) as info:
        resolve_run("20240202", run_root)
    message = str(info.value)
    assert "20240202-090000-all-bbbbbbb" in message
    assert "20240202-100000-all-ccccccc" in message
    assert "2 runs" in message


def test_resolve_run_path_to_folder(run_root: Path, tmp_path: Path) -> None:
    elsewhere = save_result(tmp_path / "elsewhere", "my-run")
    assert resolve_run(str(elsewhere), run_root) == elsewhere


@pytest.mark.parametrize("root_exists", [True, False])
def test_resolve_run_unknown_is_run_folder_error(
    run_root: Path, tmp_path: Path, root_exists: bool
) -> None:
    root = run_root if root_exists else tmp_path / "missing"
    with pytest.raises(RunFolderError, match="no run 'zzz'"):
        resolve_run("zzz", root)


# --- history_csv ----------------------------------------------------------------------------------


def test_history_csv_header_and_one_row_per_member_and_epoch() -> None:
    result = make_result(labels=("relu", "tanh"), seeds=2, epochs=3)
    rows = list(csv.reader(io.StringIO(history_csv(result))))
    assert rows[0][:6] == ["label", "activation", "seed", "epoch", "train_loss", "test_accuracy"]
    assert rows[0][6:] == [
        f"{series}_l1" for series in ("dead", "dormant", "saturated", "mean_abs", "grad_norm")
    ]
    body = rows[1:]
    assert len(body) == 2 * 2 * 3
    assert [(r[0], r[2], r[3]) for r in body[:4]] == [
        ("relu", "0", "1"),
        ("relu", "0", "2"),
        ("relu", "0", "3"),
        ("relu", "1", "1"),
    ]
    assert {(r[0], r[2]) for r in body} == {
        ("relu", "0"),
        ("relu", "1"),
        ("tanh", "0"),
        ("tanh", "1"),
    }


def test_history_csv_values_match_history() -> None:
    result = make_result(labels=("relu",), seeds=1, epochs=2)
    rows = list(csv.DictReader(io.StringIO(history_csv(result))))
    history = result.runs[0].history
    assert [float(r["train_loss"]) for r in rows] == history.train_loss
    assert [float(r["test_accuracy"]) for r in rows] == history.test_accuracy


def test_history_csv_no_members_is_header_only() -> None:
    result = make_result().model_copy(update={"runs": []})
    assert history_csv(result) == "label,activation,seed,epoch,train_loss,test_accuracy\n"


def test_history_csv_has_grid_columns_and_health_per_layer() -> None:
    result = make_result(labels=("relu",), seeds=1, epochs=2)
    run = result.runs[0].model_copy(
        update={
            "grid": {"train.lr": 0.3},
            "dead_per_layer": [1, 2],
            "history": History(
                train_loss=[0.5, 0.4],
                test_accuracy=[0.7, 0.8],
                dead_per_layer=[[0, 1], [1, 2]],
                grad_norm_per_layer=[[0.1, 0.01], [0.2, 0.02]],
            ),
        }
    )
    rows = list(csv.DictReader(io.StringIO(history_csv(result.model_copy(update={"runs": [run]})))))
    assert rows[1]["grid.train.lr"] == "0.3"
    assert (rows[1]["dead_l1"], rows[1]["dead_l2"]) == ("1", "2")
    assert rows[0]["grad_norm_l2"] == "0.01"
    assert rows[0]["saturated_l1"] == ""


def test_save_run_writes_every_file_and_results_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    real = runs.write_atomic

    def spy(path: Path, data: str | bytes) -> None:
        written.append(path.name)
        real(path, data)

    monkeypatch.setattr(runs, "write_atomic", spy)
    folder = reserve_run_dir(tmp_path, "run")
    runs.save_run(folder, make_result("run"), "train: {}\n", {"torch": "x"}, {"m.pt": b"\x00"})
    assert written[-1] == "results.json"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.yaml",
        "env.json",
        "history.csv",
        "models",
        "results.json",
    ]
    assert (folder / "models" / "m.pt").read_bytes() == b"\x00"
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert os.path.getsize(folder / "results.json") > 0


def test_history_csv_puts_health_on_the_epochs_that_were_probed() -> None:
    result = make_result(labels=("relu",), seeds=1, epochs=4)
    run = result.runs[0]
    history = run.history.model_copy(
        update={
            "health_epochs": [1, 4],
            "dead_per_layer": [[1], [3]],
            "dormant_per_layer": [[0], [2]],
            "saturated_per_layer": [[0.1], [0.4]],
            "mean_abs_per_layer": [[0.5], [0.7]],
            "grad_norm_per_layer": [[1.0], [2.0]],
        }
    )
    result = result.model_copy(update={"runs": [run.model_copy(update={"history": history})]})
    rows = list(csv.DictReader(io.StringIO(history_csv(result))))
    assert [r["dead_l1"] for r in rows] == ["1", "", "", "3"]
    assert [r["grad_norm_l1"] for r in rows] == ["1.0", "", "", "2.0"]


def test_history_epochs_put_health_only_at_the_probed_epochs() -> None:
    history = History(
        train_loss=[0.5, 0.4, 0.3],
        test_accuracy=[0.7, 0.8, 0.9],
        dead_per_layer=[[0], [2]],
        grad_norm_per_layer=[[0.1], [0.3]],
        health_epochs=[1, 3],
    )
    rows = list(history.epochs())
    assert [(epoch, loss) for epoch, loss, _, _ in rows] == [(1, 0.5), (2, 0.4), (3, 0.3)]
    assert rows[0][3]["dead"] == [0] and rows[0][3]["grad_norm"] == [0.1]
    assert rows[1][3] == {}
    assert rows[2][3]["dead"] == [2] and rows[2][3]["grad_norm"] == [0.3]
    # runs saved before health_epochs existed: one health entry per epoch
    legacy = History(train_loss=[0.5, 0.4], test_accuracy=[0.7, 0.8], dead_per_layer=[[0], [1]])
    assert [health["dead"] for _, _, _, health in legacy.epochs()] == [[0], [1]]


def test_latest_is_the_newest_saved_run(tmp_path: Path) -> None:
    from actbench.errors import RunFolderError
    from actbench.runs import RESULTS_FILE, resolve_run

    with pytest.raises(RunFolderError, match="no saved run in .* to take as latest"):
        resolve_run("latest", tmp_path)
    for name in ("20261201-101500-a-1", "20261203-101500-a-3", "20261202-101500-a-2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / RESULTS_FILE).write_text("{}")
    (tmp_path / "20261204-101500-started-4").mkdir()  # training: no results.json yet
    assert resolve_run("latest", tmp_path) == tmp_path / "20261203-101500-a-3"
