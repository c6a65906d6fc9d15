"""Encrypted payloads: what Temporal stores of a case is AES-256-GCM ciphertext.

Every payload (inputs, updates, signals, query answers, activity inputs and results, summaries,
memo, and failure messages once the failure converter moves them into a payload) is encrypted
by the worker, the CLI, the gateway and the codec server with the first (active) payload key;
any configured key decrypts, found by the key id each encrypted payload names. A payload
without our encoding (an old client, histories recorded before encryption) passes through, so
old cases still run and replay. Search attributes are never encrypted (the server indexes
them): they carry no personal data (workflows/search_attributes.py).

Keys: `PAYLOAD_KEYS` or the file `PAYLOAD_KEYS_FILE` (`make run` makes one in DATA_DIR): entries
`<key id>:<base64 of 32 bytes>`, separated by commas or new lines, `#` comments; the first
encrypts. Rotation: put the new key first and keep the old ones for as long as anything
encrypted with them must be read (the archive keeps the history export for 50 years)."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"  # metadata "encoding" of a payload this codec encrypted
KEY_ID = "encryption-key-id"  # metadata naming the key that encrypted it
KEY_ID_FORM = re.compile(r"[A-Za-z0-9._-]{1,64}")
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """Keys that cannot be used: none configured, malformed, or not the one a payload names."""


@dataclass(frozen=True)
class PayloadKeys:
    """The configured keys in order: the first encrypts, any decrypts."""

    keys: dict[str, bytes]

    @property
    def active(self) -> str:
        return next(iter(self.keys))

    @classmethod
    def parse(cls, text: str, source: str) -> PayloadKeys:
        keys: dict[str, bytes] = {}
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        for entry in (part.strip() for line in lines for part in line.split(",")):
            if not entry:
                continue
            key_id, _, encoded = entry.partition(":")
            if not KEY_ID_FORM.fullmatch(key_id) or key_id in keys:
                raise PayloadKeyError(
                    f"{source}: key id {key_id!r} is not 1-64 of A-Z a-z 0-9 . _ - or repeats"
                )
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                key = b""
            if len(key) != 32:
                raise PayloadKeyError(
                    f"{source}: key {key_id!r} must be the base64 of 32 random bytes (AES-256)"
                )
            keys[key_id] = key
        if not keys:
            raise PayloadKeyError(f"{source}: no payload key in it")
        return cls(keys)


def new_key_line(key_id: str) -> str:
    """A fresh key entry for PAYLOAD_KEYS / the keys file (`appraisal payload-key`)."""
    if not KEY_ID_FORM.fullmatch(key_id):
        raise PayloadKeyError(f"key id {key_id!r} is not 1-64 of A-Z a-z 0-9 . _ -")
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def load_keys(keys: str | None, keys_file: Path | None) -> PayloadKeys:
    """`PAYLOAD_KEYS` if set, else the keys file; neither is a configuration error, never a
    silent fall back to plain text."""
    if keys:
        return PayloadKeys.parse(keys, "PAYLOAD_KEYS")
    if keys_file is not None and keys_file.exists():
        return PayloadKeys.parse(keys_file.read_text(encoding="utf-8"), str(keys_file))
    raise PayloadKeyError(
        "no payload keys: set PAYLOAD_KEYS or PAYLOAD_KEYS_FILE (`make run` makes "
        f"{keys_file or 'DATA_DIR/payload-keys'}; `appraisal payload-key` prints a new key)"
    )


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialized payload (its metadata too); the key id is bound
    to the ciphertext as associated data, so relabelling a payload fails like tampering."""

    def __init__(self, keys: PayloadKeys) -> None:
        self._keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id = self._keys.active
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(payload) for payload in payloads]

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # plain: an old client, or a history from before encryption
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(
                f"payload encrypted with key {key_id!r}, which is not configured "
                f"(configured: {', '.join(self._ciphers)}); add it to PAYLOAD_KEYS / "
                "PAYLOAD_KEYS_FILE: old keys stay as long as their payloads are read"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadKeyError(
                f"payload under key {key_id!r} fails authentication: altered, or not ours"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded
