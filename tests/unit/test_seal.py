"""Archive seals (infra/seal.py): Ed25519 over a statement's RFC 8785 form, keys by key id
from the environment or a file, rotation, and messages that never carry key material."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import seal
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STATEMENT = {"case_id": "JN-2026-000001", "digest": "ab" * 32, "key_id": "k2026"}


def config(tmp_path: Path, **values: Any) -> Settings:
    """Settings from these values: the environment holds no key (the fixture below), and
    DATA_DIR no key file of make run's."""
    return Settings(data_dir=tmp_path / "data", **values)


@pytest.fixture(autouse=True)
def no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ARCHIVE_SIGNING_KEY",
        "ARCHIVE_SIGNING_KEY_FILE",
        "ARCHIVE_VERIFY_KEYS",
        "ARCHIVE_VERIFY_KEYS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_a_signed_statement_verifies_and_any_change_does_not() -> None:
    key = seal.parse_signing_key(seal.new_key_text("k2026"), "test")
    signature = key.sign(STATEMENT)
    keys = seal.parse_verify_keys(key.public_text(), "test")
    assert seal.check(keys, STATEMENT, signature) is None
    # Key order does not matter (RFC 8785), content does.
    assert seal.check(keys, dict(reversed(STATEMENT.items())), signature) is None
    forged = {**STATEMENT, "digest": "cd" * 32}
    assert seal.check(keys, forged, signature) == (
        "the signature does not match the statement (key id k2026)"
    )
    assert "does not match" in (seal.check(keys, STATEMENT, "not base64!") or "")
    # Signed by another key under the same key id: does not match either.
    other = seal.parse_signing_key(seal.new_key_text("k2026"), "test")
    assert "does not match" in (seal.check(keys, STATEMENT, other.sign(STATEMENT)) or "")


def test_an_unknown_key_id_is_named_with_the_known_ones() -> None:
    key = seal.parse_signing_key(seal.new_key_text("k2026"), "test")
    keys = seal.parse_verify_keys(key.public_text(), "test")
    statement = {**STATEMENT, "key_id": "forger"}
    assert seal.check(keys, statement, key.sign(statement)) == (
        "unknown key id 'forger' (verification keys: k2026)"
    )


def test_after_a_rotation_the_old_key_id_still_verifies(tmp_path: Path) -> None:
    old = seal.parse_signing_key(seal.new_key_text("k2026"), "test")
    new_text = seal.new_key_text("k2027")
    keyfile = tmp_path / "verify-keys"
    keyfile.write_text(f"# published keys\n{old.public_text()}\n", encoding="utf-8")
    # The workers sign with the new key; the old one is among the verification keys.
    keys = seal.verify_keys(
        config(tmp_path, archive_signing_key=new_text, archive_verify_keys_file=keyfile)
    )
    assert sorted(keys) == ["k2026", "k2027"]
    old_statement = {**STATEMENT, "key_id": "k2026"}
    new = seal.parse_signing_key(new_text, "test")
    new_statement = {**STATEMENT, "key_id": "k2027"}
    assert seal.check(keys, old_statement, old.sign(old_statement)) is None
    assert seal.check(keys, new_statement, new.sign(new_statement)) is None
    # Entries separated by commas or spaces work as well as lines.
    both = f"{old.public_text()}, {new.public_text()}"
    assert sorted(seal.parse_verify_keys(both, "test")) == ["k2026", "k2027"]


def test_the_signing_key_comes_from_the_variable_the_file_or_make_runs_file(
    tmp_path: Path,
) -> None:
    text = seal.new_key_text("from-env")
    assert seal.signing_key(config(tmp_path)) is None  # none configured, no dev file
    assert (key := seal.signing_key(config(tmp_path, archive_signing_key=text)))
    assert key.key_id == "from-env"
    keyfile = tmp_path / "signing-key"
    keyfile.write_text(seal.new_key_text("from-file") + "\n", encoding="utf-8")
    assert (key := seal.signing_key(config(tmp_path, archive_signing_key_file=keyfile)))
    assert key.key_id == "from-file"
    dev = tmp_path / "data" / seal.DEV_KEY_FILE
    dev.parent.mkdir()
    dev.write_text(seal.new_key_text("dev-1"), encoding="utf-8")
    assert (key := seal.signing_key(config(tmp_path))) and key.key_id == "dev-1"
    # The variable wins over the file, the file over make run's.
    both = config(tmp_path, archive_signing_key=text, archive_signing_key_file=keyfile)
    assert (key := seal.signing_key(both)) and key.key_id == "from-env"
    # An empty variable (compose's `${X:-}`) is no key.
    assert (key := seal.signing_key(config(tmp_path, archive_signing_key=""))) is not None
    assert key.key_id == "dev-1"


@pytest.mark.parametrize(
    "bad",
    [
        "k2026",  # no key
        "k2026:" + "A" * 43,  # not base64 of 32 bytes
        "k2026:c2hvcnQ=",  # 5 bytes
        "bad id:" + seal.new_key_text("x").split(":")[1],
        seal.new_key_text("x").split(":")[1],  # the key alone, no id
    ],
)
def test_a_malformed_key_is_refused_without_echoing_it(tmp_path: Path, bad: str) -> None:
    with pytest.raises(seal.KeyProblem) as refused:
        seal.signing_key(config(tmp_path, archive_signing_key=bad))
    message = str(refused.value)
    assert message.startswith("ARCHIVE_SIGNING_KEY: an entry")
    assert "<key id>:<base64 of a 32-byte Ed25519 key>" in message
    material = bad.partition(":")[2] or bad
    assert material not in message
    with pytest.raises(seal.KeyProblem, match="ARCHIVE_VERIFY_KEYS: an entry"):
        seal.verify_keys(config(tmp_path, archive_verify_keys=bad))


def test_missing_or_conflicting_verification_keys_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(seal.KeyProblem, match="no archive verification key: set ARCHIVE_VERIFY"):
        seal.verify_keys(config(tmp_path))
    missing = tmp_path / "nowhere"
    with pytest.raises(seal.KeyProblem, match=f"ARCHIVE_SIGNING_KEY_FILE {missing}: No such"):
        seal.signing_key(config(tmp_path, archive_signing_key_file=missing))
    signing = seal.new_key_text("k2026")
    other = seal.parse_signing_key(seal.new_key_text("k2026"), "test").public_text()
    with pytest.raises(seal.KeyProblem, match="key id k2026: the verification key configured"):
        seal.verify_keys(config(tmp_path, archive_signing_key=signing, archive_verify_keys=other))
    # A worker with its signing key verifies with the key's public half, nothing else needed.
    own = seal.verify_keys(config(tmp_path, archive_signing_key=signing))
    assert list(own) == ["k2026"]


def test_keys_never_show_in_settings_or_key_reprs(tmp_path: Path) -> None:
    text = seal.new_key_text("k2026")
    material = text.split(":")[1]
    settings = config(tmp_path, archive_signing_key=text)
    key = seal.signing_key(settings)
    assert key is not None
    for shown in (repr(settings), str(settings), repr(key), str(key)):
        assert material not in shown
    assert material not in settings.model_dump_json()
    assert material not in key.public_text()


def test_a_new_key_needs_a_proper_key_id() -> None:
    with pytest.raises(seal.KeyProblem, match="key id 'a b' is not valid"):
        seal.new_key_text("a b")
    assert seal.new_key_text("jn-archive.2026_1").startswith("jn-archive.2026_1:")


def run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_new_key_writes_the_private_key_owner_only_and_prints_the_public_one(
    tmp_path: Path,
) -> None:
    keyfile = tmp_path / "archive-signing-key"
    made = run(
        dict(os.environ),
        str(BIN / "appraisal"),
        "archive",
        "new-key",
        "jn-2026",
        "-o",
        str(keyfile),
    )
    assert made.returncode == 0, made.stderr
    assert keyfile.stat().st_mode & 0o077 == 0
    key = seal.parse_signing_key(keyfile.read_text(encoding="utf-8"), "test")
    assert made.stdout == key.public_text() + "\n"  # the public key only
    assert keyfile.read_text(encoding="utf-8").split(":")[1].strip() not in made.stdout
    again = run(
        dict(os.environ),
        str(BIN / "appraisal"),
        "archive",
        "new-key",
        "jn-2026",
        "-o",
        str(keyfile),
    )
    assert again.returncode == 1 and "cannot create" in again.stderr  # never overwritten
    assert seal.parse_signing_key(keyfile.read_text(encoding="utf-8"), "t").public_text() == (
        key.public_text()
    )


def test_a_worker_with_a_malformed_key_does_not_start_and_does_not_print_it() -> None:
    material = seal.new_key_text("x").split(":")[1][:-4]  # cut short: not 32 bytes
    env = {**os.environ, "ARCHIVE_SIGNING_KEY": f"k2026:{material}", "LOG_JSON": "true"}
    started = run(env, sys.executable, "worker.py")
    assert started.returncode == 1
    assert started.stderr.strip() == (
        "cannot start the worker: ARCHIVE_SIGNING_KEY: an entry (key id k2026) is not "
        "<key id>:<base64 of a 32-byte Ed25519 key>"
    )
    assert material not in started.stderr + started.stdout
