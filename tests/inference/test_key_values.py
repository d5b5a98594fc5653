"""Key -> value pairs from a token-classification model and a relation-extraction model: the pairs
equal the relation model called directly on the predicted entities, end-to-end scoring by words,
the CLI (predict with --draw, evaluate --entities-from) and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from layoutlmv2 import LayoutLMv2ForRelationExtraction, LayoutLMv2ForTokenClassification
from layoutlmv2.data import FUNSD_LABELS, load_funsd
from layoutlmv2.data.document import Document
from layoutlmv2.errors import LayoutLMv2Error
from layoutlmv2.inference.key_values import end_to_end_relation_scores, set_predicted_entities
from layoutlmv2.inference.pipeline import pipeline, with_pixel_boxes
from layoutlmv2.inference.predictor import pixel_box
from layoutlmv2.tasks.definitions import RelationExtractionTask
from layoutlmv2.tasks.windows import TEXT_KEYS

from cli_helpers import error_lines, run_cli
from small_models import save_tiny

pytestmark = pytest.mark.usefixtures("one_thread")

FUNSD_PAGE = "82092117"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("models")
    token = save_tiny(folder / "token", LayoutLMv2ForTokenClassification, "token-classification", FUNSD_LABELS)
    relation = save_tiny(folder / "relation", LayoutLMv2ForRelationExtraction, "relation-extraction")
    return token, relation


@pytest.fixture(scope="module")
def page(funsd_dir, tmp_path_factory):
    """A real FUNSD page, its annotated words in a words JSON (page pixels)."""
    annotation = json.loads((funsd_dir / "testing_data" / "annotations" / f"{FUNSD_PAGE}.json").read_text())
    words = [w for entity in annotation["form"] for w in entity["words"] if w["text"].strip()]
    words_json = tmp_path_factory.mktemp("words") / "words.json"
    words_json.write_text(json.dumps({"words": [w["text"] for w in words], "boxes": [w["box"] for w in words]}))
    return funsd_dir / "testing_data" / "images" / f"{FUNSD_PAGE}.png", words_json


def union(boxes):
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def test_pairs_equal_the_relation_model_on_the_predicted_entities(models, page):
    token, relation = models
    image, words_json = page
    (record,) = pipeline("key-value-pairs", model=relation, entities_from=token).predictor.predict_files(
        [image], words_json)[0]
    entities = record["entities"]
    keys = [e for e in entities if e["type"] == "QUESTION"]
    values = [e for e in entities if e["type"] == "ANSWER"]
    assert keys and values, "the random token model should tag some questions and answers on a real page"

    # the relation model called directly, on one window holding the question and answer entities
    linkable = [e for e in entities if e["type"] in ("HEADER", "QUESTION", "ANSWER")]
    document = Document(id="page", words=record["words"], boxes=record["boxes"], page_size=tuple(record["size"]),
                        image_path=str(image))
    set_predicted_entities(document, entities)
    task = RelationExtractionTask()
    model = LayoutLMv2ForRelationExtraction.from_pretrained(relation).eval()
    pipe_processor = pipeline(model=relation, entities_from=token).predictor.processor
    encoded = task.encode([document], pipe_processor.tokenizer, pipe_processor.image_processor, 512, 128)
    expected = {}
    for window in encoded.windows:
        batch = {k: torch.as_tensor(getattr(window, k))[None] for k in TEXT_KEYS}
        batch["image"] = torch.as_tensor(encoded.pages[window.doc_index])[None]
        with torch.no_grad():
            out = model(**batch, entities=[window.targets["entities"]], relations=[window.targets["relations"]])
        probs = out.pair_logits[0].softmax(-1)[:, 1]
        ids = window.targets["entity_ids"]
        for h, t, p in zip(out.candidates[0]["head"], out.candidates[0]["tail"], probs.tolist()):
            expected.setdefault((ids[h], ids[t]), []).append(p)
    linked = {pair: sum(p) / len(p) for pair, p in expected.items() if sum(p) / len(p) > 0.5}
    assert len(expected) == len(keys) * len(values)  # every question-answer candidate was scored
    found = {(p["head"], p["tail"]): p["score"] for p in record["pairs"]}
    assert found.keys() == linked.keys()
    for pair, score in found.items():
        assert score == pytest.approx(linked[pair], abs=1e-5)

    for pair in record["pairs"]:
        key, value = linkable[pair["head"]], linkable[pair["tail"]]
        assert key["type"] == "QUESTION" and value["type"] == "ANSWER"
        assert pair["key"]["words"] == key["words"] and pair["value"]["words"] == value["words"]
        assert pair["key"]["text"] == " ".join(record["words"][i] for i in key["words"])
        assert pair["key"]["box"] == union([record["boxes"][i] for i in key["words"]])
        assert pair["value"]["box"] == union([record["boxes"][i] for i in value["words"]])
    width, height = record["size"]
    for pair in with_pixel_boxes(record)["pairs"]:  # what the pipeline's results carry
        assert pair["value"]["box_pixels"] == pixel_box(pair["value"]["box"], width, height)


def test_end_to_end_score_counts_a_pair_only_when_both_entities_match_by_words():
    def doc(entities, links=()):
        return Document(id="d", words=[f"w{i}" for i in range(8)], boxes=[[0, 0, 1, 1]] * 8,
                        extra={"entities": entities, "links": list(links)})

    gold = doc([{"id": 10, "label": "question", "words": [0, 1]}, {"id": 11, "label": "answer", "words": [2]},
                {"id": 12, "label": "question", "words": [3]}, {"id": 13, "label": "answer", "words": [4, 5]}],
               links=[(10, 11), (13, 12)])  # the second link is written answer -> question
    predicted = doc([{"id": 0, "label": "question", "words": [0, 1]}, {"id": 1, "label": "answer", "words": [2]},
                     {"id": 2, "label": "question", "words": [3]}, {"id": 3, "label": "answer", "words": [4]}])
    # right: (0,1)-(2); wrong: (3)-(4), the value lost word 5
    scores = end_to_end_relation_scores([gold], [predicted], [{"pairs": [{"head": 0, "tail": 1},
                                                                          {"head": 2, "tail": 3}]}])
    assert (scores["relation_tp"], scores["relation_fp"], scores["relation_fn"]) == (1, 1, 1)
    assert scores["relation_f1"] == pytest.approx(0.5)


def test_predict_writes_pairs_and_draws_arrows(models, page, tmp_path):
    token, relation = models
    image, words_json = page
    out = tmp_path / "out"
    run = run_cli(["--threads", "1", "predict", "--model", relation, "--entities-from", token, image,
                   "--words-json", words_json, "--draw", "--output", out])
    assert run.code == 0, run.err
    record = json.loads((out / f"{FUNSD_PAGE}-p1.json").read_text())
    assert record["task"] == "relation-extraction" and "pairs" in record and record["entities"]
    with Image.open(image) as original, Image.open(out / f"{FUNSD_PAGE}-p1.png") as drawn:
        assert drawn.size == original.size


def test_draw_pairs_boxes_the_key_and_the_value_and_points_from_one_to_the_other():
    from layoutlmv2.inference.drawing import ARROW_COLOUR, KEY_COLOUR, VALUE_COLOUR, draw_pairs

    page = Image.new("RGB", (400, 100), "white")
    drawn = draw_pairs(page, [([100, 40, 160, 60], [300, 40, 360, 60])])
    assert drawn.getpixel((130, 40)) == KEY_COLOUR  # the key box's top edge
    assert drawn.getpixel((330, 60)) == VALUE_COLOUR  # the value box's bottom edge
    assert drawn.getpixel((230, 50)) == ARROW_COLOUR  # half way from the key's right edge to the value's left
    assert drawn.getpixel((230, 20)) == (255, 255, 255) and page.getpixel((130, 40)) == (255, 255, 255)


def test_a_relation_model_needs_entities_and_a_token_model_refuses_them(models, page):
    token, relation = models
    image, words_json = page
    with pytest.raises(LayoutLMv2Error, match="relation-extraction model: give entities_from"):
        pipeline(model=relation)
    with pytest.raises(LayoutLMv2Error, match="is for relation-extraction models"):
        pipeline(model=token, entities_from=token)
    with pytest.raises(LayoutLMv2Error, match="a token-classification model is needed"):
        pipeline(model=relation, entities_from=relation)
    run = run_cli(["--threads", "1", "predict", "--model", relation, image, "--words-json", words_json])
    assert run.code != 0 and any("--entities-from" in line for line in error_lines(run.err)), run.err


def test_evaluate_end_to_end_scores_every_gold_link(models, funsd_dir, tmp_path):
    token, relation = models
    scores_file = tmp_path / "scores.json"
    run = run_cli(["--threads", "1", "evaluate", "--model", relation, "--entities-from", token, "--dataset", "funsd",
                   "--data-dir", funsd_dir, "--limit", "2", "--output", scores_file])
    assert run.code == 0, run.err
    scores = json.loads(scores_file.read_text())
    assert scores["entities"] == "predicted" and scores["documents"] == 2
    # every gold question -> answer link of the two pages is counted (found or missed), from the annotation
    gold_links = 0
    for document in load_funsd(funsd_dir, "test")[:2]:
        label = {e["id"]: e["label"] for e in document.extra["entities"] if e["words"]}
        gold_links += len({tuple(sorted((a, b), key=lambda i: label[i] != "question"))
                           for a, b in document.extra["links"] if a in label and b in label
                           and {label[a], label[b]} == {"question", "answer"}})
    assert scores["relation_tp"] + scores["relation_fn"] == gold_links > 0
    assert 0.0 <= scores["entity_model"]["entity_f1"] <= 1.0
