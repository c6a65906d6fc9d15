"""Settings from environment variables; defaults match `make run`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    # Production: mutual TLS to the Temporal frontend (README, "Who may act"). Each process
    # (worker, gateway, an operator's CLI) presents its own client certificate; the server's
    # authorizer maps the certificate's subject to what it may do. Unset: plain gRPC (dev).
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None  # the CA that signed the server's certificate
    temporal_tls_server_name: str | None = None
    # Production: a JWT the server's authorizer reads (its `permissions` claim, e.g.
    # "default:writer"), from the identity provider; sent as the gRPC bearer token.
    temporal_api_key: str | None = Field(default=None, repr=False)
    task_queue: str = "appraisal"
    # What a worker process serves: `all` (the case queue and its letters queue, `<task
    # queue>-letters`), `cases` or `letters` (to run letters workers apart and scale them).
    worker_queues: Literal["all", "cases", "letters"] = "all"
    letter_processes: int = Field(default=2, ge=1)  # per worker: letters rendering at once
    # Open cases a worker keeps in memory (the SDK's default); past it the least recently used
    # is evicted and replayed when it next moves, so a worker's memory is bounded by it.
    max_cached_workflows: int = 1000
    database_url: str | None = Field(
        default=None, description="PostgreSQL DSN; unset means an embedded server under DATA_DIR"
    )
    postal_url: str = "http://127.0.0.1:8099"
    temporal_ui_port: int = 8233  # make run's Web UI
    policy_file: Path = ROOT / "config" / "deadline_policy.toml"
    sessions_file: Path = ROOT / "config" / "sessions.toml"
    # The expert pool's evaluation policy (`appraisal stats`, `experts show`): not captured
    # by cases, so not part of policy_file.
    pool_policy_file: Path = ROOT / "config" / "pool_policy.toml"
    holiday_schedule_dir: Path = ROOT / "config" / "holidays"
    data_dir: Path = ROOT / ".data"
    # Keys the hash that stands for a worker's citizen ID in PostgreSQL (duplicate detection
    # without storing the number in plain text). Production sets its own secret.
    worker_ref_key: str = "dev-only-worker-ref-key"
    case_prefix: str = "JN"
    # Printed on the conclusion letter: this committee, and where a re-appraisal is applied for.
    committee_name: str = "济宁市劳动能力鉴定委员会"
    provincial_committee_name: str = "山东省劳动能力鉴定委员会"
    # Where the committee publishes a public notice (公告送达) of an undeliverable letter.
    public_notice_place: str = "济宁市劳动能力鉴定委员会公告栏及济宁市人力资源和社会保障局网站"
    log_json: bool | None = None  # None: JSON unless stderr is a terminal
    # The HTTP gateway (`appraisal gateway`). The courier signs its webhooks with this secret
    # (shared with it out of band; `make run` keeps one in DATA_DIR); unset: webhooks refused.
    gateway_port: int = 8000
    postal_webhook_secret: str | None = Field(default=None, repr=False)
    # While the courier moves to a new secret: webhooks signed with the old one still pass.
    postal_webhook_previous_secret: str | None = Field(default=None, repr=False)
    gateway_max_body_bytes: int = 64 * 1024
    # Archive seals (infra/seal.py). The workers sign with `<key id>:<base64 Ed25519 private
    # key>`: the variable wins over the file; unset, DATA_DIR/archive-signing-key if there
    # (make run makes it). Verifiers need only the public keys: `<key id>:<base64>` entries,
    # old key ids kept after a rotation.
    archive_signing_key: SecretStr | None = None
    archive_signing_key_file: Path | None = None
    archive_verify_keys: str | None = None
    archive_verify_keys_file: Path | None = None
    # Payload encryption (infra/codec.py): `id:base64key` entries, the first encrypts. The
    # variable wins over the file; unset, the file in DATA_DIR that `make run` makes.
    payload_keys: str | None = Field(default=None, repr=False)
    payload_keys_file: Path | None = None
    # The codec server (`appraisal codec-server`): the UI and auditors' decoding door.
    codec_server_port: int = 8234
    codec_server_token: str | None = Field(default=None, repr=False)
    # Browser origins allowed to call it (CORS), comma-separated; unset: make run's Web UI.
    codec_server_origins: str | None = None

    @property
    def payload_keys_path(self) -> Path:
        return self.payload_keys_file or self.data_dir / "payload-keys"

    @property
    def codec_origins(self) -> list[str]:
        if self.codec_server_origins:
            return [o.strip() for o in self.codec_server_origins.split(",") if o.strip()]
        port = self.temporal_ui_port
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


@lru_cache
def settings() -> Settings:
    return Settings()
