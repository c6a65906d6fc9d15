"""Archive seals: an Ed25519 signature over a statement of what a case's archive was sealed with
(the digest, the event chain's head), by a key PostgreSQL does not hold.

Everything in PostgreSQL, hashes included, can be rewritten by its owner; a signature cannot be
made without the private key, which only the workers hold. Keys are named by a key id, so a
new key can take over while archives signed with an old one still verify (rotation).

Text forms: a signing key `<key id>:<base64 of the 32-byte raw private key>`, a verification
key `<key id>:<base64 of the 32-byte raw public key>`. Messages name a key id or a variable,
never key material."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from infra.settings import Settings

KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEV_KEY_FILE = "archive-signing-key"  # in DATA_DIR: `make run` makes one

Keyring = dict[str, Ed25519PublicKey]  # verification keys by key id


class KeyProblem(ValueError):
    """A key that cannot be used, or none where one is needed; says which and where."""


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey = field(repr=False)

    def sign(self, statement: dict[str, Any]) -> str:
        """The base64 signature over the statement's RFC 8785 form."""
        return base64.b64encode(self.private.sign(rfc8785.dumps(statement))).decode()

    def public_text(self) -> str:
        """`<key id>:<base64 public key>`: what verifiers set in ARCHIVE_VERIFY_KEYS."""
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{self.key_id}:{base64.b64encode(raw).decode()}"


def new_key_text(key_id: str) -> str:
    """A fresh signing key in its text form."""
    if not KEY_ID.fullmatch(key_id):
        raise KeyProblem(f"key id {key_id!r} is not valid (letters, digits, . _ -, up to 64)")
    raw = Ed25519PrivateKey.generate().private_bytes_raw()
    return f"{key_id}:{base64.b64encode(raw).decode()}"


def _split(entry: str, source: str) -> tuple[str, bytes]:
    key_id, sep, encoded = entry.strip().partition(":")
    try:
        raw = base64.b64decode(encoded.strip(), validate=True) if sep else b""
    except binascii.Error:
        raw = b""
    if not KEY_ID.fullmatch(key_id) or len(raw) != 32:
        # The key id only when it looks like one: a malformed entry may be key material.
        named = f" (key id {key_id})" if sep and KEY_ID.fullmatch(key_id) else ""
        raise KeyProblem(
            f"{source}: an entry{named} is not <key id>:<base64 of a 32-byte Ed25519 key>"
        )
    return key_id, raw


def parse_signing_key(text: str, source: str) -> SigningKey:
    key_id, raw = _split(text, source)
    return SigningKey(key_id, Ed25519PrivateKey.from_private_bytes(raw))


def parse_verify_keys(text: str, source: str) -> Keyring:
    """Entries separated by commas, spaces or lines; `#` starts a comment line."""
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    entries = [e for line in lines for e in re.split(r"[,\s]+", line) if e]
    keys: Keyring = {}
    for entry in entries:
        key_id, raw = _split(entry, source)
        keys[key_id] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def _read(path: Path, variable: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise KeyProblem(f"{variable} {path}: {error.strerror}") from None


def signing_key(config: Settings) -> SigningKey | None:
    """ARCHIVE_SIGNING_KEY, else the file ARCHIVE_SIGNING_KEY_FILE, else make run's file in
    DATA_DIR if there is one; None when there is none."""
    if config.archive_signing_key is not None and config.archive_signing_key.get_secret_value():
        return parse_signing_key(
            config.archive_signing_key.get_secret_value(), "ARCHIVE_SIGNING_KEY"
        )
    if config.archive_signing_key_file is not None:
        text = _read(config.archive_signing_key_file, "ARCHIVE_SIGNING_KEY_FILE")
        return parse_signing_key(
            text, f"ARCHIVE_SIGNING_KEY_FILE {config.archive_signing_key_file}"
        )
    dev = config.data_dir / DEV_KEY_FILE
    if dev.is_file():
        return parse_signing_key(_read(dev, "the key file"), f"the key file {dev}")
    return None


def verify_keys(config: Settings) -> Keyring:
    """ARCHIVE_VERIFY_KEYS and ARCHIVE_VERIFY_KEYS_FILE, and the signing key's own public key
    where this process has it. Refused when there is none at all."""
    keys: Keyring = {}
    if config.archive_verify_keys:
        keys |= parse_verify_keys(config.archive_verify_keys, "ARCHIVE_VERIFY_KEYS")
    if config.archive_verify_keys_file is not None:
        text = _read(config.archive_verify_keys_file, "ARCHIVE_VERIFY_KEYS_FILE")
        keys |= parse_verify_keys(
            text, f"ARCHIVE_VERIFY_KEYS_FILE {config.archive_verify_keys_file}"
        )
    if (own := signing_key(config)) is not None:
        public = own.private.public_key()
        if own.key_id in keys and keys[own.key_id] != public:
            raise KeyProblem(
                f"key id {own.key_id}: the verification key configured differs from the "
                "signing key's"
            )
        keys[own.key_id] = public
    if not keys:
        raise KeyProblem(
            "no archive verification key: set ARCHIVE_VERIFY_KEYS (or ARCHIVE_VERIFY_KEYS_FILE) "
            "to the published <key id>:<base64 public key> entries"
        )
    return keys


def check(keys: Keyring, statement: dict[str, Any], signature: str) -> str | None:
    """Why the signature does not sign the statement, or None when it does."""
    key_id = statement.get("key_id")
    public = keys.get(key_id) if isinstance(key_id, str) else None
    if public is None:
        known = ", ".join(sorted(keys)) or "none"
        return f"unknown key id {key_id!r} (verification keys: {known})"
    try:
        public.verify(base64.b64decode(signature, validate=True), rfc8785.dumps(statement))
    except (InvalidSignature, binascii.Error, ValueError):
        return f"the signature does not match the statement (key id {key_id})"
    return None
