"""`embedscope show --width N`: each hit shows its title then its text, up to N characters, not a fixed ~70."""

from __future__ import annotations

import dataclasses

from click.testing import CliRunner

from embedscope.cli import cli


def test_show_width_shows_more_of_each_hit(tmp_path):
    from conftest import make_synthetic, write_beir_folder

    from embedscope.data import Document

    base = make_synthetic(n_docs=40, n_queries=8)
    filler = " ".join(f"padding{i}" for i in range(30))  # ~270 characters before the last word
    corpus = {d: Document(d, f"{doc.text} {filler} lastword", doc.title or "a long title of this document")
              for d, doc in base.corpus.items()}
    folder = write_beir_folder(dataclasses.replace(base, corpus=corpus), tmp_path / "long")
    runner = CliRunner()
    ran = runner.invoke(cli, ["run", "--data", str(folder), "-m", "bm25", "-o", str(tmp_path / "out"),
                              "--cache", str(tmp_path / "cache"), "-q"], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    (run_dir,) = list((tmp_path / "out").iterdir())
    qid = next(iter(base.queries))
    narrow = runner.invoke(cli, ["show", str(run_dir), "--query", qid, "--hits", "3"], catch_exceptions=False)
    wide = runner.invoke(cli, ["show", str(run_dir), "--query", qid, "--hits", "3", "--width", "600"],
                         catch_exceptions=False)
    assert narrow.exit_code == 0 and wide.exit_code == 0, narrow.output + wide.output
    # the title, then the text: the default cuts inside the padding, a wide one reaches the last word
    assert "a long title of this document · " in narrow.output
    assert "lastword" not in narrow.output and "…" in narrow.output
    assert wide.output.count("lastword") == 3
    bad = runner.invoke(cli, ["show", str(run_dir), "--width", "3"])
    assert bad.exit_code != 0
