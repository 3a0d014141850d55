"""Every checker: a Verdict that shows no Out[n] in a kernel, and a hint with every "Not yet" (flowerkit.exercises.verdict)."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import torch
import torch.utils.data
from IPython.core.formatters import DisplayFormatter
from nbclient import NotebookClient
from torch.utils.data import IterableDataset

from flowerkit import exercises, teams
from flowerkit.access import OxfordFlowers102


def test_a_verdict_is_true_or_false_and_ipython_shows_nothing_for_it(capsys):
    bad, good = exercises.check_majority_baseline(None, [0, 0, 1]), exercises.check_majority_baseline(2 / 3, [0, 0, 1])
    assert isinstance(bad, exercises.Verdict) and not bad and good
    assert bad == False and good == True and bad != good  # noqa: E712  (old tests compare with bools)
    assert (good or "x") is good and repr(bad) == "Verdict(False)"
    assert DisplayFormatter().format(bad) == ({}, {})  # what IPython's displayhook sends: nothing, so no Out[n]
    assert "Not yet" in capsys.readouterr().out


def test_a_checker_cell_shows_its_message_and_no_out_prompt_in_a_kernel(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    code = f"import sys; sys.path.insert(0, {str(repo)!r})\nfrom flowerkit import exercises\nexercises.check_majority_baseline(None, [0, 0, 1])"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"], outputs
    assert outputs[0].name == "stdout" and outputs[0].text.startswith("Not yet") and "Hint:" in outputs[0].text


def _checker_modules():
    """Every module of the flowerkit.exercises package: one per notebook, and the shared verdict."""
    names = [m.name for m in pkgutil.iter_modules(exercises.__path__)]
    return [importlib.import_module(f"flowerkit.exercises.{name}") for name in sorted(names)]


def test_every_not_yet_in_the_source_passes_a_hint():
    modules = _checker_modules()
    assert {m.__name__.rsplit(".", 1)[1] for m in modules} >= {f"nb0{k}" for k in range(7)} | {"verdict"}
    missing = []
    for module in modules:
        tree = ast.parse(inspect.getsource(module))
        missing += [
            f"{module.__name__} line {node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "_verdict"
            and not (isinstance(node.args[0], ast.Constant) and node.args[0].value is True)
            and len(node.args) + len(node.keywords) < 3
        ]
    assert missing == [], f"_verdict(False, message) without a hint at: {missing}"


def _raises(*args):
    raise RuntimeError("boom")


def _cheap_failures(root, dataset, labels):
    """(checker, arguments) for failure paths that cost nothing: unanswered stubs, raising functions, wrong types."""
    images = torch.utils.data.TensorDataset(torch.zeros(64, 3, 8, 8, dtype=torch.uint8), torch.arange(64) % 4)
    mean, std = (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)
    stub = lambda *a: None  # noqa: E731
    five = lambda *a: 5  # noqa: E731
    test_photo = OxfordFlowers102(root, "test").image_files[0]
    photo = SimpleNamespace(path=test_photo, original=test_photo, label=0, kind="original")  # a visitor photo, for 05
    return [
        (exercises.check_images_per_class, (stub, root)),
        (exercises.check_images_per_class, (_raises, root)),
        (exercises.check_images_per_class, (five, root)),
        (exercises.check_classes_per_batch, (stub, root)),
        (exercises.check_classes_per_batch, (_raises, root)),
        (exercises.check_classes_per_batch, (five, root)),
        (exercises.check_label_agreement, (stub, root)),
        (exercises.check_label_agreement, (_raises, root)),
        (exercises.check_label_agreement, (five, root)),
        (exercises.check_csv_agreement, (stub,)),
        (exercises.check_csv_agreement, (_raises,)),
        (exercises.check_csv_agreement, (five,)),
        (exercises.check_herbarium_items, (stub,)),
        (exercises.check_herbarium_items, (_raises,)),
        (exercises.check_herbarium_items, (five,)),
        (exercises.check_pair_files, (stub,)),
        (exercises.check_pair_files, (_raises,)),
        (exercises.check_pair_files, (lambda names, labels: [],)),
        (exercises.check_batch_findings, (stub,)),
        (exercises.check_batch_findings, (_raises,)),
        (exercises.check_batch_findings, (five,)),
        (exercises.check_caffe_input, (stub,)),
        (exercises.check_caffe_input, (_raises,)),
        (exercises.check_caffe_input, (five,)),
        (exercises.check_merge_stats, (stub,)),
        (exercises.check_merge_stats, (_raises,)),
        (exercises.check_merge_stats, (five,)),
        (exercises.check_mixup_loaders, (stub,)),
        (exercises.check_mixup_loaders, (_raises,)),
        (exercises.check_mixup_loaders, (five,)),
        (exercises.check_train_loader, (stub, dataset)),
        (exercises.check_train_loader, (_raises, dataset)),
        (exercises.check_train_loader, (five, dataset)),
        (exercises.check_train_loader, (lambda d: torch.utils.data.DataLoader(d), dataset)),
        (exercises.check_predict_loader, (stub, dataset)),
        (exercises.check_predict_loader, (_raises, dataset)),
        (exercises.check_predict_loader, (five, dataset)),
        (exercises.check_predict_loader, (lambda d, todo: torch.utils.data.DataLoader(d, shuffle=True), dataset)),
        (exercises.check_wait_meter, (stub,)),
        (exercises.check_wait_meter, (_raises,)),
        (exercises.check_wait_meter, (five,)),
        (exercises.check_worker_seeding, (stub,)),
        (exercises.check_worker_seeding, (_raises,)),
        (exercises.check_majority_baseline, (None, labels)),
        (exercises.check_majority_baseline, ("many", labels)),
        (exercises.check_majority_baseline, (0.123, labels)),
        (exercises.check_most_confused, (stub,)),
        (exercises.check_lr_at, (stub,)),
        (exercises.check_lr_at, (_raises,)),
        (exercises.check_lr_at, (five,)),
        (exercises.check_most_confused, (_raises,)),
        (exercises.check_most_confused, (five,)),
        (exercises.check_most_confused, (lambda p, t, k: [],)),
        (exercises.check_fixed_loader, (stub, root)),
        (exercises.check_fixed_loader, (_raises, root)),
        (exercises.check_fixed_loader, (five, root)),
        (exercises.check_train_stats, (stub,)),
        (exercises.check_train_stats, (_raises,)),
        (exercises.check_train_stats, (five,)),
        (exercises.check_bug_ranking, (None, {"fetch: read + decode": 2.0, "collate": 1.0})),
        (exercises.check_bug_ranking, ("network", {"fetch: read + decode": 2.0, "collate": 1.0})),
        (exercises.check_bug_ranking, (["network"], {"fetch: read + decode": 2.0, "collate": 1.0})),
        (exercises.check_bug_ranking, ([*teams.EFFICIENCY_BUGS], {"fetch: read + decode": 2.0, "collate": 1.0})),
        (exercises.check_collate, (stub, images, mean, std)),
        (exercises.check_collate, (_raises, images, mean, std)),
        (exercises.check_balanced_sampler, (stub, labels)),
        (exercises.check_balanced_sampler, (_raises, labels)),
        (exercises.check_balanced_sampler, (five, labels)),
        (exercises.check_sharded_stream, (_EmptyStream,)),
        (exercises.check_quality_causes, (None,)),
        (exercises.check_quality_causes, ({"blur"},)),
        (exercises.check_access_cause, (None,)),
        (exercises.check_access_cause, ("a",)),
        (exercises.check_flowers_dataset, (None, root)),
        (exercises.check_spawn_ready, (None,)),
        (exercises.check_spawn_fix, (None, [])),
        (exercises.check_spawn_fix, (42, [])),
        (exercises.check_count_appearances, (stub,)),
        (exercises.check_my_shard, (stub, OxfordFlowers102(root, "train"))),
        (exercises.check_my_shard, (_raises, OxfordFlowers102(root, "train"))),
        (exercises.check_count_appearances, (_raises,)),
        (exercises.check_padded_indices, (stub,)),
        (exercises.check_padded_indices, (_raises,)),
        (exercises.check_scale_bugs, (None,)),
        (exercises.check_repeating_sources, (None,)),
        (exercises.check_repeating_sources, ({"numpy"},)),
        (exercises.check_scale_bugs, ({"drop_last"},)),
        (exercises.check_rank_stream, (_EmptyStream,)),
        (exercises.check_rank_stream, (list,)),
        (exercises.check_torchrun_stream, (_EmptyStream,)),
        (exercises.check_torchrun_stream, (list,)),
        (exercises.check_ddp_by_hand, (stub,)),
        (exercises.check_ddp_by_hand, (lambda *a: 1 / 0,)),  # a lambda: judged as it is, not looked up in its file
        (exercises.check_ddp_by_hand, (five,)),
        (exercises.check_shuffle_buffer, (stub,)),
        (exercises.check_shuffle_buffer, (_raises,)),
        (exercises.check_shuffle_buffer, (five,)),
        (exercises.check_compare_batches, (None,)),
        (exercises.check_compare_batches, (lambda reference, candidate: (1, 2, 3),)),
        (exercises.check_kiosk_skew, (None, None)),
        (exercises.check_kiosk_skew, ("no such skew", (2, 1, 0))),
        (exercises.check_kiosk_skew, ("red and blue swapped (BGR order)", None)),
        (exercises.check_kiosk_skew, ("red and blue swapped (BGR order)", (0, 1, 2))),
        (exercises.check_kiosk_skew, ("grayscale", (2, 1, 0))),
        (exercises.check_deployment_skews, (None,)),
        (exercises.check_deployment_skews, ({"grayscale"},)),
        (exercises.check_my_artifact, (stub, stub)),
        (exercises.check_my_artifact, (_raises, stub)),
        (exercises.check_my_input, (stub, None, [photo], 8, mean, std)),
        (exercises.check_my_input, (_raises, None, [photo], 8, mean, std)),
        (exercises.check_my_input, (five, None, [photo], 8, mean, std)),
        (exercises.check_my_input, (lambda p: exercises.kiosk_preprocess(p, 8, mean, std), None, [photo], 8, mean, std)),
        (exercises.check_memory_meter, (stub,)),
        (exercises.check_memory_meter, (_raises,)),
        (exercises.check_memory_meter, (five,)),
        (exercises.check_skip_unreadable, (stub, stub, dataset)),
        (exercises.check_skip_unreadable, (_raises, five, dataset)),
        (exercises.check_skip_unreadable, (five, five, dataset)),
        (exercises.check_leak_count, (None, [], [], [])),
        (exercises.check_leak_count, ("five", [], [], [])),
        (exercises.check_pad_collate, (stub, [(torch.zeros(3, 2, 2, dtype=torch.uint8), 0)])),
        (exercises.check_pad_collate, (_raises, [(torch.zeros(3, 2, 2, dtype=torch.uint8), 0)])),
        (exercises.check_pad_collate, (five, [(torch.zeros(3, 2, 2, dtype=torch.uint8), 0)])),
    ]


class _EmptyStream(IterableDataset):
    """A stream that yields nothing: the cheapest wrong answer to the sharding exercise."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter([])


def test_every_checker_gives_a_hint_on_its_cheap_failure_paths(mini_root, capsys):
    dataset = torch.utils.data.TensorDataset(torch.zeros(8, 1), torch.arange(8))
    cases = _cheap_failures(mini_root, dataset, [0, 0, 1, 2])
    checkers = {name for name in exercises.__all__ if name.startswith("check_")}
    assert checkers <= {c.__name__ for c, _ in cases}, "add the new checker's cheap failure paths to _cheap_failures"
    for checker, args in cases:
        verdict = checker(*args)
        out = capsys.readouterr().out
        assert not verdict and out.startswith("Not yet"), (checker.__name__, out)
        assert "\nHint: " in out, f"{checker.__name__}{args!r}: no hint in {out!r}"


def test_a_students_long_error_message_is_cut_in_the_verdict(capsys):
    def prints_a_tensor(_):
        raise ValueError("x = " + "1.2345, " * 500)

    assert not exercises.check_worker_seeding(prints_a_tensor)
    out = capsys.readouterr().out
    assert "your function raised ValueError: x = 1.2345" in out and "[...]" in out and len(out) < 1000, out


def test_a_set_checker_cannot_be_played_one_suspect_at_a_time():
    """A single pick, right or wrong, gets the same message: elimination would otherwise name the truth in n tries."""
    from flowerkit.exercises.verdict import _set_problem

    truth, cleared = ["grayscale", "squash", "rotation"], {"blur": "blur is cleared", "noise": "noise is cleared"}
    names = [*truth, *cleared]

    look_again = "look at every measurement"  # one pointer for any missing item: it names none

    said = {pick: _set_problem({pick}, truth, cleared, look_again, "causes") for pick in names}
    assert len(set(said.values())) == 1 and not any(name in " ".join(said["squash"]) for name in names)
    assert _set_problem({"grayscale", "squash"}, truth, cleared, look_again, "causes") == (
        "1 of the causes still at large.",
        "look at every measurement",
    )
    assert _set_problem({*truth, "blur"}, truth, cleared, None, "causes")[0] == "the evidence clears 'blur': blur is cleared."
    assert _set_problem({"grayscale", "squash"}, truth, cleared, None, "causes")[0].startswith("that set is not the causes")


def _notebook(code: str) -> dict:
    """Names defined by ``code`` as a notebook cell defines them (module ``__main__``)."""
    namespace = {"__name__": "__main__"}
    exec(compile(code, "<cell>", "exec"), namespace)  # noqa: S102 - a student's cell, written here
    return namespace


def test_the_flowerkit_version_is_refused_under_any_name_before_it_runs():
    from flowerkit import model
    from flowerkit.exercises.verdict import _call_without, _names_any

    cell = _notebook(
        "import functools, math\n"
        "from flowerkit.model import one_cycle as oc\n"
        "from flowerkit.access import read_labels\n"
        "def alias(p, m): return oc(p, m)[0]\n"
        "def branch(p, m): return oc(p, m)[0] if p < 0.25 else m\n"
        "def helper(p, m): return oc(p, m)\n"
        "def through_helper(p, m): return helper(p, m)[0]\n"
        "def default(p, m, f=oc): return f(p, m)[0]\n"
        "partial = functools.partial(oc)\n"
        "class Caller:\n"
        "    def __call__(self, p, m): return oc(p, m)[0]\n"
        "caller = Caller()\n"
        "def own(p, m): return m * (1 + math.cos(math.pi * p)) / 2\n"
        "def library(path): return read_labels(path)\n"
    )
    cell["wrapped_own"] = functools.partial(cell["branch"])  # a partial of the student's own function is walked into
    for name in ("alias", "branch", "through_helper", "default", "partial", "caller", "wrapped_own"):
        answer, error, refused = _call_without(model, "one_cycle", cell[name], 0.5, 2e-3)
        assert refused and answer is None and "_FlowerkitVersion" in error, name
    assert _call_without(model, "one_cycle", model.one_cycle, 0.5, 2e-3)[2], "passed as is"
    answer, error, refused = _call_without(model, "one_cycle", cell["own"], 0.5, 2e-3)
    assert not refused and error is None and answer == pytest.approx(1e-3)
    # a library's function is named, not walked into: read_labels calls read_mat, which the student did not write (a
    # call through the module, access.read_labels, is the module patch's to refuse as it runs)
    from flowerkit import access

    assert not _names_any(cell["library"], [access.read_mat]) and _names_any(cell["library"], [access.read_labels])


def test_a_class_that_subclasses_or_names_the_flowerkit_version_is_refused():
    from flowerkit import curate, sampling
    from flowerkit.exercises.verdict import _names_any

    cell = _notebook(
        "from flowerkit.curate import LabelledImages as Base\n"
        "from flowerkit.sampling import worker_share\n"
        "import torch\n"
        "class Sub(Base): pass\n"
        "class Uses(torch.utils.data.IterableDataset):\n"
        "    def __iter__(self): return iter(worker_share(list(range(4))))\n"
        "class Own(torch.utils.data.IterableDataset):\n"
        "    def __iter__(self): return iter(range(4))\n"
    )
    assert _names_any(cell["Sub"], [curate.LabelledImages])
    assert _names_any(cell["Uses"], [sampling.worker_share, sampling.ShardedStream])
    assert not _names_any(cell["Own"], [sampling.worker_share, sampling.ShardedStream])
