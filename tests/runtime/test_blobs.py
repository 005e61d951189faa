"""A run's blobs: stored once by their sha256, read back only while intact."""

from __future__ import annotations

from pathlib import Path

from runtime.blobs import blob_dir, read_blobs, write_blob
from runtime.canonical import tagged_sha256


def test_a_blob_is_named_by_its_hash_and_read_back(tmp_path: Path) -> None:
    folder = blob_dir(tmp_path, "run-1")
    digest = write_blob(folder, "diff --git a/x b/x\n")
    assert digest == tagged_sha256("diff --git a/x b/x\n")
    assert (folder / digest.removeprefix("sha256:")).is_file()
    assert read_blobs(folder, [digest, None]) == {digest: "diff --git a/x b/x\n"}


def test_a_changed_or_misnamed_blob_is_as_good_as_missing(tmp_path: Path) -> None:
    folder = blob_dir(tmp_path, "run-1")
    digest = write_blob(folder, "original\n")
    (folder / digest.removeprefix("sha256:")).write_text("edited\n")
    (tmp_path / "outside").write_text("x")
    assert read_blobs(folder, [digest, "sha256:../../outside", "md5:abc"]) == {}
