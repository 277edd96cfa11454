"""What the comparison report says, on synthetic run folders: values, protocols, the best run, gaps."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.report import build_report, collect
from ganforge.report.table import MISSING, best_runs, build_table

FULL = {"step": 100, "is": 2.5, "is_std": 0.1, "fid": 40.123, "kid": 0.0312, "kid_std": 0.0011,
        "precision": 0.61, "recall": 0.42, "density": 0.88, "coverage": 0.55}


def rows_by_run(table) -> dict[str, dict[str, str]]:
    return {row[0]: dict(zip(table.header, row, strict=True)) for row in table.rows}


def test_table_has_every_metric_with_dashes_for_gaps_and_the_lowest_fid_wins(make_run) -> None:
    a = make_run("dcgan-a", metrics=[FULL], preset="dcgan")
    b = make_run("wgan-b", metrics=[{"step": 50, "fid": 90.0}, {"step": 100, "fid": 35.5}], preset="wgan")
    c = make_run("gan-c", metrics=[], preset="gan")  # never evaluated
    d = make_run("toy", data="toy2d:ring", model="mlp", steps=100, metrics=[
        {"kind": "toy2d", "step": 100, "modes": 7, "num_modes": 8, "high_quality": 0.842, "reverse_kl": 0.123,
         "samples": 2500, "protocol": "pacgan-2d"}])
    collection = collect([a, b, c, d])
    best, unranked = best_runs(collection.runs)
    table = build_table(collection.runs, best)
    assert table.header == ["run", "model", "dataset", "loss", "steps", "wall time", "img/s", "IS", "FID", "KID",
                            "precision", "recall", "density", "coverage", "modes", "HQ", "reverse KL", "protocol"]
    rows = rows_by_run(table)
    assert list(rows) == ["dcgan-a", "wgan-b", "gan-c", "toy"]
    full = rows["dcgan-a"]
    assert (full["IS"], full["FID"], full["KID"]) == ("2.50 ± 0.10", "40.12", "0.0312 ± 0.0011")
    assert (full["precision"], full["recall"], full["density"], full["coverage"]) == ("0.610", "0.420", "0.880", "0.550")
    assert (full["model"], full["dataset"], full["loss"], full["steps"]) == ("dcgan", "digits5k", "bce", "100")
    assert (full["wall time"], full["img/s"]) == ("50s", "256")  # 100 steps x batch 128 (the preset) / 50 s
    assert rows["wgan-b"]["FID"] == "35.50" and rows["wgan-b"]["KID"] == MISSING
    assert rows["wgan-b"]["model"] == "wgan (dcgan)"
    assert all(rows["gan-c"][c] == MISSING for c in ("IS", "FID", "KID", "precision", "coverage", "protocol"))
    assert (rows["toy"]["modes"], rows["toy"]["HQ"], rows["toy"]["reverse KL"]) == ("7/8", "84.2%", "0.123")
    assert rows["toy"]["FID"] == MISSING and rows["dcgan-a"]["modes"] == MISSING

    winners = {b.dataset: b for b in best}
    assert winners["digits5k"].run == "wgan-b" and winners["digits5k"].reason == "lowest FID: 35.5"
    assert "1 run(s) without fid not ranked" in winners["digits5k"].note
    assert winners["toy2d:ring"].run == "toy" and "most modes" in winners["toy2d:ring"].reason
    assert unranked == [] and table.best == [False, True, False, True]
    assert rows["dcgan-a"]["protocol"] == "P1" and rows["toy"]["protocol"] == "P2"
    assert table.protocols[0] == ("N fake 500 / N real 1000; FID Inception (TF 2015-12-05), pool3 2048-d "
                                  "[weights 7ff4a85c]; reference digits5k (train, 32px); resize "
                                  "tf1-legacy-bilinear-299")
    assert table.protocols[1].startswith("N fake 2500 points; PacGAN 2-D protocol")


def test_kid_decides_without_fid_and_mixed_protocols_are_flagged(make_run) -> None:
    a = make_run("a", metrics=[{"step": 100, "kid": 0.05}])
    b = make_run("b", metrics=[{"step": 100, "kid": 0.02, "protocol": {"num_fake": 50, "num_real": 1000}}])
    c = make_run("c", data="mnist", metrics=[])
    best, unranked = best_runs(collect([a, b, c]).runs)
    assert [(x.dataset, x.run, x.reason) for x in best] == [("digits5k", "b", "lowest KID (no FID measured): 0.02")]
    assert "different protocols" in best[0].note
    assert unranked == ["mnist"]


def test_evaluation_of_an_earlier_step_is_labelled_not_passed_off_as_final(make_run) -> None:
    run = make_run("early", steps=200, metrics=[{"step": 100, "fid": 50.0}])
    collection = collect([run])
    (summary,) = collection.runs
    assert summary.eval_step == 100
    row = rows_by_run(build_table(collection.runs, []))["early"]
    assert row["protocol"] == "P1 (at step 100)"


def test_html_is_one_self_contained_file(make_run, tmp_path: Path) -> None:
    runs = [make_run("dcgan-a", metrics=[FULL, {"step": 50, "fid": 80.0}]), make_run("gan-b", metrics=[])]
    out = tmp_path / "report.html"
    content = build_report(runs, out)
    html = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html), "every resource must be inline"
    assert "<script" not in html and "<link" not in html and "@import" not in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 2 + 2  # two final grids, loss curves, FID curves
    for data in images:
        Image.open(io.BytesIO(base64.b64decode(data))).verify()
    assert [p.title for p in content.figures] == ["Loss curves", "FID against step and wall time"]
    assert html.count('<tr class="run') == 2 and html.count('<tr class="run best">') == 1
    assert "Best on <b>digits5k</b>: <b>dcgan-a</b> — decided by lowest FID: 40.12" in html
    assert "N fake 500 / N real 1000" in html


def test_markdown_links_pngs_written_next_to_it(make_run, tmp_path: Path) -> None:
    runs = [make_run("dcgan-a", metrics=[FULL]), make_run("wgan-b", metrics=[{"step": 100, "fid": 60.0}])]
    out = tmp_path / "study" / "report.md"
    build_report(runs, out)
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["report_files/dcgan-a-final.png", "report_files/wgan-b-final.png", "report_files/loss_curves.png",
                     "report_files/fid.png"]
    for link in links:
        Image.open(out.parent / link).verify()
    assert "| ★ **dcgan-a** | dcgan | digits5k | bce | 100 |" in text
    assert "- **P1**: N fake 500 / N real 1000;" in text


def test_existing_output_needs_overwrite(make_run, tmp_path: Path) -> None:
    run = make_run("a", metrics=[FULL])
    for name in ("r.html", "r.md"):
        out = tmp_path / name
        build_report([run], out)
        with pytest.raises(GanforgeError, match="already exists; pass --overwrite"):
            build_report([run], out)
        build_report([run], out, overwrite=True)
    with pytest.raises(GanforgeError, match="use .html"):
        build_report([run], tmp_path / "r.pdf")


def test_sweep_folders_list_runs_in_plan_order_and_name_the_missing_ones(make_run, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    make_run("z-first", parent=sweep, metrics=[FULL])
    make_run("a-second", parent=sweep, metrics=[])
    index = {"format": "ganforge-sweep", "name": "demo", "description": "a demo sweep", "runs": [
        {"name": "z-first", "run_dir": "z-first", "axes": {"preset": "dcgan"}},
        {"name": "a-second", "run_dir": "a-second", "axes": {}},
        {"name": "not-yet", "run_dir": "not-yet", "axes": {}}]}
    (sweep / "sweep.json").write_text(json.dumps(index))
    collection = collect([sweep])
    assert [r.name for r in collection.runs] == ["z-first", "a-second"]
    assert collection.missing == ["not-yet"] and collection.title == "Sweep demo"
    content = build_report([sweep], tmp_path / "r.md")
    assert "Planned by the sweep but not trained yet: not-yet." in content.notes
    (sweep / "sweep.json").unlink()  # without an index: the run subfolders, sorted
    assert [r.name for r in collect([sweep]).runs] == ["a-second", "z-first"]


def test_damaged_or_partial_runs_do_not_crash(make_run, tmp_path: Path) -> None:
    run = make_run("partial", metrics=[FULL], final_png=False)
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 100, "fid": 1.0, "protoc')  # killed mid-write
    (run / "history.csv").unlink()
    content = build_report([run], tmp_path / "r.html")
    row = rows_by_run(content.table)["partial"]
    assert row["FID"] == "40.12" and row["wall time"] == MISSING and row["img/s"] == MISSING
    assert any("No final sample grid" in note for note in content.notes)


def test_bad_inputs_are_one_line_errors(cli, make_run, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    run = make_run("ok", metrics=[FULL])
    for bad, message in ((tmp_path / "empty", "is not a run folder (no config.yaml) nor a sweep folder"),
                         (tmp_path / "nowhere", "does not exist"), (tmp_path / "file.txt", "is not a folder")):
        code, out, err = cli("compare", run, bad, "--out", tmp_path / "r.html")
        assert code == 2 and out == ""
        assert err.startswith("ganforge: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()
    code, out, _ = cli("compare", run, "--out", tmp_path / "r.html")
    assert code == 0 and out.splitlines()[-1].startswith(f"wrote {tmp_path / 'r.html'}: 1 run; best on digits5k: ok")
    code, _, err = cli("compare", run, "--out", tmp_path / "r.html")
    assert code == 2 and "--overwrite" in err


def test_kid_disagreeing_with_fid_is_said_next_to_the_winner(make_run) -> None:
    a = make_run("a", metrics=[{"step": 100, "fid": 40.0, "kid": 0.05}])
    b = make_run("b", metrics=[{"step": 100, "fid": 50.0, "kid": 0.02}])
    (best,), _ = best_runs(collect([a, b]).runs)
    assert (best.run, best.reason) == ("a", "lowest FID: 40")
    assert best.note == "KID ranks b first (0.02 vs 0.05)"
    agreeing = make_run("c", metrics=[{"step": 100, "fid": 30.0, "kid": 0.01}])
    (best,), _ = best_runs(collect([a, b, agreeing]).runs)
    assert (best.run, best.note) == ("c", "")


def test_training_time_evaluations_make_curves_and_fd_digits_gets_its_column(make_run) -> None:
    # What `ganforge train --eval-every` writes: FID records with their own training seconds.
    during = [{"source": "training", "step": s, "train_seconds": 2.0 * s, "fid": 100.0 - s / 10} for s in (50, 100)]
    a = make_run("a", metrics=during)
    b = make_run("b", metrics=[{"step": 100, "fd_digits": 12.5, "protocol": {"num_fake": 2000}}])
    collection = collect([a, b])
    runs = {run.name: run for run in collection.runs}
    assert runs["a"].curves["fid"] == [(50, 100.0, 95.0), (100, 200.0, 90.0)]
    assert runs["b"].curves["fd_digits"] == [(100, 50.0, 12.5)]  # seconds from history.csv at that step
    best, _ = best_runs(collection.runs)
    table = build_table(collection.runs, best)
    assert table.header[table.header.index("coverage") + 1] == "FD_digits"
    rows = rows_by_run(table)
    assert (rows["a"]["FD_digits"], rows["b"]["FD_digits"]) == (MISSING, "12.50")
    assert [(x.run, x.reason) for x in best] == [("a", "lowest FID: 90")]
    alone, _ = best_runs([runs["b"]])
    assert alone[0].reason.startswith("lowest FD_digits (digit-classifier features, not FID")
