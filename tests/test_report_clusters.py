"""Cluster maps join the HTML report: `embedscope cluster --run-dir` then `embedscope report`."""

from __future__ import annotations

import html as html_lib
import json
import re
import subprocess
import sys

from embedscope.report.html import decode_view


def embedscope(*args):
    result = subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def test_cluster_map_in_report(tmp_path, scifact_dir):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    embedscope("run", "--data", str(scifact_dir), "-m", "tokenlearn", "-m", "bm25", "--max-queries", "20",
               "--max-docs", "300", "-o", str(out), "--cache", str(cache), "-q")
    (run_dir,) = list(out.iterdir())
    embedscope("cluster", "--data", str(scifact_dir), "-m", "tokenlearn", "--clusters", "3..5", "--max-queries", "20",
               "--max-docs", "300", "--run-dir", str(run_dir), "--cache", str(cache))
    data = json.loads((run_dir / "clusters" / "tokenlearn-static-64d.json").read_text())
    assert len(data["documents"]) == 300 and len(data["queries"]) == 20
    report = json.loads((run_dir / "clusters" / "tokenlearn-static-64d_report.json").read_text())
    assert report["clusters"] in (3, 4, 5) and "ndcg@10_by_cluster" in report
    embedscope("report", str(run_dir))
    html = (run_dir / "report.html").read_text()
    encoding, block = re.search(r'id="embedscope-data" data-encoding="([^"]+)">([^<]*)</script>', html).groups()
    (cmap,) = decode_view(encoding, block)["clusters"]
    assert len(cmap["docs"]["d"]) == 300 and len(cmap["queries"]["id"]) == 20
    assert {c["cluster"] for c in cmap["by_cluster"]} == {int(c) for c in report["ndcg@10_by_cluster"]}
    # the page draws the map itself (SVG); its policy still forbids any network load
    policy = html_lib.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in policy and "http" not in policy
