"""The fingerprint cache: an unchanged checkpoint is not re-read, any change to a file still changes the identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hhh_eval import identity
from hhh_eval.fileio import sha256_file

OLD_NS = 1_600_000_000 * 10**9  # timestamps well past the racy window


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Files whose contents were hashed (a cache hit reads none); the cache lives in the test's folder."""
    monkeypatch.setenv(identity.CACHE_DIR_ENV, str(tmp_path / "cache"))
    seen: list[Path] = []

    def counting(path: Path, chunk: int = 1 << 20) -> str:
        seen.append(Path(path))
        return sha256_file(path, chunk)

    monkeypatch.setattr(identity, "sha256_file", counting)
    return seen


def _checkpoint(root: Path) -> Path:
    root.mkdir()
    (root / "config.json").write_text('{"hidden": 32}')
    (root / "model.safetensors").write_bytes(b"\x01" * 4096)
    for f in root.iterdir():
        os.utime(f, ns=(OLD_NS, OLD_NS))
    return root


def _settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let 'now' be far enough after every file's ctime for its hash to be cached."""
    monkeypatch.setattr(identity, "RACY_NS", -10**18)


def test_unchanged_checkpoint_is_not_read_again(tmp_path: Path, reads: list[Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(monkeypatch)
    ckpt = _checkpoint(tmp_path / "ckpt")
    first = identity.fingerprint_dir(ckpt)
    assert len(reads) == 2
    assert identity.fingerprint_dir(ckpt) == first and len(reads) == 2  # served by the cache
    assert list((tmp_path / "cache" / "fingerprints").rglob("*.json"))


def test_any_change_changes_the_identity(tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(monkeypatch)
    ckpt = _checkpoint(tmp_path / "ckpt")
    first = identity.fingerprint_dir(ckpt)
    weights = ckpt / "model.safetensors"
    with open(weights, "r+b") as fh:  # same size, timestamps put back: only ctime tells the change
        fh.write(b"\x02")
    os.utime(weights, ns=(OLD_NS, OLD_NS))
    second = identity.fingerprint_dir(ckpt)
    assert second != first
    weights.unlink()  # replaced by a new file of the old contents: the old identity again
    weights.write_bytes(b"\x01" * 4096)
    os.utime(weights, ns=(OLD_NS, OLD_NS))
    assert identity.fingerprint_dir(ckpt) == first


def test_recently_written_files_are_not_cached(tmp_path: Path, reads: list[Path]) -> None:
    """A write in the same timestamp tick would leave size, mtime and ctime unchanged: such hashes are not kept."""
    ckpt = tmp_path / "fresh"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")  # ctime is now, inside RACY_NS
    identity.fingerprint_dir(ckpt)
    identity.fingerprint_dir(ckpt)
    assert len(reads) == 2
    assert not (tmp_path / "cache" / "fingerprints").exists()


def test_two_files_never_share_an_entry(tmp_path: Path, reads: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Same name, size and timestamps in two folders: different paths and inodes, different hashes."""
    _settle(monkeypatch)
    a, b = _checkpoint(tmp_path / "a"), _checkpoint(tmp_path / "b")
    (b / "config.json").write_text('{"hidden": 64}')
    os.utime(b / "config.json", ns=(OLD_NS, OLD_NS))
    assert identity.fingerprint_dir(a) != identity.fingerprint_dir(b)
    assert identity.fingerprint_dir(a) != identity.fingerprint_dir(b)  # and again from the cache


def test_an_unwritable_cache_only_costs_the_read(tmp_path: Path, reads: list[Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(monkeypatch)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(identity.CACHE_DIR_ENV, str(blocker))
    ckpt = _checkpoint(tmp_path / "ckpt")
    assert identity.fingerprint_dir(ckpt) == identity.fingerprint_dir(ckpt)
    assert len(reads) == 4
