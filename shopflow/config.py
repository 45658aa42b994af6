"""The one home for settings: env prefix ``SHOPFLOW_`` plus the standard service URLs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from limits import parse as parse_rate_limit
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RATE_LIMITS: dict[str, str] = {
    "read": "1200/minute",
    "write": "300/minute",
    "sensitive": "30/minute",
    "auth_failure": "10/minute",
}
"""Budget per route class and caller (user id, else client IP), in ``limits`` notation.
``sensitive``: token minting and share-token reads; ``auth_failure``: requests with a credential
the API refused (401), per client IP."""

#: The installed project's root (beside the ``shopflow`` package): where the shipped
#: configuration files (experiments.yaml, notifications.yaml, dagster.yaml) live.
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=64)
def _resolved(path: Path, cwd: Path | None) -> Path:
    """``path`` made absolute, ``~`` and links resolved; cached (a request opening a database
    session asks for the home, and ``resolve`` costs a system call per path part). ``cwd``
    keys a relative path."""
    return path.expanduser().resolve()


class Settings(BaseSettings):
    """Runtime settings. Unset service URLs mean "use the embedded service"."""

    model_config = SettingsConfigDict(
        env_prefix="SHOPFLOW_", extra="ignore", use_attribute_docstrings=True
    )

    home: Path = Field(default=Path("data"), description="Data dir (SHOPFLOW_HOME).")

    # Standard names, read without the prefix. None -> embedded service.
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))
    """Redis of the online store, rate limits and caches (redis:// or rediss://); unset: the
    embedded Redis."""
    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    """Kafka-protocol brokers, host:port[,host:port]; unset: the embedded Tansu broker."""
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    """OLTP database (postgresql://user:pass@host/db); unset: SQLite in the data dir."""
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI")
    )
    """MLflow tracking server (http://host:5000); unset: SQLite and artifacts in the data dir."""
    stripe_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_API_KEY")
    )
    """Stripe secret API key; unset: card payments use the built-in test gateway."""
    stripe_api_base: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_API_BASE")
    )
    """Stripe API base URL (a localstripe peer in tests); unset: Stripe's own."""
    stripe_webhook_secret: str = Field(
        default="whsec_shopflow_dev", validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET")
    )
    """Signing secret of Stripe's webhooks (whsec_...)."""
    # Commerce: PayPal Orders v2 (unset base URL -> PayPal payments use the test gateway).
    paypal_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("PAYPAL_BASE_URL")
    )
    """PayPal Orders v2 API base URL; unset: PayPal payments use the test gateway."""
    paypal_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("PAYPAL_CLIENT_ID")
    )
    """PayPal REST client id."""
    paypal_client_secret: str | None = Field(
        default=None, validation_alias=AliasChoices("PAYPAL_CLIENT_SECRET")
    )
    """PayPal REST client secret."""
    paypal_webhook_id: str = Field(
        default="WH-shopflow-dev", validation_alias=AliasChoices("PAYPAL_WEBHOOK_ID")
    )
    """PayPal webhook id its signature verification names."""
    gateway_timeout_s: float = 10.0
    """Timeout of one call to a payment gateway."""
    payment_authorization_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    """How long a manual-capture authorization holds before the expiry job releases it (card
    networks hold about 7 days)."""
    payment_cache_ttl_s: int = Field(default=600, ge=1)
    """How long a payment body stays in the Redis cache."""
    relay_batch_size: int = 500
    """Outbox rows the relay publishes per batch."""
    relay_interval_s: float = 0.5
    """How often the relay polls the outbox when it is empty."""
    relay_lease_s: float = 30.0
    """A relay that stops renewing its lease for this long is replaced by another."""
    commerce_write_threads: int = Field(default=8, ge=1, le=256)
    """Commerce commands under way at once per API process, each in its own thread."""
    commerce_work_slots: int | None = Field(default=None, ge=1, le=256)
    """Of those, how many run their Python at once (a thread waiting on a payment gateway
    holds none); unset: 1 on SQLite, 4 on PostgreSQL. More only contend for the GIL and the
    database's write lock."""
    idempotency_lease_s: float = Field(default=10.0, gt=0)
    """An Idempotency-Key "in progress" for this long without its owner renewing it is taken
    over by a retry (the owner died); live owners renew it every third of the lease."""
    idempotency_wait_s: float = Field(default=5.0, ge=0)
    """How long a request waits (asleep, no thread held) for a concurrent one with its key
    before answering 409 with Retry-After."""
    redis_timeout_s: float = Field(default=2.0, gt=0)
    """Connect and read timeout of the API's Redis clients: a hung Redis fails fast."""
    redis_cluster: bool | None = Field(
        default=None,
        description="REDIS_URL names a Redis Cluster (a node of it); unset: ask the server.",
    )
    """Connect and read timeout of the API's Redis clients: a hung Redis fails fast."""
    popular_snapshot_s: float = Field(default=30.0, gt=0)
    """How often the API copies the published popularity list into memory, served while
    the online store is unavailable."""

    api_host: str = "127.0.0.1"
    """Interface the API (and a consumer's metrics port) binds."""
    api_port: int = 8000
    """Port of the API (`shopflow serve`)."""
    dagster_port: int = 3000
    """Port of the Dagster UI (`shopflow demo`, `shopflow dagster webserver`)."""
    quarantine_warn_share: float = Field(
        default=0.01, ge=0, le=1, description="raw_events check warns above this share."
    )
    # ---- security: production mode, signing keys, API keys (authz) --------------------------
    env: Literal["development", "production"] = Field(
        default="development",
        description="SHOPFLOW_ENV; production is also implied by a "
        "DATABASE_URL, REDIS_URL or KAFKA_BOOTSTRAP_SERVERS on a non-local host.",
    )
    jwt_secret: str = "shopflow-development-secret-change-me-in-production"
    """HMAC key that signs and checks user JWTs."""
    jwt_algorithm: str = "HS256"
    """JWT signature algorithm."""
    api_key_pepper: str = Field(
        default="shopflow-development-api-key-pepper", description="HMAC key of API key hashes."
    )
    api_key_cache_s: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="API keys are cached per process this long; "
        "a revoked key stops working within it.",
    )

    recs_top_n: int = 50
    """Recommendations published per user."""
    similar_top_n: int = 30
    """Similar items published per item."""
    publish_ttl_seconds: int = 3600
    """Time to live of published recommendation keys in Redis."""
    mlflow_experiment: str = "shopflow-recommenders"
    """MLflow experiment the recommender runs are logged to."""

    # recommender training (models/, pipelines/assets/recommenders.py)
    recs_eval_k: int = 10
    """Cut-off k of the ranking metrics (NDCG@k, recall@k)."""
    # evaluation, tuning and the gate: each user's latest share of pairs is held out (test;
    # validation is carved out of train the same way); the global "last N days" split is
    # reported as a second view
    recs_holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    """Each user's latest share of pairs held out for the test split."""
    recs_holdout_days: float = 7.0
    """Days of the global last-N-days split, reported as a second view."""
    recs_tuning_budget_s: float = 60.0
    """Most seconds of hyperparameter tuning per tuned model kind."""
    recs_tuning_max_trials: int = 20
    """Most Optuna trials per tuned model kind."""
    # the tuning budget per tuned kind grows with the data: min + per_100k * interactions /
    # 100k, at most recs_tuning_budget_s (a tiny demo shop tunes for seconds, a big one longer)
    recs_tuning_min_budget_s: float = 3.0
    """Tuning seconds per kind on a tiny shop (the budget grows with the data)."""
    recs_tuning_s_per_100k: float = 10.0
    """Tuning seconds added per 100k interactions, up to recs_tuning_budget_s."""
    als_engine: Literal["auto", "implicit", "spark"] = "auto"
    """ALS on implicit or on Spark MLlib; auto: Spark from als_spark_min_interactions up."""
    als_spark_min_interactions: int = Field(default=50_000_000, ge=1)
    """Interactions from which auto trains ALS on Spark (past one machine's memory)."""
    recs_min_users: int = 5
    """Fewest users with interactions before a model is trained."""
    recs_min_items: int = 5
    """Fewest items with interactions before a model is trained."""
    # batch lists go to every user with history (no day window)
    recs_history_n: int = 50
    """Strongest (heaviest, not disliked) history items per user published with the batch lists."""
    experiments_file: Path = Field(
        default=Path("experiments.yaml"), description="A/B experiments config (YAML)."
    )

    # ---- warehouse engine ----------------------------------------------------------------
    # duckdb: the warehouse file; spark: dbt-spark (method: session) over the raw layer as
    # Parquet under spark_dir (a local session here; a cluster through spark_master)
    warehouse_engine: Literal["duckdb", "spark"] = "duckdb"
    """Engine dbt builds the warehouse on: duckdb (the file) or spark (dbt-spark)."""
    spark_master: str = Field(default="local[2]", description="Spark master URL.")
    spark_checkpoint_dir: str | None = None
    """Where Spark jobs checkpoint (MLlib ALS cuts its lineage there every 10 iterations); on a
    cluster, a path every executor reaches (HDFS, S3). Default: spark_dir/checkpoints."""

    # ---- reviews, media, wishlists -------------------------------------------------------
    review_rate_limit: int = Field(default=10, description="Review submissions per window.")
    review_rate_window_s: int = 3600
    """Window of review_rate_limit, in seconds."""
    review_flag_threshold: float = Field(
        default=0.8, description="Spam score -> FLAGGED while no trained classifier serves."
    )
    review_spam_min_precision: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Precision the spam classifier's threshold is chosen for (validation split).",
    )
    review_auto_approve: bool = Field(default=True, description="Enable the auto-approve rule.")
    review_auto_approve_verified_only: bool = True
    """Auto-approve only reviews of verified purchases."""
    review_auto_approve_rating_only: bool = True
    """Auto-approve only reviews without text (rating only)."""
    review_auto_approve_max_spam: float = 0.2
    """Auto-approve only below this spam score."""
    review_burst_count: int = Field(default=5, description="Reviews in the burst window.")
    review_burst_window_s: int = 600
    """Window of review_burst_count, in seconds."""
    review_bayes_prior_weight: float = Field(default=5.0, description="Prior pseudo-reviews.")
    review_local_cache_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="Memory per API worker for review ratings and first pages it served, "
        "kept under their cache versions (checked against the database on every read).",
    )
    media_max_image_bytes: int = 8 * 1024 * 1024
    """Largest uploaded image."""
    media_max_video_bytes: int = 20 * 1024 * 1024
    """Largest uploaded video."""
    media_max_video_seconds: float = 60.0
    """Longest uploaded video."""
    media_max_image_pixels: int = Field(
        default=12_000_000, description="Largest decoded image (header checked first)."
    )
    media_thumbnail_px: int = 320
    """Longest side of generated thumbnails."""
    wishlist_price_drop_pct: float = Field(
        default=10.0, description="Drop below the price at add time that triggers an alert."
    )

    # ---- real-time pipeline (event bus, consumers, POST /events) ----------------------------
    kafka_topic_prefix: str = Field(default="shopflow.", description="Prefix of every topic.")
    kafka_partitions: dict[str, int] = Field(
        default_factory=dict,
        description='Partitions per topic base name (e.g. {"behaviour": 12}), overriding '
        "shopflow/topics.py; the most consumers of one group that share a topic's work.",
    )
    kafka_session_timeout_ms: int = Field(
        default=6000, description="Consumer group session timeout (a first join takes ~half)."
    )
    events_max_batch: int = Field(default=500, description="Most events per POST /events.")
    events_delivery_timeout_ms: int = Field(
        default=5000, description="POST /events waits this long for the broker, then 503."
    )
    stream_batch_size: int = Field(default=5000, description="Most messages per consumer batch.")
    stream_batch_wait_ms: int = Field(
        default=100, description="Longest wait for a message when none is fetched yet."
    )
    stream_commit_interval_ms: int = Field(
        default=500, description="Consumers commit offsets at most this often while streaming."
    )
    stream_fetch_wait_ms: int = Field(
        default=20, description="Longest a broker holds a consumer's fetch for new data."
    )
    # ---- bus durability and recovery (shopflow/embedded.py, shopflow/bus.py, relay) -------
    kafka_storage: Literal["durable", "memory"] = Field(
        default="durable",
        description="Embedded broker storage: 'durable' (an S3 store in its own process: "
        "topics outlive a broker restart or crash, not `services down`) or 'memory' (faster, "
        "lost when the broker stops).",
    )
    relay_failure_backoff_s: float = Field(
        default=2.0, description="A relay that could not publish releases its lease this long."
    )
    shutdown_grace_s: float = Field(
        default=8.0, description="After SIGTERM, a relay or consumer exits within this long."
    )
    stream_affinity_half_life_s: float = 6 * 3600.0
    """Half-life of a user's real-time category affinity."""
    stream_trending_half_life_s: float = 3600.0
    """Half-life of the real-time trending scores."""
    sink_roll_rows: int = Field(default=100_000, description="Sink file rolls at this many rows.")
    sink_roll_seconds: float = Field(default=60.0, description="...or when this old.")
    sink_roll_bytes: int = Field(default=64 * 2**20, description="...or this many bytes.")

    # ---- notifications (commerce/notifications/) ---------------------------------------------
    notifications_file: Path = Field(
        default=Path("notifications.yaml"), description="Event -> workflow mapping (YAML)."
    )
    notify_email_provider: str = Field(default="smtp", description="smtp | sendgrid")
    smtp_host: str = "127.0.0.1"
    """SMTP server the email channel sends through."""
    smtp_port: int = 1025
    """SMTP port (the embedded mail catcher's in the demo)."""
    smtp_username: str | None = None
    """SMTP login; unset: no login."""
    smtp_password: str | None = None
    """SMTP password."""
    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS."""
    notify_email_from: str = "Shopflow <no-reply@shopflow.local>"
    """From address of every email."""
    notify_admin_user_ids: list[str] = Field(
        default_factory=list,
        description="The shop's admins: recipients of workflows with audience 'admins' "
        "(e.g. disputes); SHOPFLOW_NOTIFY_ADMIN_USER_IDS='[\"admin-1\"]'.",
    )
    sendgrid_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("SENDGRID_API_KEY")
    )
    """SendGrid API key (notify_email_provider=sendgrid)."""
    sendgrid_base_url: str = "https://api.sendgrid.com"
    """SendGrid API base URL."""
    sendgrid_webhook_public_key: str | None = Field(
        default=None, description="Base64 DER ECDSA key of SendGrid's signed event webhook."
    )
    twilio_account_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID")
    )
    """Twilio account SID of the SMS channel; unset: no SMS."""
    twilio_auth_token: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN")
    )
    """Twilio auth token (also checks its webhook signatures)."""
    twilio_from_number: str | None = None
    """Sender number of SMS."""
    twilio_base_url: str = "https://api.twilio.com"
    """Twilio API base URL."""
    fcm_project_id: str | None = None
    """Firebase project of the push channel; unset: no push."""
    fcm_base_url: str = "https://fcm.googleapis.com"
    """Firebase Cloud Messaging API base URL."""
    fcm_credentials_file: Path | None = Field(
        default=None, description="Google service account JSON (OAuth token for FCM v1)."
    )
    notify_public_base_url: str | None = Field(
        default=None, description="External base URL of the API (Twilio signs the full URL)."
    )
    notify_vendor_timeout_s: float = 10.0
    """Timeout of one call to an email, SMS or push vendor."""
    notify_max_attempts: int = Field(default=5, description="Tries before the dead-letter state.")
    notify_backoff_base_s: float = 30.0
    """First retry delay of a failed delivery (doubles per try)."""
    notify_backoff_cap_s: float = 3600.0
    """Longest retry delay of a failed delivery."""
    notify_worker_interval_s: float = Field(
        default=5.0, description="How often the worker sends due (retried/deferred) messages."
    )
    notify_batch_size: int = Field(
        default=200, ge=1, le=5000, description="Deliveries claimed, sent and recorded at once."
    )

    # ---- API guard: rate limits, audit, security headers, CORS (serving/security/) ---------
    rate_limits_enabled: bool = True
    """Enforce the API rate limits (tests that fire hundreds of requests turn it off)."""
    rate_limits: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS),
        description="Route class -> budget, e.g. 1200/minute; an env JSON object (SHOPFLOW_"
        "RATE_LIMITS) overrides the classes it names, the others keep their defaults. Each "
        "worker leases a budget's tokens in parts of 1 % (at most 32, kept up to 1 s); "
        "budgets under 200 are counted one request at a time.",
    )
    rate_limit_sensitive_paths: tuple[str, ...] = Field(
        default=("/api/auth/", "/api/token", "/api/shared/wishlists/"),
        description="Path prefixes held to the 'sensitive' budget (login-like endpoints).",
    )
    rate_limit_exempt_paths: tuple[str, ...] = Field(
        default=("/health", "/livez", "/readyz", "/metrics"),
        description="Exact paths never limited (probes).",
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(), description="IPs or CIDRs whose X-Forwarded-For names the client."
    )
    cors_origins: tuple[str, ...] = Field(
        default=(), description="Browser origins allowed to call the API (CORS allow-list)."
    )
    hsts_max_age_s: int = Field(
        default=0, ge=0, description="Strict-Transport-Security max-age; 0 sends none (dev)."
    )

    # ---- production: service connections, pools, observability ---------------------------
    kafka_options: dict[str, str] = Field(
        default_factory=dict,
        description="librdkafka options for every producer, consumer and admin client, e.g. "
        '{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", '
        '"sasl.username": "u", "sasl.password": "p", "ssl.ca.location": "/ca.pem"}.',
    )
    redis_password: str | None = Field(
        default=None, description="Redis password (AUTH), folded into REDIS_URL."
    )
    redis_ca_file: Path | None = Field(
        default=None, description="CA bundle that signs a rediss:// (TLS) server's certificate."
    )
    media_url: str | None = Field(
        default=None,
        description="Where review media live: any fsspec URL (s3://bucket/prefix); "
        "unset: $SHOPFLOW_HOME/media.",
    )
    media_storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description='fsspec options of media_url, e.g. {"endpoint_url": "http://minio:9000"}.',
    )
    db_pool_size: int = Field(default=20, ge=1, le=500, description="Database pool per process.")
    db_max_overflow: int = Field(default=20, ge=0, le=500, description="Connections beyond it.")
    db_pool_timeout_s: float = Field(default=30.0, gt=0, description="Wait for a free one.")
    db_statement_timeout_ms: int = Field(
        default=0, ge=0, description="PostgreSQL statement_timeout per connection; 0 = none."
    )
    db_ping_idle_s: float = Field(
        default=1.0,
        ge=0,
        description="PostgreSQL: a pooled connection idle longer is pinged before use "
        "(a dead one is replaced); 0 = ping on every checkout.",
    )
    api_workers: int = Field(default=1, ge=1, le=64, description="`shopflow serve` processes.")
    api_keepalive_s: int = Field(default=5, ge=1, description="HTTP keep-alive of idle clients.")
    api_drain_s: int = Field(
        default=4, gt=0, description="After SIGTERM, requests in flight get this long."
    )
    api_close_s: float = Field(
        default=4.0,
        gt=0,
        description="Then closing the clients (the event producer's flush included) gets "
        "this long; the worker exits after it whatever is left (unconfirmed events were "
        "never acknowledged to their senders).",
    )
    log_format: Literal["console", "json"] = Field(
        default="console", description="console (readable) or json (one object per line)."
    )
    log_level: str = Field(default="INFO", description="Root log level (DEBUG, INFO, WARNING).")
    request_log: bool = Field(
        default=True, description="One log line per API request (id, route, status, time)."
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP collector (http://collector:4318); unset: no tracing.",
    )
    otel_service_name: str = Field(
        default="shopflow",
        validation_alias=AliasChoices("OTEL_SERVICE_NAME"),
        description="Service name the traces are exported under.",
    )
    trace_sample_ratio: float = Field(
        default=0.1, ge=0, le=1, description="Share of root traces recorded and exported."
    )

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        scheme = parts.scheme.split("+")[0]
        if scheme not in ("sqlite", "postgres", "postgresql"):
            raise ValueError(f"DATABASE_URL must be postgresql://... or sqlite:///..., not {url!r}")
        if scheme != "sqlite" and not parts.hostname and "host=" not in parts.query:
            raise ValueError("DATABASE_URL names no host (postgresql://user:pw@host:5432/db)")
        _port(parts, "DATABASE_URL")
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"REDIS_URL must be redis://, rediss:// (TLS) or unix://, not {url!r}")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("REDIS_URL names no host (redis://host:6379/0)")
        _port(parts, "REDIS_URL")
        return url

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _broker_addresses_parse(cls, servers: str | None) -> str | None:
        if servers is None:
            return None
        for server in servers.split(","):
            parts = urlsplit("//" + server.strip().split("://")[-1])
            if not parts.hostname or _port(parts, "KAFKA_BOOTSTRAP_SERVERS") is None:
                raise ValueError(
                    f"KAFKA_BOOTSTRAP_SERVERS takes host:port[,host:port...], not {servers!r}"
                )
        return servers

    @field_validator("media_url")
    @classmethod
    def _media_url_parses(cls, url: str | None) -> str | None:
        if url is None:
            return None
        import fsspec  # only when set

        protocol, _, path = url.partition("://")
        if not path:
            raise ValueError(
                f"SHOPFLOW_MEDIA_URL must be an fsspec URL (s3://bucket/prefix): {url!r}"
            )
        try:
            fsspec.get_filesystem_class(protocol)
        except (ValueError, ImportError) as exc:
            raise ValueError(f"SHOPFLOW_MEDIA_URL: unusable protocol {protocol!r}: {exc}") from exc
        if protocol in ("s3", "s3a", "gs", "gcs", "az", "abfs") and not path.split("/")[0]:
            raise ValueError(f"SHOPFLOW_MEDIA_URL names no bucket: {url!r}")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _redis_credentials_in_url(self) -> Settings:
        """SHOPFLOW_REDIS_PASSWORD and SHOPFLOW_REDIS_CA_FILE join REDIS_URL, so every Redis
        client made from it (API, consumers, pipelines, rate limits) authenticates alike."""
        if not self.redis_url or not (self.redis_password or self.redis_ca_file):
            return self
        parts = urlsplit(self.redis_url)
        netloc = parts.netloc
        if self.redis_password and parts.password is None:
            user = quote(parts.username or "", safe="")
            netloc = f"{user}:{quote(self.redis_password, safe='')}@{netloc.rpartition('@')[2]}"
        query = dict(parse_qsl(parts.query))
        if self.redis_ca_file:
            query.setdefault("ssl_ca_certs", str(self.redis_ca_file))
        url = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))
        object.__setattr__(self, "redis_url", url)
        return self

    @field_validator("rate_limits")
    @classmethod
    def _known_rate_limits(cls, given: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(given) - set(DEFAULT_RATE_LIMITS))
        if unknown:
            raise ValueError(
                f"unknown route classes {unknown}; known: {sorted(DEFAULT_RATE_LIMITS)}"
            )
        for text in given.values():
            parse_rate_limit(text)  # raises ValueError naming the bad text
        return {**DEFAULT_RATE_LIMITS, **given}

    @field_validator("kafka_partitions")
    @classmethod
    def _positive_partitions(cls, given: dict[str, int]) -> dict[str, int]:
        bad = sorted(name for name, count in given.items() if count < 1)
        if bad:
            raise ValueError(f"topics {bad} need at least one partition")
        return given

    @property
    def production(self) -> bool:
        """Production mode: SHOPFLOW_ENV=production, or a service on a non-local host."""
        services = (self.database_url, self.redis_url, self.kafka_bootstrap_servers)
        return self.env == "production" or any(_remote(url) for url in services if url)

    # ---- bounded inputs (serving/limits.py, media, templates) ------------------------------
    max_json_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body, except uploads (413)."
    )
    max_upload_body_bytes: int = Field(
        default=24 * 1024 * 1024, ge=1024, description="Largest body of POST /api/media (413)."
    )
    media_decode_concurrency: int = Field(
        default=2, ge=1, le=64, description="Images decoded at once per API process."
    )
    template_max_output_chars: int = Field(
        default=100_000, ge=1000, description="Longest rendered template part (else 422)."
    )

    @model_validator(mode="after")
    def _config_files_outside_cwd(self) -> Settings:
        """Relative config files are looked up in SHOPFLOW_HOME, then beside the installed
        package, never in the working directory (``shopflow`` runs from anywhere)."""
        for name in ("experiments_file", "notifications_file"):
            path = Path(getattr(self, name)).expanduser()
            if not path.is_absolute():
                in_home = self.home_dir / path
                path = in_home if in_home.exists() else PACKAGE_ROOT / path
            object.__setattr__(self, name, path)
        return self

    # ---- privacy (commerce/privacy): PII is sealed per user under a data key, itself
    # wrapped by the master key; emails are looked up by a keyed hash. Both secrets must be
    # set in production (base64 of 32 random bytes; `python -c "import os,base64;
    # print(base64.b64encode(os.urandom(32)).decode())"`).
    master_key: str = Field(
        default="c2hvcGZsb3ctZGV2LW1hc3Rlci1rZXktY2hhbmdlISE=",
        description="Base64 AES-256 key wrapping the per-user data keys (a KMS may replace it).",
    )
    pii_hash_key: str = Field(
        default="c2hvcGZsb3ctZGV2LXBpaS1oYXNoLWtleS1jaGFuZ2U=",
        description="Base64 HMAC-SHA256 key of the email lookup hash (separate from master_key).",
    )
    pii_key_cache_size: int = Field(default=4096, ge=0, description="Unwrapped data keys kept.")
    pii_key_cache_ttl_s: float = Field(default=60.0, ge=0, description="How long one is kept.")

    # ---- the newcomer's demo (cli/commands/demo.py, cli/commands/mail.py) ------------------
    notify_digest_window_s: float | None = Field(
        default=None,
        gt=0,
        description="Overrides every workflow's digest window (notifications.yaml batches "
        "wishlist price drops for 3600 s per user). `shopflow demo` sets a short one.",
    )
    demo_digest_window_s: float = Field(
        default=15.0, gt=0, description="The digest window `shopflow demo` runs its workers with."
    )

    # ---- derived paths -------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return _resolved(self.home, None if self.home.is_absolute() else Path.cwd())

    @property
    def landing_dir(self) -> Path:
        return self.home_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.home_dir / "warehouse.duckdb"

    @property
    def spark_dir(self) -> Path:
        """The Spark warehouse: raw Parquet, built tables and the metastore."""
        return self.home_dir / "spark"

    @property
    def import_quarantine_dir(self) -> Path:
        """Rows a bulk import could not use, as Parquet with a ``reason`` column."""
        return self.home_dir / "quarantine" / "imports"

    @property
    def models_dir(self) -> Path:
        return self.home_dir / "models"

    @property
    def run_dir(self) -> Path:
        """Pid and port files of embedded services."""
        return self.home_dir / "run"

    @property
    def media_dir(self) -> Path:
        return self.home_dir / "media"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target/ (manifest, compiled SQL, run state): never in the checkout."""
        return self.home_dir / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home_dir / "dbt" / "logs"

    @property
    def dagster_home(self) -> Path:
        return self.home_dir / "dagster"

    @property
    def mlflow_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.home_dir / "mlartifacts"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{self.home_dir / 'shopflow.db'}"

    def ensure_dirs(self) -> None:
        for path in (self.home_dir, self.landing_dir, self.models_dir, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)


def _port(parts: Any, setting: str) -> int | None:
    """The URL's port (None when absent); a malformed one is a ValueError naming the setting."""
    try:
        port: int | None = parts.port
    except ValueError as exc:
        raise ValueError(f"{setting} has an invalid port: {exc}") from exc
    return port


LOCAL_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})

#: Settings that hold secrets: in production each must be set (not its built-in default) and at
#: least MIN_SECRET_BYTES long. Another secret setting joins by appending its field name here.
SECRET_SETTINGS: list[str] = [
    "jwt_secret",
    "stripe_webhook_secret",
    "api_key_pepper",
    "master_key",
    "pii_hash_key",
]
MIN_SECRET_BYTES = 32


def _remote(url: str) -> bool:
    """Whether a service URL (or Kafka's host:port list) names a host other than this one."""
    for part in url.split(","):
        target = part.strip() if "://" in part else f"//{part.strip()}"
        host = urlsplit(target).hostname or ""
        if host not in LOCAL_HOSTS:
            return True
    return False


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (its standard name or SHOPFLOW_...)."""
    info = Settings.model_fields.get(field)
    alias = getattr(info.validation_alias, "choices", None) if info else None
    return str(alias[0]) if alias else f"SHOPFLOW_{field.upper()}"


def describe_invalid(exc: ValidationError) -> str:
    """One line per bad setting, each naming its environment variable."""
    lines = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "settings"
        env = name if name.isupper() else env_name(name)
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(message if message.startswith(env) else f"{env}: {message}")
    return "invalid settings: " + "; ".join(lines)


class InsecureSettings(ValueError):
    """Production mode with a public default or a short secret."""


def secret_problems(settings: Settings) -> list[str]:
    """What is wrong with each secret setting (empty: all are fit for production)."""
    problems = []
    for name in SECRET_SETTINGS:
        value = getattr(settings, name)
        env = f"SHOPFLOW_{name.upper()}"
        info = Settings.model_fields[name]
        if info.validation_alias is not None:
            env = str(getattr(info.validation_alias, "choices", [env])[0])
        if value is None or value == info.default:
            problems.append(f"{name} ({env}) is the built-in default; set a secret of your own")
        elif len(str(value).encode()) < MIN_SECRET_BYTES:
            problems.append(f"{name} ({env}) is shorter than {MIN_SECRET_BYTES} bytes")
    return problems


def check_startup(settings: Settings, component: str) -> str:
    """Refuse (``InsecureSettings``) to start ``component`` in production while a secret is a
    built-in default or too short; in development return the one line that says so."""
    if settings.production:
        problems = secret_problems(settings)
        if problems:
            raise InsecureSettings(
                f"{component} refuses to start in production: " + "; ".join(problems)
            )
        return f"{component}: production mode"
    return (
        f"{component}: development mode (built-in secrets; set SHOPFLOW_ENV=production "
        "for a real deployment)"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests that change the environment call ``cache_clear()``."""
    return Settings()
