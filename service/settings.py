"""Service settings, read from ``SIFT_*`` environment variables (and a ``.env`` file).

Bad configuration fails at start-up with a message that names the setting to fix.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.classifier import MODEL_META_FILE
from model.pipeline import RULES_BUDGET_SECONDS
from model.shipped import POLICY_FILE, RELEASE_MODEL_DIR, RULES_DIR, STAFF_ROSTER

_CHECKOUT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """Where sift keeps its database, secret key and models when ``SIFT_DATA_DIR`` is not set: ``var/`` of
    the checkout it runs from, else the user's data folder (``$XDG_DATA_HOME/sift``). Never the current
    directory: ``sift`` run from another folder serves the same model and database."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "service" / "settings.py").is_file():
        return _CHECKOUT / "var"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "sift"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Everything the service can be told. Each field is ``SIFT_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SIFT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir,
                           description="where the embedded database, secret key and models live; a relative path is "
                                       "taken from the folder sift is started in")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    require_api_key: bool | None = Field(
        None, description="None: required unless bound to loopback; false is refused on a non-loopback address")
    rules_dir: Path = RULES_DIR
    org_file: Path | None = None
    staff_roster: Path | None = STAFF_ROSTER
    policy_file: Path = Field(POLICY_FILE, description="the guide as policy (YAML)")
    model_dir: Path | None = Field(None, description="the learnt model to serve; empty means data_dir/models/current "
                                                     "when the data team has promoted one, else the shipped release")
    review_band_low: float = Field(0.35, ge=0.0, le=1.0)
    review_band_high: float = Field(0.65, ge=0.0, le=1.0)
    review_bands: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='per-label review bands overriding the model\'s, as JSON: {"complaint": [0.5, 0.8]}')
    secret_key: str = Field("", description="keys the author hash; empty: generated once into data_dir/secret_key")
    log_level: str = "INFO"
    batch_max: int = Field(32, ge=1, le=256, description="micro-batching: most comments in one model call")
    model_threads: int = Field(0, ge=0, le=64, description="threads for the model in each worker; 0: the cores shared "
                                                         "among the workers (`sift serve --workers N` sets it)")
    model_cache: int = Field(4096, ge=0, le=1_000_000,
                             description="remember the model's scores for this many recent texts (identical comments "
                                         "in a wave are scored once); 0 turns it off")
    batch_wait_ms: float = Field(2.0, ge=0, le=100, description="micro-batching: how long to gather concurrent requests")
    rules_budget_ms: float = Field(RULES_BUDGET_SECONDS * 1000, ge=0, le=60_000,
                                   description="time one comment's rules may take; past it they are cut short and the "
                                               "comment goes to review (0: no limit)")
    retention_days: int = Field(90, ge=1, description="days the text of review items is kept before it is purged")
    model_poll_seconds: float = Field(2.0, ge=0, description="how often to look for a newly promoted model (0: never)")
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=600, description="on SIGTERM, how long requests in flight "
                                                                         "get to finish before they are answered 503")
    # Sign-in, sessions and rate limits (api.ratelimit, service.sessions). A limit is the `limits` library's
    # notation ("5/15 minutes", "100 per second"); empty turns that limit off.
    forwarded_allow_ips: str = Field("127.0.0.1,::1", description="proxies trusted to say the caller's address in "
                                     "X-Forwarded-For (comma-separated addresses or networks); the per-address "
                                     "limits count that address. Empty: trust none. '*' lets any caller choose "
                                     "its own address: only behind a proxy that overwrites the header")
    redis_url: str = Field("", description="redis://host:port/db: rate limits shared by every worker and server; empty: "
                                           "sign-in limits in the database, request limits in each worker's memory")
    classify_key_limit: str = Field("3000/minute", description="requests to /classify, /classify/batch and "
                                    "/v1alpha1/comments:analyze per API key")
    classify_ip_limit: str = Field("6000/minute", description="requests to /classify, /classify/batch, "
                                   "/v1alpha1/comments:analyze, /coral/moderate and the signed webhooks per client address")
    signin_user_limit: str = Field("5/15 minutes", description="sign-in attempts per username; a sign-in that succeeds "
                                                              "starts the count again, so this is the lockout after failures")
    signin_ip_limit: str = Field("20/15 minutes", description="sign-in attempts per client address, whatever the username")
    session_idle_minutes: int = Field(60, ge=1, le=24 * 60, description="a moderator's session ends after this long unused")
    session_max_hours: int = Field(12, ge=1, le=24 * 30, description="a moderator's session ends this long after sign-in")
    # Events out (service.events, api.events): signed webhooks to the subscribers the events file names.
    events_file: Path | None = Field(None, description="the subscribers of events out (YAML, see README \"Events out\"); "
                                                      "empty: no events are written or sent")
    events_attempts: int = Field(18, ge=1, le=100, description="attempts per delivery before it becomes a dead letter "
                                                              "(18 with the default backoff: about a day and a half)")
    events_retry_first_seconds: float = Field(5.0, gt=0, le=3600, description="wait after the first failed attempt; "
                                                                             "doubled after each failure")
    events_retry_max_seconds: float = Field(6 * 3600, gt=0, le=7 * 24 * 3600, description="the longest wait between attempts")
    events_timeout_seconds: float = Field(15.0, gt=0, le=120, description="how long a subscriber has to answer one attempt")
    events_poll_seconds: float = Field(1.0, gt=0, le=60, description="how often each worker looks for events due")
    events_sla_check_seconds: float = Field(60.0, gt=0, le=3600, description="how often open review items' deadlines "
                                                                           "are checked (sla.at_risk, sla.breached)")
    events_sla_warning_minutes: float = Field(30.0, ge=0, le=7 * 24 * 60, description="sla.at_risk fires this long "
                                                                                    "before an item's deadline")
    # The platforms' webhooks (api.routes.webhooks). Each platform's endpoint answers 404, naming its setting,
    # until its secret is set: an unsigned delivery cannot be told from anyone's.
    meta_app_secret: SecretStr = Field(SecretStr(""), description="the Meta app's App Secret (App Dashboard, Settings, "
                                       "Basic): checks X-Hub-Signature-256 on /webhooks/meta")
    meta_verify_token: SecretStr = Field(SecretStr(""), description="the Verify Token typed into the App Dashboard's "
                                         "Webhooks product: answers Meta's GET verification of /webhooks/meta")
    x_consumer_secret: SecretStr = Field(SecretStr(""), description="the X app's API Key Secret (consumer secret): answers "
                                         "the CRC and checks x-twitter-webhooks-signature on /webhooks/x")
    youtube_poll_source: str = Field("", description="a file or an http(s) URL holding a commentThreads.list answer, "
                                     "read every youtube_poll_seconds; empty: no polling")
    youtube_poll_seconds: float = Field(300.0, ge=1, le=86_400, description="how often to read youtube_poll_source")

    @field_validator("review_bands")
    @classmethod
    def _bands(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        from model.labels import TARGETS

        for label, (low, high) in value.items():
            if label not in TARGETS:
                raise ValueError(f"SIFT_REVIEW_BANDS names {label!r}; labels and flags are {list(TARGETS)}")
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"SIFT_REVIEW_BANDS[{label!r}] must be [low, high] with 0 <= low <= high <= 1")
        return value

    @field_validator("data_dir", "rules_dir", "org_file", "staff_roster", "policy_file", "model_dir", "events_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        """A relative path is resolved once, against the folder sift was started in, and never again."""
        return value.expanduser().absolute() if value is not None else None

    @field_validator("classify_key_limit", "classify_ip_limit", "signin_user_limit", "signin_ip_limit")
    @classmethod
    def _limit(cls, value: str, info: ValidationInfo) -> str:
        from limits import parse

        if value.strip():
            try:
                parse(value)
            except ValueError:
                raise ValueError(f"SIFT_{(info.field_name or '').upper()} must be like '5/15 minutes' or '100 per second' "
                                 "(empty: no limit)") from None
        return value.strip()

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "redis+unix://")):
            raise ValueError("SIFT_REDIS_URL must start with redis://, rediss:// or redis+unix:// (empty: no Redis)")
        return value

    @field_validator("youtube_poll_source")
    @classmethod
    def _poll_source(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")) and not Path(value).expanduser().is_file():
            raise ValueError(f"SIFT_YOUTUBE_POLL_SOURCE is {value!r}: give an http(s) URL or an existing file "
                             "(a commentThreads.list answer as JSON); empty turns polling off")
        return str(Path(value).expanduser().absolute()) if value and not value.startswith(("http://", "https://")) else value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("SIFT_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.review_band_low > self.review_band_high:
            raise ValueError("SIFT_REVIEW_BAND_LOW must not be above SIFT_REVIEW_BAND_HIGH")
        if self.require_api_key is False and not is_loopback(self.host):
            raise ValueError(f"SIFT_REQUIRE_API_KEY=false is only allowed on a loopback address, not {self.host}; "
                             "create a key with `sift keys create` instead")
        if self.events_retry_first_seconds > self.events_retry_max_seconds:
            raise ValueError("SIFT_EVENTS_RETRY_FIRST_SECONDS must not be above SIFT_EVENTS_RETRY_MAX_SECONDS")
        if self.staff_roster is not None and not self.staff_roster.is_file():
            raise ValueError(f"SIFT_STAFF_ROSTER points at {self.staff_roster}, which does not exist")
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'sift.db').resolve()}"

    @property
    def effective_model_dir(self) -> Path:
        """The model to serve: the configured one; else the data team's promoted model; else the shipped release."""
        if self.model_dir is not None:
            return self.model_dir
        promoted = self.data_dir / "models" / "current"
        if promoted.is_symlink() or promoted.exists() or not (RELEASE_MODEL_DIR / MODEL_META_FILE).is_file():
            return promoted
        return RELEASE_MODEL_DIR

    @property
    def api_key_required(self) -> bool:
        return self.require_api_key if self.require_api_key is not None else not is_loopback(self.host)

    def resolved(self) -> Settings:
        """These settings with the model fixed to the one served now (for workers in other processes)."""
        return self.model_copy(update={"model_dir": self.effective_model_dir})

    @property
    def rules_budget(self) -> float | None:
        """Seconds one comment's rules may take, as the pipeline takes it (None: no limit)."""
        return self.rules_budget_ms / 1000 if self.rules_budget_ms else None

    def author_secret(self) -> bytes:
        """The key for hashing author ids; generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip().encode()

    # Coral's external moderation phase (api.routes.coral): its signing secret and its timeout, as set in
    # Coral's admin (Configure > Moderation Phases). sift answers by the timeout less the margin.
    coral_signing_secret: SecretStr = Field(SecretStr(""), description="the phase's signing secret, copied from Coral's "
                                            "admin; empty: POST /coral/moderate answers 503 and says to set it")
    coral_timeout_ms: int = Field(1000, ge=1, le=600_000, description="the phase's Timeout in Coral's admin (milliseconds)")
    coral_margin_ms: int = Field(200, ge=0, le=600_000, description="time kept back from the timeout for the request's "
                                 "way in before sift's clock starts (about 0.1 s on the first request after start) and the "
                                 "answer's way back (milliseconds)")

    @model_validator(mode="after")
    def _coral(self) -> Settings:
        if self.coral_margin_ms >= self.coral_timeout_ms:
            raise ValueError(f"SIFT_CORAL_MARGIN_MS ({self.coral_margin_ms}) must be below SIFT_CORAL_TIMEOUT_MS "
                             f"({self.coral_timeout_ms}): sift answers Coral by the timeout less the margin")
        return self

    @property
    def coral_deadline(self) -> float:
        """Seconds sift has to answer one Coral moderation request."""
        return (self.coral_timeout_ms - self.coral_margin_ms) / 1000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
