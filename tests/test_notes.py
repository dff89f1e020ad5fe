"""Plain-language notes: written only when the numbers support them."""

from __future__ import annotations

from pathlib import Path

from cases import member_record as record

from actbench.notes import run_notes
from actbench.runs import RunRecord, RunResult
from actbench.stats import summarize


def result(*runs: RunRecord, classes: int = 2) -> RunResult:
    return RunResult(
        actbench_version="0",
        run_id="r",
        device="cpu",
        seconds=1.0,
        config={"data": {"n_classes": classes}},
        runs=list(runs),
        summary=summarize(runs),
    )


def test_leaders_within_seed_noise_say_so_with_the_paired_p() -> None:
    notes = run_notes(
        result(
            *(record("tanh", s, a) for s, a in enumerate([0.85, 0.80, 0.86])),
            *(record("relu", s, a) for s, a in enumerate([0.84, 0.82, 0.83])),
        )
    )
    assert notes[0].startswith("the top two, tanh and relu, are within seed noise (paired p = ")


def test_a_clear_leader_is_named_with_its_margin() -> None:
    notes = run_notes(
        result(
            *(record("tanh", s, a) for s, a in enumerate([0.90, 0.91, 0.92])),
            *(record("relu", s, a) for s, a in enumerate([0.80, 0.82, 0.81])),
        )
    )
    assert notes[0].startswith("tanh leads relu by +10.0 points over 3 seeds (paired p")


def test_identity_at_chance_is_explained_as_not_linearly_separable() -> None:
    runs = [record("identity", s, 0.5 + 0.01 * s) for s in range(3)]
    runs += [record("relu", s, 0.97) for s in range(3)]
    notes = run_notes(result(*runs))
    assert any(
        note.startswith("identity is at chance (51.0% vs 50.0% by guessing): a linear model")
        for note in notes
    )
    assert not any(note.startswith("relu is at chance") for note in notes)


def test_lost_and_born_dead_units_are_counted() -> None:
    runs = [
        record("relu", s, 0.8, dead_neurons=3, dead_neurons_init=1, dead_per_layer=[3])
        for s in range(2)
    ]
    notes = run_notes(result(*runs, record("tanh", 0, 0.7), record("tanh", 1, 0.71)))
    assert "relu starts with 1 of 50 units dead (constant output before any training)" in notes
    assert any(note.startswith("relu lost 2 of 50 units in training") for note in notes)


def test_no_unit_note_when_nothing_died() -> None:
    notes = run_notes(result(record("relu", 0, 0.8), record("relu", 1, 0.81)))
    assert not any("units" in note for note in notes)


def test_diverged_runs_come_first() -> None:
    notes = run_notes(result(record("relu", 0, 0.8, status="diverged"), record("relu", 1, 0.81)))
    assert notes[0].startswith("1 run diverged (relu)")


def test_every_note_is_kept_and_a_terminal_shortens_with_a_true_pointer(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from actbench.plots import report_markdown
    from actbench.render import emit
    from actbench.render.results import result_view
    from actbench.render.view import TERMINAL_NOTES

    runs = [
        record(f"a{i}", s, 0.5, dead_neurons=5, dead_neurons_init=4, dead_per_layer=[5])
        for i in range(6)
        for s in range(2)
    ]
    whole = result(*runs)
    notes = run_notes(whole)
    assert len(notes) > TERMINAL_NOTES and not any("more notes" in n for n in notes)
    whole = whole.model_copy(update={"notes": notes})
    terminal = Console(file=io.StringIO(), width=80)
    emit(result_view(whole), "table", terminal)
    shown = [line for line in terminal.file.getvalue().splitlines() if line.startswith("- ")]
    assert len(shown) == TERMINAL_NOTES
    assert shown[-1].startswith(f"- ... and {len(notes) - TERMINAL_NOTES + 1} more notes")
    markdown = Console(file=io.StringIO(), width=80)
    emit(result_view(whole), "md", markdown)
    assert all(f"- {note}" in markdown.file.getvalue() for note in notes)
    report = report_markdown(whole, [], "")
    assert "## Notes" in report and all(f"- {note}" in report for note in notes)


def test_two_seeds_claim_no_p_value_and_say_how_many_would() -> None:
    notes = run_notes(
        result(
            *(record("tanh", s, a) for s, a in enumerate([0.86, 0.84])),
            *(record("relu", s, a) for s, a in enumerate([0.84, 0.835])),
        )
    )
    assert notes[0].startswith(
        "tanh leads relu by +1.3 points over 2 seeds, too few for a paired test (it needs 3); "
        "about "
    )
    assert "p " not in notes[0]


def test_the_same_difference_on_every_seed_is_reported_as_such() -> None:
    """The issue's case: two equal differences made the t statistic infinite (p < 0.001)."""
    notes = run_notes(
        result(
            *(record("tanh", s, a) for s, a in enumerate([0.8125, 0.8])),
            *(record("relu", s, a) for s, a in enumerate([0.8, 0.7875])),
        )
    )
    assert notes[0] == (
        "tanh leads relu by +1.3 points on each of 2 seeds, the same difference every time: "
        "no seed noise to test it against (more seeds would show some)"
    )


def test_leaders_tied_on_every_seed_are_called_a_tie() -> None:
    notes = run_notes(
        result(
            *(record("relu", s, a) for s, a in enumerate([0.9, 0.8])),
            *(record("leaky_relu", s, a) for s, a in enumerate([0.9, 0.8])),
        )
    )
    assert notes[0] == (
        "the top two, relu and leaky_relu, have the same test accuracy on each of 2 seeds"
    )
