"""Find a checkpoint file in a local folder or, for a hub id, through huggingface_hub's cache.

huggingface_hub does the work (cache layout, revisions, `HF_HUB_OFFLINE`); this module only
decides between a local folder and a hub id, and turns "not found" into one clear error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union


def resolve_file(
    path_or_id: Union[str, os.PathLike],
    filename: str,
    *,
    revision: Optional[str] = None,
    cache_dir: Optional[Union[str, os.PathLike]] = None,
    local_files_only: bool = False,
    token: Optional[str] = None,
    required: bool = True,
) -> Optional[Path]:
    """Path of `filename` inside a local folder or a hub repository (downloaded or cached).

    Returns None when `required` is False and the file does not exist.
    """
    folder = Path(path_or_id)
    if folder.is_dir():
        candidate = folder / filename
        if candidate.is_file():
            return candidate
        if required:
            raise FileNotFoundError(f"{candidate} not found")
        return None
    if os.path.isabs(str(path_or_id)) or str(path_or_id).startswith((".", "~")) or str(path_or_id).count("/") > 1:
        raise FileNotFoundError(f"{path_or_id} is neither a local folder nor a hub id such as 'microsoft/layoutlmv2-base-uncased'")

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError,
    )

    try:
        return Path(
            hf_hub_download(
                str(path_or_id), filename, revision=revision, cache_dir=cache_dir,
                local_files_only=local_files_only, token=token,
            )
        )
    except (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as err:
        if not required:
            return None
        raise FileNotFoundError(
            f"could not find {filename} for {path_or_id!r} (revision {revision or 'main'}) locally or on the hub: {err}"
        ) from err


def resolve_folder(
    path_or_id: Union[str, os.PathLike],
    filenames: Sequence[str],
    *,
    revision: Optional[str] = None,
    cache_dir: Optional[Union[str, os.PathLike]] = None,
    local_files_only: bool = False,
    token: Optional[str] = None,
) -> Path:
    """A local folder as it is, or the cached snapshot folder of a hub id holding any of `filenames`.

    For a hub id each file is fetched (or read from the cache) with `resolve_file`, so revision,
    token and offline mode apply; a file the repository lacks is skipped, and an id that has none
    of them is one FileNotFoundError naming the id, the revision and the files.
    """
    folder = Path(path_or_id)
    if folder.is_dir():
        return folder
    found = None
    for name in filenames:
        path = resolve_file(path_or_id, name, revision=revision, cache_dir=cache_dir,
                            local_files_only=local_files_only, token=token, required=False)
        found = found or (path.parent if path is not None else None)
    if found is None:
        raise FileNotFoundError(f"{str(path_or_id)!r} (revision {revision or 'main'}) has none of "
                                f"{', '.join(filenames)}, locally or on the hub")
    return found


HUB_ARGUMENTS = ("revision", "cache_dir", "local_files_only", "token")


def pop_hub_kwargs(kwargs: dict) -> dict:
    """Take the hub arguments out of a `from_pretrained(**kwargs)` (the rest are the class's own)."""
    return {name: kwargs.pop(name) for name in HUB_ARGUMENTS if name in kwargs}
