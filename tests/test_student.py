"""The student version of every course notebook: no solution survives, and it still runs with the exercises unanswered.

How these tests know a student notebook runs, without executing 02-04 in full
(1-3 minutes each, which would double CI time):

A student notebook differs from its course notebook only in its solution
cells (replaced by a one-line prompt) and presenter notes (removed); CI
already executes every course notebook in full under nbval. So the student
notebook runs end to end if

1. no cell outside the exercises reads a name that a solution cell may change
   (assigns, defines, imports, or calls a method on): then every such cell
   sees exactly the state it sees under nbval. Checked statically, for every
   notebook, by ``solution_dependents``;
2. every exercise stub, with its checker, runs without raising and reports
   "not yet". Checked by executing each notebook's *exercise slice* (the setup
   cell, the top-level statements the stubs depend on, found by a backward
   slice, and the exercise cells) in a kernel whose working directory is
   ``notebooks/``, as under nbval. A slice takes seconds whatever the notebook:
   02 and 03 skip their training and timing runs.

The fastest notebook (00, about 10 s) is also executed in full, end to end, as
direct evidence; its slice would add nothing. Notebook 01's student copy runs
end to end in JupyterLab in ``tests/test_browser.py`` (no red output); here its
slice checks that every stub reports "not yet" (01 in full took 56 s). What this does
not cover: a solution that changes state other than through a name (global
RNG state, files on disk); no solution cell does that today.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tools.cells import course_notebooks, dirty_cells, is_presenter_notes, is_solution
from tools.student import (
    ANSWER_PROMPT,
    MODULE_PROMPT,
    NEXT_STEP_PROMPT,
    STUB_MODULE_PROMPT,
    exercise_cells,
    exercise_slice,
    leaked_solution_lines,
    main,
    solution_dependents,
    solution_lines,
    student_version,
    write_student_notebooks,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = course_notebooks(REPO / "notebooks")
FULL_RUN = ("00",)  # fast enough to execute in full on every CI run (01: its slice here, in full in the browser test)
UNANSWERED = re.compile(r"Not yet: .*(still the stub|no answer yet)")


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _execute(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    return nb


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))


def _assert_exercises_unanswered(course: nbformat.NotebookNode, ran: nbformat.NotebookNode) -> None:
    cells = {c.id: c for c in ran.cells}
    for solution_id, stub_id in exercise_cells(course).items():
        assert UNANSWERED.search(_text(cells[stub_id])), (
            f"{stub_id}: the checker should say 'not yet', got {_text(cells[stub_id])!r}"
        )
        if solution_id in cells:  # a second solution cell in a row is dropped (student_version)
            assert not _text(cells[solution_id]), f"{solution_id}: the prompt cell printed something"
    for cell in ran.cells:
        assert "Correct!" not in _text(cell), f"{cell.id}: an exercise is answered in the student version"


# ------------------------------------------------------------------ no solution survives


def _follows_a_solution(nb: nbformat.NotebookNode, cell: nbformat.NotebookNode) -> bool:
    """Whether the code cell before ``cell`` is a solution too."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    k = next(i for i, c in enumerate(code) if c.id == cell.id)
    return k > 0 and is_solution(code[k - 1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_solution_survives_in_the_student_version(path):
    course = _read(path)
    solutions = [c for c in course.cells if is_solution(c)]
    assert solutions, f"{path.name} has no solution cells"
    lines = solution_lines(course)
    for cell in solutions:  # otherwise the leak check below would have nothing to look for
        assert any(not line.startswith("assert") for line in lines[cell.id]), f"{cell.id}: no line of its own to check for"
    student = student_version(course)
    assert leaked_solution_lines(course, student) == []
    assert not any(is_solution(c) or is_presenter_notes(c) for c in student.cells)
    assert not any(c.metadata.get("jupyter", {}).get("source_hidden") for c in student.cells)
    prompts = [c for c in student.cells if c.id in {s.id for s in solutions}]
    first_of_a_run = [s for k, s in enumerate(solutions) if not _follows_a_solution(course, s)]
    assert len(first_of_a_run) <= len(prompts) <= len(solutions), "a prompt where each solution (or run of them) was"
    assert all(c.source.startswith("# Your turn: ") for c in prompts), "a prompt where each solution was"
    assert not dirty_cells(student)
    nbformat.validate(student)


def test_the_leak_check_finds_a_solution_in_source_outputs_or_metadata():
    course = _read(REPO / "notebooks" / "01_access.ipynb")
    line = sorted(solution_lines(course)["nb01-28"])[-1]
    assert "index[p]" in line  # exercise 6's reference solution
    for where in ("source", "output", "metadata", "notebook metadata"):
        student = student_version(course)
        cell = next(c for c in student.cells if c.id == "nb01-27")
        if where == "source":
            cell.source += "\n    " + line
        elif where == "output":  # e.g. a traceback quoting the line, indented and prefixed
            cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=f"----> 3     {line}\n")]
        elif where == "metadata":
            cell.metadata["hint"] = line
        else:
            student.metadata["cache"] = {"cells": [line]}
        assert leaked_solution_lines(course, student) == [line], where


def test_make_student_writes_every_notebook_clean_and_valid(tmp_path):
    assert main([str(tmp_path / "student")]) == 0
    written = sorted((tmp_path / "student").glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in course_notebooks()]
    for path in written:
        nb = _read(path)
        nbformat.validate(nb)
        assert not dirty_cells(nb)
        assert not any(is_solution(c) for c in nb.cells)


def test_write_student_notebooks_refuses_a_notebook_whose_solution_would_survive(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("answer = None  # YOUR CODE\ncheck(answer)", id="nb99-01"),
            nbformat.v4.new_code_cell("# solution\nanswer = sum(k * k for k in range(7))\nassert check(answer)", id="nb99-02"),
            nbformat.v4.new_markdown_cell("Hint: `answer = sum(k * k for k in range(7))`", id="nb99-03"),  # copied into prose
        ]
    )
    nb.cells[1].metadata["tags"] = ["solution"]
    path = tmp_path / "99_leaky.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(RuntimeError, match=re.escape("answer = sum(k * k for k in range(7))")):
        write_student_notebooks(tmp_path / "out", [path])


# ------------------------------------------------------------------ the student version still runs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_outside_the_exercises_depends_on_a_solution(path):
    assert solution_dependents(_read(path)) == []


def _toy(*sources: str, solutions: tuple[int, ...] = ()) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(src, id=f"nb99-{k:02d}") for k, src in enumerate(sources)]
    for k in solutions:
        cells[k].metadata["tags"] = ["solution"]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def test_solution_dependents_flags_a_later_cell_that_reads_what_a_solution_defines():
    nb = _toy(
        "DATASET = 'mini'",
        "def f():\n    ...  # YOUR CODE\ncheck(f)",
        "# solution\ndef f():\n    return 1\nresults.append(f())",
        "print(f() + 1)\nprint(results)",
        solutions=(2,),
    )
    assert solution_dependents(nb) == [
        "cell nb99-03 reads 'f', which solution cell nb99-02 defines",
        "cell nb99-03 reads 'results', which solution cell nb99-02 defines",
    ]


def test_a_solution_function_changes_module_names_but_not_its_own():
    """A def's body changes the module's names it touches once called (a checker calls it); its parameters and locals
    are its own: ``def f(mat): mat["labels"].append(3)`` binds no module ``mat``."""
    nb = _toy(
        "mat = {'labels': [1, 2]}\nsteps = []",
        "def f(mat):\n    ...  # YOUR CODE\ncheck(f)",
        "# solution\ndef f(mat, cache=seen.copy()):\n    kept = mat['labels']\n    kept.append(3)\n    steps.append(1)\n"
        "    return cache",
        "print(mat, seen, steps, kept)",
        solutions=(2,),
    )
    assert solution_dependents(nb) == [
        "cell nb99-03 reads 'seen', which solution cell nb99-02 defines",
        "cell nb99-03 reads 'steps', which solution cell nb99-02 defines",
    ]


def test_exercise_slice_keeps_what_the_stubs_need_and_drops_the_rest():
    nb = _toy(
        "import math\nDATASET = 'mini'",
        "slow = sum(range(10**9))  # minutes of training\nstats = [math.pi]\nfig = draw(slow)",
        "stats.append(2.0)\nprint(slow, stats)",
        "unrelated = slow * 2",
        "def answer(x):\n    ...  # YOUR CODE\ncheck(answer, stats)",
        "# solution\ndef answer(x):\n    return x\nassert check(answer, stats)",
        solutions=(5,),
    )
    cells = {c.id: c.source for c in exercise_slice(nb).cells}
    assert cells == {
        "nb99-00": "import math\nDATASET = 'mini'",
        "nb99-01-slice": "stats = [math.pi]",
        "nb99-02-slice": "stats.append(2.0)",
        "nb99-04": nb.cells[4].source,
        "nb99-05": ANSWER_PROMPT.rstrip("\n"),
    }


def test_exercise_slice_keeps_the_writefile_cell_a_kept_import_needs():
    nb = _toy(
        "import importlib\nDATASET = 'mini'",
        "%%writefile my_module.py\nVALUE = 3",
        "%%writefile unrelated.py\nVALUE = 4",
        "import my_module\nmy_module = importlib.reload(my_module)\nvalue = my_module.VALUE",
        "def answer():\n    ...  # YOUR CODE\ncheck(answer, value)",
        "# solution\ndef answer():\n    return value\nassert check(answer, value)",
        solutions=(5,),
    )
    kept = [c.id for c in exercise_slice(nb).cells]
    assert kept == ["nb99-00", "nb99-01-slice", "nb99-03-slice", "nb99-04", "nb99-05"]


def test_a_stub_whose_checker_crashes_fails_the_slice_run():
    from nbclient.exceptions import CellExecutionError

    nb = _toy(
        "DATASET = 'mini'",
        "def answer():\n    ...  # YOUR CODE\nassert answer() is not None, 'this checker raises instead of giving feedback'",
        "# solution\ndef answer():\n    return 1",
        solutions=(2,),
    )
    with pytest.raises(CellExecutionError, match="raises instead of giving feedback"):
        _execute(exercise_slice(nb))


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in FULL_RUN], ids=lambda p: p.name)
def test_student_notebook_runs_end_to_end_with_every_exercise_unanswered(path):
    course = _read(path)
    _assert_exercises_unanswered(course, _execute(student_version(course)))


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] not in FULL_RUN], ids=lambda p: p.name)
def test_student_exercises_run_unanswered_in_their_slice(path):
    course = _read(path)
    sliced = exercise_slice(course)
    code = [c for c in course.cells if c.cell_type == "code"]
    assert len(sliced.cells) < len(code), "the slice should leave out what the exercises do not need"
    _assert_exercises_unanswered(course, _execute(sliced))


def test_a_module_the_text_asks_for_gets_a_prompt_naming_its_first_line_and_the_step_after_it_its_own():
    """01's exercise 4: the text gives `%%writefile my_flowers.py`, the cell above is a check, not a stub to fill in."""
    course = _read(REPO / "notebooks" / "01_access.ipynb")
    student = {c.id: c.source for c in student_version(course).cells}
    module, step = (c.id for c in course.cells if is_solution(c) and "my_flowers" in c.source)
    assert student[module] == MODULE_PROMPT.format(magic="%%writefile my_flowers.py").rstrip("\n")
    assert student[step] == NEXT_STEP_PROMPT.rstrip("\n")
    colleague = next(c.id for c in course.cells if is_solution(c) and c.source.startswith("%%writefile my_transforms.py"))
    assert student[colleague] == ANSWER_PROMPT.rstrip("\n"), "part 2's module is the answer: the prompt must not name it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_student_never_meets_two_prompts_in_a_row_but_a_module_and_its_next_step(path):
    """A two-cell solution (a module, then the cell that checks it) gave two identical prompts pointing at each other."""
    code = [c.source for c in student_version(_read(path)).cells if c.cell_type == "code"]
    pairs = [(a, b) for a, b in zip(code, code[1:]) if a.startswith("# Your turn") and b.startswith("# Your turn")]
    assert all(a.startswith(MODULE_PROMPT[:40]) and b == NEXT_STEP_PROMPT.rstrip("\n") for a, b in pairs), pairs


def test_a_module_with_a_stub_above_gets_a_prompt_naming_that_stub():
    """07's exercises 6-8: the stub is a %%writefile cell two cells up, above the checker cell."""
    student = [c.source for c in student_version(_read(REPO / "notebooks" / "07_in_the_wild.ipynb")).cells]
    for module in ("my_captions.py", "my_zip.py", "my_partners.py"):
        assert STUB_MODULE_PROMPT.format(magic=f"%%writefile {module}").rstrip("\n") in student, module
