"""The machine record (safefakes.machine): what it says and that it stays plain (checkpoints keep it)."""

from __future__ import annotations

import platform

import torch

from safefakes.machine import FIELDS, cpu_model, describe_machine, machine_record


def test_cpu_model_from_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: avx2\n\n"
                   "processor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
    assert cpu_model(x86) == "AMD EPYC 7B13"
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 48.00\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n")
    assert cpu_model(arm) == "Raspberry Pi 4 Model B Rev 1.4"
    assert cpu_model(tmp_path / "missing") == (platform.processor() or platform.machine() or "unknown")


def test_the_record_of_this_process():
    record = machine_record()
    assert set(record) == set(FIELDS)
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["threads"] == torch.get_num_threads() and record["device"] == "cpu"
    # Plain types only: a checkpoint holding it loads with weights_only=True.
    assert all(type(v) in (str, int) for v in record.values())
    assert machine_record() == record  # nothing in it changes between calls


def test_describe():
    record = {"cpu": "AMD EPYC", "cpu_capability": "AVX512", "torch": "2.5.1", "threads": 2, "device": "cpu"}
    assert describe_machine(record) == "AMD EPYC, AVX512, torch 2.5.1, 2 threads, cpu"
    assert describe_machine(dict(record, threads=1, device="NVIDIA H100 80GB HBM3")) == \
        "AMD EPYC, AVX512, torch 2.5.1, 1 thread, NVIDIA H100 80GB HBM3"
    assert describe_machine(None) == describe_machine({}) == "unknown"
