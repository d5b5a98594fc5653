"""The one hub resolver: local folders as they are, hub ids through huggingface_hub, errors that name the id."""

import pytest

from layoutlmv2 import LayoutLMv2ImageProcessor, LayoutLMv2TokenizerFast
from layoutlmv2.hub import pop_hub_kwargs, resolve_file, resolve_folder


def test_a_local_folder_is_used_as_it_is(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    assert resolve_folder(tmp_path, ("vocab.txt",)) == tmp_path
    assert resolve_file(tmp_path, "vocab.txt") == tmp_path / "vocab.txt"
    assert resolve_file(tmp_path, "tokenizer.json", required=False) is None


def test_an_uncached_hub_id_offline_is_one_error_naming_the_id_the_revision_and_the_files(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"'someone/no-such-model' \(revision v2\) has none of vocab.txt, "
                                                r"tokenizer.json"):
        resolve_folder("someone/no-such-model", ("vocab.txt", "tokenizer.json"), revision="v2",
                       cache_dir=tmp_path, local_files_only=True)


@pytest.mark.parametrize("loader", [LayoutLMv2TokenizerFast, LayoutLMv2ImageProcessor])
def test_preprocessing_loaders_pass_revision_and_token_to_the_resolver(loader, monkeypatch, tmp_path):
    seen = {}

    def fake_resolve_file(path_or_id, filename, **kwargs):
        seen.update(kwargs)
        return None

    monkeypatch.setattr("layoutlmv2.hub.resolve_file", fake_resolve_file)
    with pytest.raises(FileNotFoundError, match="'org/model' \\(revision abc\\)"):
        loader.from_pretrained("org/model", revision="abc", token="t0k", cache_dir=tmp_path)
    assert seen["revision"] == "abc" and seen["token"] == "t0k" and seen["cache_dir"] == tmp_path


def test_pop_hub_kwargs_leaves_the_class_arguments():
    kwargs = {"revision": "r", "do_lower_case": False}
    assert pop_hub_kwargs(kwargs) == {"revision": "r"} and kwargs == {"do_lower_case": False}
