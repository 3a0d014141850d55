"""``make grade``: fake submissions built from the student copies of notebooks 00 and 01, graded with the course's checkers.

Four students, made with :func:`tools.student.write_student_notebooks` and
edited the way students edit. Which exercise gets which treatment is read from
the course notebooks (their order), not typed here, so the test follows the
course when an exercise changes:

- alice answers every exercise with the reference solution: full marks;
- bob gives a wrong answer (a string where the checker wants something else) to
  one exercise per notebook and leaves another at its stub: 0, with the checker's
  "Not yet" and hint (he, like carol, skips the multi-step exercise of notebook 01,
  graded on what its later cells build: 0, and the grader's hint names the call);
- carol answers an exercise in cells she added and rebinds its name further
  down, makes another's cell raise, swaps a checker for one that says yes and
  rebinds ``exercises`` to a fake, deletes every checker call of an exercise,
  and kills the kernel in a cell below another's answer; the exercises after the
  crash are graded in a new kernel that re-ran her cells;
- dave's exercise loops forever: it scores 0 and grading goes on.

Timing (2 shared cores): alice, bob and carol are graded with ``quick`` (the
unchanged course cells that no exercise needs are skipped), two notebooks at a
time (``jobs=2``: the gradebook keeps their order), dave's notebook 00
in full with a 20 s limit per cell.
"""

from __future__ import annotations

import ast
import csv
import time
from pathlib import Path

import nbformat
import pytest

from tools.cells import course_notebooks
from tools.grade import (
    Exercise,
    _Session,
    checker_calls,
    course_exercises,
    exercise_title,
    grade_submissions,
    grading_plan,
    kernel_env,
    main,
    quick_plan,
)
from tools.student import ANSWER_PROMPT, student_version, write_student_notebooks

REPO = Path(__file__).resolve().parents[1]
COURSE = {p.name[:2]: p for p in course_notebooks(REPO / "notebooks") if p.name[:2] in ("00", "01")}
MARKER = "carol_was_here.txt"
FAKE = "class _Yes:\n    def __getattr__(self, name):\n        return lambda *args, **kwargs: True\n\n\nexercises = _Yes()"
STUCK = "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n    except KeyboardInterrupt:\n        pass"
Expected = dict[tuple[str, str], tuple[int, str]]  # (notebook, exercise) -> (score, text the feedback contains)


def _course(number: str) -> nbformat.NotebookNode:
    return nbformat.read(COURSE[number], as_version=4)


def _exercises(number: str) -> list[Exercise]:
    return course_exercises(_course(number), COURSE[number].stem)


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.id == cell_id)


def _add_after(nb: nbformat.NotebookNode, cell_id: str, source: str) -> str:
    """Insert a new code cell (with a new id, as JupyterLab gives it) below ``cell_id``; return its id."""
    index = next(i for i, c in enumerate(nb.cells) if c.id == cell_id)
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.insert(index + 1, cell)
    return cell.id


def _answer(nb: nbformat.NotebookNode, number: str, exercises: list[Exercise]) -> None:
    """Write the reference solutions of ``exercises`` into their prompt cells."""
    course = _course(number)
    for exercise in exercises:
        last = exercise.cells[0]
        for cell_id in exercise.cells[1:]:
            source = _cell(course, cell_id).source
            if any(c.id == cell_id for c in nb.cells):
                _cell(nb, cell_id).source, last = source, cell_id
            else:  # a second solution cell in a row has no prompt of its own: the student adds a cell below
                last = _add_after(nb, last, source)


def _end_of(nb: nbformat.NotebookNode, exercise: Exercise) -> str:
    """The id of the last cell of ``exercise``'s answer in ``nb`` (:func:`_answer` adds a cell for a dropped prompt)."""
    present = [i for i in exercise.cells if any(c.id == i for c in nb.cells)]
    index = next(k for k, c in enumerate(nb.cells) if c.id == present[-1])
    return nb.cells[index + len(exercise.cells) - len(present)].id


def _without_checker_calls(source: str) -> str:
    """The cell without its ``exercises.check_...`` statements (cells with magics are left as they are)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    drop = {n for s in tree.body if "exercises.check_" in ast.unparse(s) for n in range(s.lineno, s.end_lineno + 1)}
    return "\n".join(line for n, line in enumerate(source.splitlines(), 1) if n not in drop)


def _answer_name(exercise: Exercise) -> str:
    """The name the checker call reads first: ``split_sizes`` in ``check_split_sizes(split_sizes, ROOT)``."""
    node = ast.parse(exercise.call).body[0].value.args[0]
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id


def _graded_by_the_stub(exercise: Exercise, number: str) -> bool:
    """True if the stub makes the very call the grader makes (left as handed out, it is unanswered, not broken)."""
    return exercise.call in checker_calls(_cell(_course(number), exercise.cells[0]).source)


def _alice(copies: dict[str, nbformat.NotebookNode]) -> tuple[dict[str, nbformat.NotebookNode], Expected]:
    for number, nb in copies.items():
        _answer(nb, number, _exercises(number))
    return copies, {}


def _multi_step(number: str) -> list[Exercise]:
    """Exercises graded on what later solution cells build (notebook 01's spawn workers): slow, so only alice does them."""
    return [e for e in _exercises(number) if not _graded_by_the_stub(e, number)]


def _bob(copies: dict[str, nbformat.NotebookNode]) -> tuple[dict[str, nbformat.NotebookNode], Expected]:
    expected = {}
    for number, nb in copies.items():
        wrong, unanswered, *rest = [e for e in _exercises(number) if e not in _multi_step(number)]
        _answer(nb, number, rest)
        stub = _cell(nb, wrong.cells[0])
        stub.source = f"{_without_checker_calls(stub.source)}\n{_answer_name(wrong)} = 'a wrong answer'\n{wrong.call}"
        expected |= {(e.notebook, e.name): (0, "Not yet") for e in (wrong, unanswered)}
        expected |= {(e.notebook, e.name): (0, "") for e in _multi_step(number)}
    return copies, expected


def _carol(copies: dict[str, nbformat.NotebookNode]) -> tuple[dict[str, nbformat.NotebookNode], Expected]:
    course, nb00, (own_cells, raises, *_) = _course("00"), copies["00"], _exercises("00")
    _answer(nb00, "00", _exercises("00")[2:])
    after = own_cells.cells[0]
    for cell_id in own_cells.cells[1:]:  # her answer in cells of her own below the stub; the prompt left as it was
        after = _add_after(nb00, after, _cell(course, cell_id).source)
    _add_after(nb00, nb00.cells[-1].id, f"{_answer_name(own_cells)} = None  # the name reused further down")
    _cell(nb00, raises.cells[0]).source = "raise RuntimeError('carol left a bug here')"
    setup = next(c for c in nb00.cells if c.cell_type == "code").id
    _add_after(nb00, setup, f"import os\nimport pathlib\n\npathlib.Path({MARKER!r}).write_text(os.getcwd())")
    nb01, (swapped, no_call, killed, *after_crash) = copies["01"], [e for e in _exercises("01") if e not in _multi_step("01")]
    _answer(nb01, "01", [swapped, no_call, killed, *after_crash])
    setup = next(c for c in nb01.cells if c.cell_type == "code").id
    _add_after(nb01, setup, f"exercises.{swapped.checker} = lambda *args, **kwargs: True\n\n\n{FAKE}")
    for cell_id in no_call.cells:
        _cell(nb01, cell_id).source = _without_checker_calls(_cell(nb01, cell_id).source)
    _add_after(nb01, _end_of(nb01, killed), "import os\n\nos._exit(1)  # kills the kernel, after her answer")
    return copies, {
        (raises.notebook, raises.name): (0, "raised RuntimeError: carol left a bug here"),
        (swapped.notebook, swapped.name): (0, "was not the course's"),
        (killed.notebook, killed.name): (0, "killed the kernel"),
        **{(e.notebook, e.name): (0, "") for e in _multi_step("01")},
    }


def _dave(copies: dict[str, nbformat.NotebookNode]) -> tuple[dict[str, nbformat.NotebookNode], Expected]:
    looping, *rest = _exercises("00")
    _answer(copies["00"], "00", rest)
    _cell(copies["00"], looping.cells[0]).source = "while True:  # loops forever\n    pass"
    return {"00": copies["00"]}, {(looping.notebook, looping.name): (0, "did not finish within 20 s")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    assert len(_exercises("00")) >= 2 and len(_exercises("01")) >= 4, "the scenarios need 2 exercises in 00, 4 in 01"
    tmp = tmp_path_factory.mktemp("grade")
    copies = write_student_notebooks(tmp / "student", COURSE.values())
    expected = {}
    for student, make in (("alice", _alice), ("bob", _bob), ("carol", _carol), ("dave", _dave)):
        notebooks, exceptions = make({p.name[:2]: nbformat.read(p, as_version=4) for p in copies})
        folder = tmp / ("looping" if student == "dave" else "submissions") / student
        folder.mkdir(parents=True)
        for number, nb in notebooks.items():
            nbformat.write(nb, folder / COURSE[number].name)
            for e in _exercises(number):
                expected[(student, e.notebook, e.name)] = exceptions.get((e.notebook, e.name), (1, "Correct!"))
    start = time.monotonic()
    results = grade_submissions(tmp / "submissions", tmp / "out", ["00", "01"], timeout=240, quick=True, jobs=2)
    results += grade_submissions(tmp / "looping", tmp / "out-looping", ["00"], timeout=20)
    seconds = time.monotonic() - start
    rows = [r for out in ("out", "out-looping") for r in csv.DictReader(open(tmp / out / "gradebook.csv"))]
    return {"tmp": tmp, "rows": rows, "results": results, "seconds": seconds, "expected": expected}


def test_every_exercise_gets_the_score_its_answer_deserves(graded):
    rows = {(r["student"], r["notebook"], r["exercise"]): r for r in graded["rows"]}
    assert sorted(rows) == sorted(graded["expected"])
    wrong = {
        key: (rows[key]["score"], rows[key]["feedback"])
        for key, (score, text) in graded["expected"].items()
        if int(rows[key]["score"]) != score or text not in rows[key]["feedback"]
    }
    assert wrong == {}
    assert all(r["max"] == "1" for r in rows.values())


def test_a_wrong_answer_gets_the_checkers_not_yet_and_hint(graded):
    bob = [r for r in graded["rows"] if r["student"] == "bob" and r["score"] == "0"]
    assert len(bob) >= 4
    assert all(r["hint"] for r in bob), bob
    assert sum(r["feedback"].startswith("Not yet: ") for r in bob) >= 4
    page = (graded["tmp"] / "out" / "feedback" / "bob.md").read_text()
    assert "# Feedback for bob" in page and f"Hint: {bob[0]['hint']}" in page
    assert f"### {bob[0]['title']} ({bob[0]['exercise']}): 0 of 1" in page  # the notebook's name for it, then the checker


def test_an_endless_loop_scores_0_and_grading_goes_on_within_the_time_limit(graded):
    dave = next(r for r in graded["results"] if r.student == "dave")
    assert [g.score for g in dave.grades] == [0] + [1] * (len(dave.grades) - 1)
    assert dave.seconds < 120


def test_the_summary_and_a_clean_repository(graded):
    tmp, rows = graded["tmp"], [r for r in graded["rows"] if r["student"] != "dave"]
    summary = (tmp / "out" / "summary.md").read_text()
    for exercise in _exercises("01"):
        got = sum(int(r["score"]) for r in rows if (r["notebook"], r["exercise"]) == (exercise.notebook, exercise.name))
        assert f"| {exercise.notebook} | {exercise.title} | {exercise.name} | {got} of 3 |" in summary
    for folder in (REPO, REPO / "notebooks", tmp / "submissions" / "carol"):  # carol's cell wrote into its working folder
        assert not (folder / MARKER).exists(), f"grading left {MARKER} in {folder}"
    assert not list((tmp / "submissions").rglob("my_flowers.py")), "grading wrote next to a submission"
    order = [(r.student, r.notebook) for r in graded["results"]]
    assert order == sorted(order), "graded two at a time, the results keep students and notebooks in order"
    print(f"graded 7 notebooks in {graded['seconds']:.0f} s")


# ------------------------------------------------------------------ without the course notebooks' cost


def _toy_course() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_code_cell("from flowerkit import exercises", id="toy-00"),
        nbformat.v4.new_code_cell("cause = None\nexercises.check_access_cause(cause);", id="toy-01"),
        nbformat.v4.new_code_cell('# solution\ncause = "d"\nassert exercises.check_access_cause(cause)', id="toy-02"),
        nbformat.v4.new_code_cell("cause = None\nexercises.check_access_cause(cause);", id="toy-03"),
        nbformat.v4.new_code_cell('# solution\ncause = "d"\nassert exercises.check_access_cause(cause)', id="toy-04"),
        nbformat.v4.new_code_cell("import time\n\ntime.sleep(3)  # the course's slow run", id="toy-05"),
    ]
    for cell in (cells[2], cells[4]):
        cell.metadata["tags"] = ["solution"]
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def test_every_exercise_is_named_as_its_notebook_names_it():
    """Reports say "Exercise 4, part 2 (medium): a colleague's dataset", not only check_spawn_fix."""
    for path in course_notebooks():
        for exercise in course_exercises(nbformat.read(path, as_version=4), path.stem):
            assert exercise.title and len(exercise.title) > 8, (path.stem, exercise.name, exercise.title)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("## Exercises\n**Exercise 9 (easy): a toy.** Write `f`."),
            nbformat.v4.new_markdown_cell("**Presenter notes.** Five minutes."),
            nbformat.v4.new_code_cell("f = ...\nexercises.check_f(f)"),
        ]
    )
    assert exercise_title(nb, 2) == "Exercise 9 (easy): a toy"
    assert exercise_title(nb, 0) == ""


def test_the_plan_grades_each_exercise_after_its_cells_and_quick_skips_what_no_exercise_needs():
    course = _toy_course()
    exercises = course_exercises(course, "99_toy")
    assert [(e.name, e.cells, e.call) for e in exercises] == [
        ("check_access_cause", ("toy-01", "toy-02"), "exercises.check_access_cause(cause)"),
        ("check_access_cause#2", ("toy-03", "toy-04"), "exercises.check_access_cause(cause)"),
    ]
    student = student_version(course)
    assert _cell(student, "toy-02").source == ANSWER_PROMPT.rstrip("\n")
    _add_after(student, "toy-02", 'cause = "d"')
    student.cells[3].id = "mine"
    plan = grading_plan(course, student, exercises)
    steps = [s.exercise.name if s.exercise else s.cell.id for s in plan]
    assert steps == [
        *("toy-00", "toy-01", "toy-02", "mine", "check_access_cause"),
        *("toy-03", "toy-04", "check_access_cause#2", "toy-05"),
    ]
    kept = [s.cell.id for s in quick_plan(plan, course) if s.cell]
    assert kept == ["toy-00", "toy-01", "toy-02", "mine", "toy-03", "toy-04"]  # not the slow run no exercise needs


def test_a_loop_that_ignores_the_interrupt_gets_a_new_kernel_that_replays_the_cells_above(tmp_path):
    with _Session(tmp_path, timeout=3, env=kernel_env()) as session:
        assert session.run("answer = 41").kind == "ok"
        assert session.run("answer += 1\n" + STUCK).kind == "timeout"
        assert session.restarts == 1  # the interrupt did not stop it: a new kernel ran `answer = 41` again
        ran = session.run("print(answer)")
    assert ran.kind == "ok" and ran.outputs[0]["text"] == "41\n"


def test_make_grade_says_what_it_needs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "no-such-folder")])
    assert "one folder per student" in capsys.readouterr().err


def test_kernels_graded_together_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--jobs``: each kernel gets its share of the cores (a thread per core in each spins against the others)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("flowerkit.facts.cpu_count", lambda: 16)
    assert "OMP_NUM_THREADS" not in kernel_env() and "OMP_NUM_THREADS" not in kernel_env(1)
    assert kernel_env(4)["OMP_NUM_THREADS"] == "4" and kernel_env(32)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert kernel_env(4)["OMP_NUM_THREADS"] == "3", "a setting the grader chose is kept"


def test_a_stubs_checker_call_is_found_bare_asserted_assigned_or_as_an_ifs_condition():
    source = (
        "exercises.check_a(x)\nassert exercises.check_b(x)\nok = exercises.check_c(x)\n"
        "if exercises.check_d(x):  # a stub that goes on once its checker agrees\n    print(x)\nprint(exercises.check_e(x))\n"
    )
    assert checker_calls(source) == [
        "exercises.check_a(x)",
        "exercises.check_b(x)",
        "exercises.check_c(x)",
        "exercises.check_d(x)",
    ]
