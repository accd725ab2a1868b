"""Importing the project's modules in any order works: a compiled dependency loaded first
must not break another's import (usearch 2.26.2-2.26.6 crash onnxruntime's import with a
segfault in libstdc++ when they are loaded first; pyproject.toml keeps them out)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("first, then", [
    ("tusou.index", "onnxruntime"),
    ("tusou.index.keypoint_table", "tusou.engine"),
    ("usearch.index", "tusou.features"),
])
def test_importing_the_index_before_the_models_works(first: str, then: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {first}; import {then}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"import {first}; import {then}: {done.returncode}\n{done.stderr}"
