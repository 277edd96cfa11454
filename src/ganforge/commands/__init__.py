"""One module per CLI subcommand; each defines ``register(subparsers)`` and a ``run(args)``."""

from __future__ import annotations

import argparse
from typing import TypeAlias

# What ``register`` receives. A string: argparse's classes are generic only in the type stubs.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
