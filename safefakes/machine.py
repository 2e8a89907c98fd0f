"""The machine a result was computed on: CPU, the instruction set of torch's kernels, threads, device.

A seed fixes a detector's training only on one kind of machine. torch picks
its CPU kernels by instruction set (``torch.backends.cpu.get_cpu_capability()``:
AVX2, AVX512, ...), and kernels of another width add floating-point numbers in
another order; the thread count splits the sums differently too. Measured: the
original data's three seeds gave mAP 0.850 / 0.849 / 0.877 on one 2-core CPU and
0.884 / 0.870 / 0.888 on another, same code, same seeds. So every trained
detector, every prediction folder and every ``map.json`` carries this record,
and the summary lists the machines its runs came from.

Only identifying facts go into the record (no host name, no time): two runs on
one machine with one thread count get the same record, so a checkpoint's bytes
stay a function of the seed there.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Mapping

import torch

#: The key under which checkpoints, prediction summaries and map.json files keep the record.
MACHINE = "machine"
FIELDS = ("cpu", "cpu_capability", "architecture", "torch", "threads", "device")
CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform`` where there is none), or "unknown"."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    # x86 names the model in "model name"; some ARM kernels only in "Model" or "Hardware".
    for key in ("model name", "Model", "Hardware"):
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def device_name(device: str | torch.device | None = None) -> str:
    """"cpu", or the GPU's name ("NVIDIA H100 80GB HBM3") for a CUDA device."""
    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return dev.type


def machine_record(device: str | torch.device | None = None) -> dict:
    """The record of this process on ``device`` (default the CPU): the fields of ``FIELDS``.

    ``threads`` is torch's intra-op thread count now: call it after
    ``torch.set_num_threads``, where the work runs. A CUDA device adds the
    CUDA version torch was built with.
    """
    record = {
        "cpu": cpu_model(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "architecture": platform.machine() or "unknown",
        # Plain str and int: checkpoints are read back with weights_only=True, which refuses
        # torch's TorchVersion (a str subclass).
        "torch": str(torch.__version__),
        "threads": int(torch.get_num_threads()),
        "device": device_name(device),
    }
    if torch.device("cpu" if device is None else device).type == "cuda":
        record["cuda"] = str(torch.version.cuda)
    return record


def describe_machine(record: Mapping | None) -> str:
    """One line: "AMD EPYC, AVX512, torch 2.14.1, 1 thread, cpu"; "unknown" without a record."""
    if not record:
        return "unknown"
    threads = record.get("threads")
    parts = [str(record.get("cpu", "unknown CPU")), str(record.get("cpu_capability", "unknown kernels")),
             f"torch {record.get('torch', '?')}",
             f"{threads} thread{'' if threads == 1 else 's'}" if threads is not None else "threads unknown",
             str(record.get("device", "unknown device"))]
    return ", ".join(parts)


__all__ = ["MACHINE", "FIELDS", "cpu_model", "device_name", "machine_record", "describe_machine"]
