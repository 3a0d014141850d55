"""No hunt is answered before its question: by help() on what the notebook uses, or by the order of a list of suspects.

The course's rule: a bug is found from its evidence, never announced. A student in the middle of a hunt who types
``help(teams)`` or ``wild.measure_worker_memory?``, or prints a team's result, must not read the answer there. So the
docstrings (and the constants pydoc lists, those in ``__all__``) of what the hunts use stay neutral; the explanations
live in code comments and in the notebooks, after their checkers' "Correct!". Reading an object's source on purpose
(``obj??``) is like reading the solution, and not guarded here.
"""

from __future__ import annotations

import dataclasses
import importlib
import pydoc
import re
import sys
from pathlib import Path

import pytest

from flowerkit import exercises, teams
from flowerkit.exercises import nb02, nb05, nb06

#: What help() shows on the modules a notebook's hunt uses, and phrases that would answer that hunt.
SPOILERS = {
    "00 exercises 1 and 2 (synth is imported in 00's setup)": (
        ("synth",),
        ("ordered by class", "10 train", "per class", "per_class", "grayscale", "distort"),
    ),
    "00 exercise 1: help(flowerkit) shows mini_flowers' signature, with its spec's default": (
        ("flowerkit",),
        ("ordered by class", "10 train", "per class", "per_class"),
    ),
    "01 the Access team's cause, in the module 01 reads with": (
        ("access", "load"),
        ("access team", "as positions", "not positions", "listing-order", "mispair", "% 102", "unsorted", "ids - 1"),
    ),
    "08 exercises 1-4 and 6 (curate and visitors are imported in 08's setup)": (
        ("curate", "visitors"),
        (
            "plural",
            "difflib",
            "two daisies",
            "a guess",
            "truncated",
            "not an image",
            "decoded once",
            "sha-256",
            "byte-identical",
            "aspect ratio",
            "sorted by",
            "on each side",
            "('tulip'",
            "not images at all",
            "same bytes",
            "singular",
            "pink yellow dahlia",
            "groups are shuffled",
            "stays in train",
            "cut off",
            "sent twice",
            "far more often",
            "answer key",
            "checkers compare with",
            "why the file is unusable",
        ),
    ),
    "01 the Access team's cause": (
        ("teams", "teams.access"),
        ("mispair", "wrong label", "1-based", "% 102", "as positions", "unsorted", "file system gives"),
    ),
    "01 and 03 causes in help(exercises), which 00's setup imports": (
        ("exercises",),
        ("unsorted", "listing order", "one image at a time", "team's way", "listing-order"),
    ),
    "02 the Quality team's causes": (
        ("teams", "teams.quality", "teams.capstone", "synth"),
        ("grayscale", "squash", "standardis", "at evaluation", "erased", "costliest", "random ones"),
    ),
    "01 and 02: help(teams) names the constants that hold the answers": (
        ("teams",),
        ("quality_bugs", "access_bugs", "team_info", "control of one"),
    ),
    "03 the Efficiency team's costs": (
        ("teams", "teams.efficiency", "teams.pipeline"),
        ("full-size JPEG decode and a resize", "ranks last", "full decode", "per-image transform", "no workers"),
    ),
    "03 exercises 4 and 6 (03 calls sampling above them)": (
        ("sampling",),
        ("stride", "num_workers-th", "remainder", "with replacement", "twice"),
    ),
    "04 exercise 4's schedule": (("model",), ("cosine", "/ 25", "25e4", "0.95")),
    "05 the Deployment team's skews": (
        ("app", "app.artifact", "app.deployment", "doctor.compare"),
        ("EXIF ignored", "squash", "ImageNet", "rotation ignored", "normalisation statistics", "colour order", "mirrored"),
    ),
    "06 the Scale team's bugs": (
        ("distributed",),
        ("same seed", "half the samples", "twice", "same order", "no-rank-split", "same-order", "averages the gradients"),
    ),
    "07 worker memory and repeated draws": (
        ("wild", "wild.copies", "wild.handles", "wild.corrupt", "wild.measure", "wild.randomness", "load"),
        (
            "copy-on-read",
            "copies the pages",
            "the fix it measures",
            "garbage collector",
            "reference count",
            "default generator",
            "seeds only",
            "same state",
            "python object per",
            "pickles the memory map",
            "its own copy",
            "file position",
            "two files",
            "generator per worker",
            "all its data",
            "draws differ",
        ),
    ),
}


def _plain(text: str) -> str:
    """``text`` as a phrase search should see it: no ``*`` or backticks (``*not* positions``), one space between words
    (a phrase split across lines), casefolded."""
    return " ".join(re.sub(r"[*`]", "", text).split()).casefold()


def _help(module: str) -> str:
    name = "flowerkit" if module == "flowerkit" else f"flowerkit.{module}"  # the package itself, or one of its modules
    return _plain(pydoc.render_doc(importlib.import_module(name), renderer=pydoc.plaintext))


@pytest.mark.parametrize("hunt", sorted(SPOILERS))
def test_help_on_what_a_hunt_uses_does_not_answer_it(hunt: str) -> None:
    modules, phrases = SPOILERS[hunt]
    shown = {module: _help(module) for module in modules}
    found = [(module, phrase) for module, text in shown.items() for phrase in phrases if _plain(phrase) in text]
    assert found == [], f"{hunt}: help() shows {found}; move the explanation into a code comment"


def test_help_on_the_checkers_of_later_exercises_does_not_answer_them() -> None:
    for checker, phrases in (
        (exercises.check_volunteer_fix, ("shuffled once", "new every epoch", "sorted by")),
        (exercises.check_bug_ranking, ("no workers", "augmentation", "shuffl", "ranks last")),
        (exercises.intern_loader, ("random crop", "mnist", "patch", "batches of 4", "shuffl")),
        (exercises.check_fixed_loader, ("worker", "persistent", "uint8")),
        (exercises.check_lr_at, ("one_cycle", "cosine", "/ 25")),
        (exercises.check_buckets, ("aspect", "sort")),
        (exercises.check_leak_count, ("bytes", "content_hash", "hash")),
        (exercises.check_sharded_stream, ("remainder", "23 items", "stride")),
        (exercises.check_train_loader, ("kept alive", "persistent", "where decoding needs", "beyond the cores")),
        (exercises.check_predict_loader, ("shuffle", "drop_last", "persistent", "in the dataset's order")),
        (exercises.check_compare_batches, ("other statistics", "turned", "swapped")),
        # nor exercise 3's answer, which the kiosk's code holds but for its skew (check_my_input refuses the kiosk)
        (exercises.kiosk_preprocess, ("camera library", "bgr", "opencv", "blue", "exif", "alpha", "white", "draft")),
        (exercises.check_kiosk_skew, ("bgr", "swapped", "(2, 1, 0)", "blue", "opencv")),
        (exercises.check_my_input, ("exif", "alpha_composite", "on white", "rotated", "sideways")),
        (exercises.check_herbarium_items, ("subtract 1", "habits")),
        (exercises.check_csv_agreement, ("blank last line", "shifted")),
        (exercises.check_merge_stats, ("float32",)),
        (exercises.check_pad_collate, ("f.pad", "centred", "largest photo", "labels left a list")),
        (exercises.check_mixup_partners, ("seed, epoch and item", "decided by")),
        (exercises.check_zip_per_worker, ("file position", "shared across a fork", "mixes")),
        (exercises.check_bad_files, ("planted_damage",)),
        (exercises.check_memory_meter, ("after the last batch", "still alive")),
        (exercises.check_merge_stats, ("nan",)),
    ):
        text = _plain(pydoc.render_doc(checker, renderer=pydoc.plaintext))
        assert not [p for p in phrases if _plain(p) in text], checker.__name__


def test_a_printed_team_result_or_pipeline_does_not_name_its_bugs() -> None:
    """02's `their_run` and `quality_pipe` are printed (and Tab-completed) by any student who types their names."""
    from flowerkit.teams.pipeline import _Pipeline
    from flowerkit.teams.training import _TeamResult

    for cls in (_Pipeline, _TeamResult):
        assert "bug" not in {f.name for f in dataclasses.fields(cls)}, cls.__name__  # Tab and help() show every field
    assert teams.TEAM_INFO["quality"]["bug"].startswith(teams.QUALITY_BUGS[0])  # importable, for the cells after


def test_their_pipeline_s_dataset_does_not_list_its_steps(mini_root, tmp_path, monkeypatch) -> None:
    """02's hunt calls the Quality team's pipeline a black box: printing its datasets, or Shift-Tab on their decode,
    must not list the steps that are its bugs."""
    monkeypatch.setenv("FLOWERKIT_CACHE", str(tmp_path / "cache"))
    pipe = teams.build_pipeline("quality", mini_root, size=16, num_workers=0, progress=False)
    for dataset in (pipe.train_loader.dataset, pipe.test_loader.dataset):
        shown = f"{dataset.transform!r} {dataset.decode.__doc__} {dataset.decode.__name__}".lower()
        for word in ("gray", "grey", "squash", "rotat", "standardi", "per-image", "bug", "evaluation", "resize"):
            assert word not in shown, (word, shown)


@pytest.mark.parametrize(
    "suspects, answers",
    [
        (nb02.QUALITY_SUSPECTS, nb02._QUALITY_CAUSES),
        (nb05.SKEW_CHOICES, nb05._DEPLOYMENT_SKEWS),
        (tuple(nb06.SCALE_SUSPECTS), nb06._SCALE_BUGS),
    ],
    ids=["02", "05", "06"],
)
def test_suspects_are_listed_in_alphabetical_order_not_answers_first(suspects: tuple[str, ...], answers) -> None:
    assert list(suspects) == sorted(suspects, key=str.casefold)
    assert set(answers) < set(suspects)


#: Sources notebook 07 prints above a question (``inspect.getsource``), and what they must not say in a comment.
PRINTED_ABOVE_QUESTIONS = {
    "wild.TorchJitterCrops": ("__init__", "__getitem__"),
    "wild.MixupPartners": (None,),
    "wild.ZipImages": ("__init__", "__getitem__"),
}
PRINTED_SPOILERS = ("bug", "fix", "seeds only", "default generator", "same state", "same partners", "depends on")


def _comments(source: str) -> list[str]:
    import io
    import textwrap
    import tokenize

    tokens = tokenize.generate_tokens(io.StringIO(textwrap.dedent(source)).readline)
    return [token.string for token in tokens if token.type == tokenize.COMMENT]


@pytest.mark.parametrize("name", sorted(PRINTED_ABOVE_QUESTIONS))
def test_sources_printed_above_a_question_carry_no_explanation(name: str) -> None:
    """07 prints these classes' code for the student to read before exercises 5, 7 and 8: a comment there answers them."""
    import inspect
    import json
    from pathlib import Path

    from flowerkit import wild

    notebook = json.loads((Path(__file__).parents[1] / "notebooks" / "07_in_the_wild.ipynb").read_text())
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert f"inspect.getsource({name}" in code or f"inspect.getsource(getattr({name}," in code, "07 no longer prints it"
    cls = getattr(wild, name.split(".")[1])
    for method in PRINTED_ABOVE_QUESTIONS[name]:
        found = [c for c in _comments(inspect.getsource(getattr(cls, method) if method else cls))]
        spoilers = [c for c in found if any(p in c.casefold() for p in PRINTED_SPOILERS)]
        assert spoilers == [], f"{name}.{method}: move {spoilers} to the module's comment block, outside the method"


def test_the_script_07_reads_aloud_does_not_point_at_its_bug() -> None:
    """07's presenter asks what a worker importing the script would run: its last line must not say."""
    from flowerkit import wild

    script = wild.training_script("no_guard")
    assert _comments(script) == [] and "guard" not in script


#: The modules a notebook reaches by name (``teams.``, ``exercises.nbNN.``) before its hunt's question.
TABBED = (
    "flowerkit.teams",
    "flowerkit.teams.access",
    "flowerkit.teams.capstone",
    "flowerkit.teams.efficiency",
    "flowerkit.teams.quality",
    "flowerkit.teams.ours",
    "flowerkit.app",
    "flowerkit.app.deployment",
    "flowerkit.wild",
    "flowerkit.expectations",
    "flowerkit.exercises",
    *(f"flowerkit.exercises.nb0{n}" for n in range(9)),
)


@pytest.mark.parametrize("name", TABBED)
def test_tab_completion_does_not_offer_the_constants_that_name_bugs(name: str) -> None:
    """`teams.<Tab>` listed EFFICIENCY_BUGS above 03's hunt (and its value, typed, the answer): dir() leaves them out."""
    module = importlib.import_module(name)
    offered = [n for n in dir(module) if not n.startswith("_")]
    assert not [n for n in offered if re.search(r"_(BUGS|INFO|CAUSES)$", n)], offered


def test_tab_completion_does_not_offer_answer_keys() -> None:
    """07's planted_damage (which files exercise 4 hunts) and expectations.TARGETS (whose whys name the bugs)."""
    from flowerkit import app, expectations, wild

    assert "planted_damage" not in dir(wild) and "planted_damage" not in wild.__all__
    assert "deployment_team_lines" not in dir(app), "its stats= says one of their lines uses other statistics"
    from flowerkit.visitors import VisitorSet

    handover = VisitorSet(Path("."), (), frozenset())
    assert "truth" not in dir(handover) and "csv" in dir(handover), "HANDOVER.<Tab> offers the files, not 08's answer key"
    assert "TARGETS" not in dir(expectations) and "TARGETS" not in expectations.__all__
    assert "labels that belong" not in repr(expectations.TARGETS["01/access_val_acc"]), "a printed target keeps its why"
    assert wild.planted_damage and expectations.TARGETS, "both still importable by name"


def test_ipython_completes_a_module_from_its_dir() -> None:
    """What the test above relies on: IPython's completer (jedi included) offers what the module's dir() lists."""
    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("from flowerkit import teams")
    with provisionalcompleter():
        offered = {c.text for c in shell.Completer.completions("teams.", 6)}
        bugs = {c.text for c in shell.Completer.completions("teams.EFF", 9)}
    assert "run_team" in offered and not {n for n in offered if n.endswith(("_BUGS", "_INFO"))}, offered
    assert not bugs, bugs
    assert teams.EFFICIENCY_BUGS, "still importable by name, for the cells after the hunt"


def test_the_doctor_is_not_offered_on_flowerkit_before_a_notebook_reveals_it() -> None:
    """00's setup imports flowerkit.exercises, which loads the doctor: `flowerkit.<Tab>` must not offer it above 01's
    and 08's hunts (it names the Access team's bug); `from flowerkit import doctor` still works where they reveal it."""
    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    import flowerkit
    import flowerkit.exercises  # noqa: F401  (what 00's setup imports)

    assert "flowerkit.doctor" in sys.modules and "doctor" not in dir(flowerkit) and "exercises" in dir(flowerkit)
    shell = InteractiveShell.instance()
    shell.run_cell("import flowerkit")
    with provisionalcompleter():
        offered = {c.text for c in shell.Completer.completions("flowerkit.do", 12)}
    assert not {o for o in offered if "doctor" in o}, offered
    from flowerkit import doctor

    assert doctor.diagnose


def test_the_quality_team_s_steps_are_not_printed_or_offered_above_02_s_hunt() -> None:
    """`teams.quality_team_transform(SIZE)` printed their four steps; `....dataset.transform.transforms` listed them."""
    from flowerkit import teams
    from flowerkit.teams.quality import _TheirTransform

    assert "quality_team_transform" not in dir(teams) and teams.quality_team_transform, "hidden, still importable"
    theirs = _TheirTransform(teams.quality_team_transform(32).transforms)
    shown = repr(theirs) + repr(theirs.transforms)
    assert "Grayscale" not in shown and "Rotation" not in shown and len(theirs.transforms) > 2, shown
