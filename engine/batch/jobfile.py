"""The TOML job file (placeholder until the schema lands)."""

from __future__ import annotations


def is_job_file(path: str) -> bool:
    return str(path).lower().endswith(".toml")


def load_job(path, args, render_parser=None):
    from ..errors import InputError

    raise InputError("Job files are not read yet.")
