"""The payload codec: round trip, key rotation, unknown key ids, plain payloads from old
clients passing through, altered ciphertext refused; keys from the environment or a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from infra.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadKeyError,
    PayloadKeys,
    load_keys,
    new_key_line,
)
from infra.settings import Settings
from infra.temporal import data_converter
from schemas.application import AppraisalApplication
from tests.helpers import example_json

OLD, NEW = new_key_line("2025-01"), new_key_line("2026-07")
CITIZEN_ID = "370811198503120438"


def codec(*lines: str) -> EncryptionCodec:
    return EncryptionCodec(PayloadKeys.parse(",".join(lines), "test"))


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_a_payload_round_trips_and_its_bytes_are_not_in_the_ciphertext() -> None:
    original = plain(f"张建军 {CITIZEN_ID}")
    [sealed] = await codec(NEW).encode([original])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"2026-07"
    assert CITIZEN_ID.encode() not in sealed.SerializeToString()
    assert "张建军".encode() not in sealed.SerializeToString()
    assert await codec(NEW).decode([sealed]) == [original]
    # A fresh nonce each time: the same value never gives the same ciphertext.
    [again] = await codec(NEW).encode([original])
    assert again.data != sealed.data


async def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    [before] = await codec(OLD).encode([plain("before rotation")])
    rotated = codec(NEW, OLD)  # the new key first
    [after] = await rotated.encode([plain("after rotation")])
    assert after.metadata[KEY_ID] == b"2026-07"
    assert await rotated.decode([before, after]) == [
        plain("before rotation"),
        plain("after rotation"),
    ]


async def test_an_unknown_key_id_is_named() -> None:
    [sealed] = await codec(OLD).encode([plain("x")])
    with pytest.raises(PayloadKeyError, match="'2025-01', which is not configured"):
        await codec(NEW).decode([sealed])


async def test_plain_payloads_of_old_clients_pass_through() -> None:
    payloads = [plain("from an old client"), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec(NEW).decode(payloads) == payloads


async def test_altered_ciphertext_or_a_relabelled_key_id_is_refused() -> None:
    keys = codec(NEW, new_key_line("other"))
    [sealed] = await keys.encode([plain("x")])
    flipped = Payload(
        metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    with pytest.raises(PayloadKeyError, match="fails authentication"):
        await keys.decode([flipped])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"other"}, data=sealed.data)
    with pytest.raises(PayloadKeyError, match="fails authentication"):
        await keys.decode([relabelled])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no payload key"),
        ("# only a comment\n", "no payload key"),
        ("k1:c2hvcnQ=", "32 random bytes"),
        ("k1:not base64!", "32 random bytes"),
        (f"{NEW},{NEW}", "repeats"),
        ("bad id:" + NEW.split(":")[1], "is not 1-64"),
    ],
)
def test_malformed_keys_are_refused(text: str, why: str) -> None:
    with pytest.raises(PayloadKeyError, match=why):
        PayloadKeys.parse(text, "PAYLOAD_KEYS")


def test_keys_come_from_the_environment_first_then_the_file(tmp_path: Path) -> None:
    path = tmp_path / "payload-keys"
    path.write_text(f"# rotated 2026-07\n{NEW}\n{OLD}  # kept for the archive\n", encoding="utf-8")
    from_file = load_keys(None, path)
    assert list(from_file.keys) == ["2026-07", "2025-01"] and from_file.active == "2026-07"
    assert load_keys(OLD, path).active == "2025-01"
    with pytest.raises(PayloadKeyError, match="no payload keys: set PAYLOAD_KEYS"):
        load_keys(None, tmp_path / "missing")


async def test_the_converter_encrypts_values_and_failure_messages() -> None:
    converter = data_converter(Settings(payload_keys=NEW))
    application = AppraisalApplication.model_validate(example_json("initial_complete"))
    assert application.worker.citizen_id == CITIZEN_ID
    [payload] = await converter.encode([application])
    assert payload.metadata["encoding"] == ENCODING
    assert CITIZEN_ID.encode() not in payload.SerializeToString()
    assert application.worker.name.encode() not in payload.SerializeToString()
    [back] = await converter.decode([payload], [AppraisalApplication])
    assert back == application

    encoded = Failure()
    await converter.encode_failure(ApplicationError(f"身份证 {CITIZEN_ID}", type="X"), encoded)
    assert encoded.message == "Encoded failure" and not encoded.stack_trace
    assert CITIZEN_ID.encode() not in encoded.SerializeToString()
    decoded = await converter.decode_failure(encoded)
    assert CITIZEN_ID in str(decoded)
