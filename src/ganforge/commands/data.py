"""``ganforge data list``: the datasets ganforge knows, with size, resolution, classes and presence."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="list and prepare datasets")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="print every dataset with its size and local presence")
    listing.add_argument("--cache-dir", type=Path, default=None,
                         help="dataset cache folder (default: $GANFORGE_CACHE or ~/.cache/ganforge)")
    listing.set_defaults(run=run_list)


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


def run_list(args: argparse.Namespace) -> int:
    from ganforge.data import DATASETS, default_cache_dir

    cache_dir = args.cache_dir or default_cache_dir()
    rows = [("name", "images", "resolution", "channels", "classes", "present", "description")]
    for name, source in DATASETS.items():
        shown = source.example if source.takes_argument else name
        res = f"{source.resolution}x{source.resolution}" if source.resolution else None
        present = "yes" if source.is_present(cache_dir) else "no"
        rows.append((shown, _fmt(source.size), _fmt(res), _fmt(source.channels), _fmt(source.num_classes),
                     present, source.description))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    print(f"\ncache folder: {cache_dir}")
    return 0
