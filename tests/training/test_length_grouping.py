"""``group_by_length``: batches of similar-length windows, still a random permutation of all of them."""

from __future__ import annotations

import pytest
import torch

from layoutlmv2 import LayoutLMv2ForQuestionAnswering
from layoutlmv2.data import load_funsd_qa
from layoutlmv2.tasks.definitions import make_task
from layoutlmv2.training.distributed import shard
from layoutlmv2.training.length_grouping import MEGA_BATCHES, length_grouped_order
from layoutlmv2.training.loop import Trainer, TrainingArguments
from layoutlmv2.training.recipe import build_processor

from small_models import minilm_dir, small_config


def _padded_tokens(order, lengths, batch_size):
    """Tokens a padded batch computes: batch size x its longest window, summed over batches."""
    return sum(len(order[k: k + batch_size]) * max(lengths[i] for i in order[k: k + batch_size])
               for k in range(0, len(order), batch_size))


def test_grouped_order_is_a_permutation_of_similar_length_batches_longest_first():
    lengths = torch.randint(20, 513, (1000,), generator=torch.Generator().manual_seed(0)).tolist()
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(1)).tolist()
    grouped = length_grouped_order(order, lengths, 4, torch.Generator().manual_seed(2))
    assert sorted(grouped) == list(range(1000))
    assert lengths[grouped[0]] == max(lengths)
    assert length_grouped_order(order[:7], lengths, 4, torch.Generator())[4:] == \
        sorted(order[:7], key=lambda i: -lengths[i])[4:]  # the short batch comes last
    # inside a batch, lengths are sorted (descending) within one mega-batch of 50 batches
    for k in range(0, 1000, 4):  # 1000 = 250 whole batches
        batch = [lengths[i] for i in grouped[k: k + 4]]
        assert batch == sorted(batch, reverse=True)
    assert _padded_tokens(grouped, lengths, 4) < 0.75 * _padded_tokens(order, lengths, 4)
    again = length_grouped_order(order, lengths, 4, torch.Generator().manual_seed(2))
    assert grouped == again  # the same generator state gives the same order (resume relies on it)
    other = length_grouped_order(order, lengths, 4, torch.Generator().manual_seed(3))
    assert grouped != other  # batches are shuffled, not in mega-batch order
    assert MEGA_BATCHES == 50


def test_each_rank_gets_whole_similar_length_batches():
    lengths = list(range(100, 301))  # 201 windows: 33 whole batches of 6 and a short one, which stays last
    order = torch.randperm(201, generator=torch.Generator().manual_seed(0)).tolist()
    grouped = length_grouped_order(order, lengths, 2 * 3, torch.Generator().manual_seed(0))  # batch 2, 3 ranks
    shares = [shard(grouped, rank, 3) for rank in range(3)]
    assert sorted({i for share in shares for i in share}) == list(range(201))
    assert len({len(share) for share in shares}) == 1
    for share in shares:
        for k in range(0, len(share) - 1, 2):
            assert abs(lengths[share[k]] - lengths[share[k + 1]]) <= 15  # neighbours in one sorted mega-batch


def test_empty_and_bad_batch_size():
    assert length_grouped_order([], [], 2, torch.Generator()) == []
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        length_grouped_order([0], [5], 0, torch.Generator())


@pytest.mark.data
def test_trainer_order_on_real_qa_windows_pads_much_less(funsd_dir, tmp_path):
    """On the FUNSD-QA training windows (the slowest epoch), the grouped order of the Trainer
    computes at most 85% of the tokens of the plain random order (measured: ~ 0.7)."""
    processor = build_processor(minilm_dir(), image_size=32)
    task = make_task("question-answering", "funsd-qa")
    documents = load_funsd_qa(funsd_dir, "train")[::10]
    encoded = task.encode(documents, processor.tokenizer, processor.image_processor, 512, 128, load_images=False)
    lengths = [len(w.input_ids) for w in encoded.windows]
    orders = {}
    for grouped in (False, True):
        args = TrainingArguments(output_dir=str(tmp_path), batch_size=4, group_by_length=grouped, progress=False)
        orders[grouped] = Trainer(LayoutLMv2ForQuestionAnswering(small_config()), task, args, encoded).epoch_order(0)
    assert sorted(orders[True]) == sorted(orders[False]) == list(range(len(lengths)))
    ratio = _padded_tokens(orders[True], lengths, 4) / _padded_tokens(orders[False], lengths, 4)
    assert ratio < 0.85, ratio

