"""Settings for Vibegrapher, all read from the environment (and an optional `.env`).

Development needs nothing set: SQLite in the project root, the in-memory channel
layer and `./media`. Production sets `DATABASE_URL`, `REDIS_URL`, `SECRET_KEY`,
`ALLOWED_HOSTS` and turns `DEBUG` off; nothing else changes.
"""

import os
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from sessions_app import model_prices

# Lets `admin.ModelAdmin[Project]` and friends be subscripted at run time, as typed.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# `make schema` generates the API document from the code alone: no .env.
if not os.environ.get("VIBEGRAPHER_IGNORE_DOTENV"):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-used-when-debug-is-off"
SECRET_KEY: str = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Origins of single-page apps served elsewhere (a dev server: http://localhost:5173)
# that may call the API from the browser. `CORS_ORIGINS` is the older name of it.
_cors_origins: list[str] = env.list(
    "CORS_ALLOWED_ORIGINS", default=env.list("CORS_ORIGINS", default=[])
)
CORS_ALLOWED_ORIGINS: list[str] = [origin for origin in _cors_origins if origin != "*"]
CORS_ALLOW_ALL_ORIGINS: bool = "*" in _cors_origins

INSTALLED_APPS = [
    # daphne first, so `runserver` serves ASGI (HTTP and WebSocket).
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "csp",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files, served from this site (the CSP allows no CDN).
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "projects",
    "sessions_app",
    "reviews",
    "testruns",
    "trials",
    "cases",
    "agents_app",
    # The pages, last: the top layer, over every app above.
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # With DEBUG on, compressed copies of the source files (`vibegrapher.server.dev_static`).
    "vibegrapher.server.dev_static.DevStaticMiddleware"
    if DEBUG
    else "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside CorsMiddleware: names the setting when a preflight is refused.
    "vibegrapher.server.cors_hint.CorsRefusalHint",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so it sees the lockout that a login view's `authenticate` recorded.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "vibegrapher.urls"
ASGI_APPLICATION = "vibegrapher.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The kernel's own (the API docs page); the pages' are in web/templates (APP_DIRS).
        "DIRS": [BASE_DIR / "vibegrapher" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
DATABASES: dict[str, dict[str, Any]] = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on the busy timeout instead of failing mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    )
    # Tests use a file, not shared-cache memory, so concurrent writers wait on the busy
    # timeout (as in production) instead of failing with "table is locked".
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("TEST_SQLITE_PATH", default=str(BASE_DIR / ".test-db.sqlite3"))
    }
# Requests run on reused threads (vibegrapher/server/request_threads.py), each thread with its
# own connection: keeping it open saves a connect per request. Connections are checked
# before reuse, and closed after this many seconds (0: one connection per request, the
# default with DEBUG on, so that a test database is never held open when it is dropped).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if DEBUG else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Idle request threads kept per server process (each may hold a database connection).
REQUEST_THREADS_IDLE: int = env.int("REQUEST_THREADS_IDLE", default=16)
# Requests whose sync part (middleware, DRF view, ORM) runs at once per process; the
# rest wait their turn on the event loop (vibegrapher/server/request_threads.py). SQLite
# answers inside the process, so a second request at once only contends for the
# interpreter; a second one overlaps a networked database's round trips (bench/rest.py).
REQUEST_THREADS_RUNNING: int = env.int(
    "REQUEST_THREADS_RUNNING",
    default=1 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 2,
)
# Slow kinds of request run in lanes of their own (vibegrapher/server/lanes.py), never in the
# turns above: how many of each run at once per process. Each holds a thread while it
# runs; a password check or a layout keeps a core busy, so one of each leaves the other
# core to quick reads on a 2-core machine.
REQUEST_LANES: dict[str, int] = {
    "password": env.int("LANE_PASSWORD_RUNNING", default=1),
    "graph": env.int("LANE_GRAPH_RUNNING", default=1),
    "export": env.int("LANE_EXPORT_RUNNING", default=1),
    "tests": env.int("LANE_TESTS_RUNNING", default=4),
    "model": env.int("LANE_MODEL_RUNNING", default=8),
}
# Requests waiting for a lane's turn, at most (one more is answered 503 at once), and
# how long one waits before it is answered 503 (both with Retry-After).
LANE_WAITING: int = env.int("LANE_WAITING", default=32)
LANE_WAIT_SECONDS: float = env.float("LANE_WAIT_SECONDS", default=30.0)
# Slow lanes' threads, and the processes they start (Graphviz, git), run at this nice
# value (Linux: per thread), so that CPU-bound slow work yields a core to quick reads.
LANE_NICENESS: int = env.int("LANE_NICENESS", default=10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------
REDIS_URL: str = env.str("REDIS_URL", default="")
# Prepended to every key this app puts in Redis, for a Redis shared with other programs.
REDIS_KEY_PREFIX: str = env.str("REDIS_KEY_PREFIX", default="")
if REDIS_URL:
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 gives every read a 5 s timeout, the same 5 s that
                # channels-redis blocks in BZPOPMIN waiting for a message: an idle
                # socket's receive then failed with "Timeout reading" and the client
                # got 1011 after about 5 s without events. Reads wait longer instead.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                # Events are small and a browser reads them at once; 1,000 queued per
                # channel absorbs a burst of a whole run, while a stuck client cannot
                # grow Redis memory without bound.
                "capacity": 1000,
                # A message nobody reads within 60 s is stale: the client re-reads
                # history through the API (`?after=`) when it reconnects.
                "expiry": 60,
                "group_expiry": 86400,
                "prefix": f"{REDIS_KEY_PREFIX}asgi",
            },
        }
    }
    # "pubsub" (the default): one Redis PUBLISH per event and one delivery per server
    # process, which fans it out to its own sockets (bench/README.md: p99 at 200
    # clients). Events are not queued in Redis: a socket that is not connected misses
    # them and re-reads history through the API, as after any reconnect. "lists": a
    # Redis queue per socket (capacity and expiry above), one Redis round trip per
    # socket and event.
    REDIS_CHANNEL_LAYER: str = env.str("REDIS_CHANNEL_LAYER", default="pubsub")
    if REDIS_CHANNEL_LAYER == "pubsub":
        CHANNEL_LAYERS["default"] = {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": CHANNEL_LAYERS["default"]["CONFIG"]["hosts"],
                "prefix": f"{REDIS_KEY_PREFIX}asgi",
            },
        }
    elif REDIS_CHANNEL_LAYER != "lists":
        raise ImproperlyConfigured(
            f"REDIS_CHANNEL_LAYER={REDIS_CHANNEL_LAYER!r} is unknown: use pubsub or lists."
        )
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds the failed-login counts, which every server process must see: Redis
# when there is one, process memory otherwise. While Redis is unreachable the cache
# answers from process memory and says so in the log (vibegrapher/lib/cache.py), so logins
# go on working. A Redis that stops answering costs a cache call at most
# REDIS_CACHE_TIMEOUT_SECONDS; it is then asked again every 5 s.
REDIS_CACHE_TIMEOUT_SECONDS: float = env.float("REDIS_CACHE_TIMEOUT_SECONDS", default=1.0)
if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "vibegrapher.lib.cache.FallbackRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CACHE_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_CACHE_TIMEOUT_SECONDS,
                "retry_seconds": 5.0,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

WS_HEARTBEAT_SECONDS: float = env.float("WS_HEARTBEAT_SECONDS", default=30.0)
WS_MAX_FRAMES_PER_SECOND: int = env.int("WS_MAX_FRAMES_PER_SECOND", default=20)
# A client frame (or message) larger than this closes the socket with 1009.
WS_MAX_FRAME_BYTES: int = env.int("WS_MAX_FRAME_BYTES", default=64 * 1024)
# Open WebSockets per user, counted across every server process; beyond: 4429.
WS_MAX_SOCKETS_PER_USER: int = env.int("WS_MAX_SOCKETS_PER_USER", default=20)
# Every open WebSocket's token or session is re-checked this often (one batched query
# per process, sessions_app/credential_watch.py): a socket whose credential ended by
# any path (revoked, expired, logged out, user deactivated) closes with 4401.
WS_CREDENTIAL_CHECK_SECONDS: float = env.float("WS_CREDENTIAL_CHECK_SECONDS", default=1.0)
if WS_CREDENTIAL_CHECK_SECONDS <= 0:
    raise ImproperlyConfigured("WS_CREDENTIAL_CHECK_SECONDS must be more than 0.")
# Events are best-effort: an emit that the channel layer (Redis) has not taken within
# this time is dropped and logged, so a run never waits on an unreachable Redis.
EVENT_EMIT_TIMEOUT_SECONDS: float = env.float("EVENT_EMIT_TIMEOUT_SECONDS", default=2.0)
# An event whose JSON is longer than this is sent as a `large_event` reference: the
# client fetches the whole event over HTTP (sessions_app/event_bodies.py).
WS_EVENT_INLINE_MAX_BYTES: int = env.int("WS_EVENT_INLINE_MAX_BYTES", default=64 * 1024)
# How long such an event's body can be fetched (in the cache: Redis, or process memory).
EVENT_BODY_TTL_SECONDS: int = env.int("EVENT_BODY_TTL_SECONDS", default=600)
# A body over this is not kept: its reference says so, and the client re-reads the state.
EVENT_BODY_MAX_BYTES: int = env.int("EVENT_BODY_MAX_BYTES", default=8 * 1024 * 1024)

# --- Auth and API ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out (username, address) or address before any hashing.
    "accounts.backends.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Password guessing (accounts/throttling.py): the LOGIN_FAILURE_LIMIT-th wrong password
# for one username from one client address locks that pair out of every login path for
# LOGIN_LOCKOUT_SECONDS (429 with Retry-After); the owner logs in from anywhere else.
# LOGIN_ADDRESS_FAILURE_LIMIT failures from one address, whatever the usernames, lock
# that address out. A username is never locked on its own. Each failure, locked or
# not, restarts the cool-off of its counts.
LOGIN_FAILURE_LIMIT: int = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_ADDRESS_FAILURE_LIMIT: int = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=50)
LOGIN_LOCKOUT_SECONDS: int = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
# Behind a proxy every request comes from the proxy: name the header that carries the
# client's address (on Fly.io `Fly-Client-IP`). Never set it without such a proxy: a
# client could then choose its own address.
CLIENT_IP_HEADER: str = env.str("CLIENT_IP_HEADER", default="")
# Counts in Django's cache: Redis when set (process memory while it is unreachable);
# without REDIS_URL, process memory, which is complete: there is one server process
# then (docs/scaling-and-deployment.md).
AXES_HANDLER = "accounts.throttling.LoginFailureHandler"
# Read through functions, so the settings above can change at run time (tests).
AXES_FAILURE_LIMIT = "accounts.throttling.failure_limit"
AXES_COOLOFF_TIME = "accounts.throttling.cool_off"
# Counted per (username, address) and per address; the handler gives each its limit.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
# A guesser who goes on while locked out stays locked out, and Retry-After is the
# whole cool-off (no remaining time to compute). It reaches only its own pair/address.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_CALLABLE = "accounts.throttling.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.throttling.client_ip"
# A success does not wipe the counts: otherwise one's own account would reset the
# per-address count between guesses at others'. Counts expire LOGIN_LOCKOUT_SECONDS
# after the last failure.
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False
# API tokens (accounts/tokens.py) expire this many days after they were issued
# (a fraction is allowed: 0.5 is twelve hours).
API_TOKEN_DAYS: float = env.float("API_TOKEN_DAYS", default=30.0)
if API_TOKEN_DAYS <= 0:
    raise ImproperlyConfigured("API_TOKEN_DAYS must be more than 0.")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous request then gets 401 with WWW-Authenticate, not 403.
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["vibegrapher.api.json_body.DepthLimitedJSONParser"],
    "EXCEPTION_HANDLER": "vibegrapher.api.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "vibegrapher.api.schema.ApiAutoSchema",
}

# Lists answer pages of this many items (`?limit=` up to the maximum),
# vibegrapher/api/pagination.py.
API_PAGE_SIZE: int = env.int("API_PAGE_SIZE", default=50)
API_MAX_PAGE_SIZE: int = env.int("API_MAX_PAGE_SIZE", default=200)

# The OpenAPI document (/api/schema/, committed as docs/openapi.yaml: `make schema`).
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Vibegrapher API",
    "DESCRIPTION": "Change an OpenAI Agents SDK workflow by talking to it. Guide: "
    "docs/api.md in the repository. The WebSocket's events are the `*Event` schemas "
    "(`WebSocketEvent`), its close codes `WebSocketCloseCode` and `x-websocket`.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": "/api",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DiffStatusEnum": "reviews.models.Diff.Status",
        "RunStartedStatusEnum": ["processing"],
        "RunCancelledStatusEnum": ["cancelled"],
        "RunCancellingStatusEnum": ["cancelling"],
        "TrialStatusEnum": "trials.models.Trial.Status",
        "TrialSideEnum": "trials.models.Trial.Side",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "vibegrapher.api.schema.postprocess",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
}
# What the apps add to the document (vibegrapher/api/schema.py `postprocess`, which
# imports no app): functions returning component schemas, then functions that add to
# the whole document.
API_SCHEMA_COMPONENTS = ["projects.graph.schema.graph_components"]
API_SCHEMA_ADDITIONS = ["sessions_app.event_schema.add_events", "cases.schema.add_case_rules"]

# --- Files ----------------------------------------------------------------------
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))).resolve()
# Repositories and conversation files live under MEDIA_ROOT and are never served:
# there is deliberately no MEDIA_URL route.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# No STATICFILES_DIRS: each app keeps its files in <app>/static (the pages' in web/).
# Development only (DEBUG on): where the compressed copies of the static files are kept.
DEV_STATIC_CACHE_DIR = Path(
    env.str("DEV_STATIC_CACHE_DIR", default=str(BASE_DIR / ".cache" / "dev-static"))
)

# Largest project file accepted through the API (the code of one workflow).
MAX_CODE_BYTES: int = env.int("MAX_CODE_BYTES", default=200_000)
# How deeply that code may nest (syntax-tree levels: brackets, calls, lambdas, operators,
# blocks inside one another). Real workflows stay under 20, library code under 70; the
# limit keeps every reader of the code (graph, pages, sandbox) far from Python's
# recursion limit (projects/code.py).
MAX_CODE_NESTING: int = env.int("MAX_CODE_NESTING", default=200)
# Graphs with more nodes than this are not drawn (the API still answers their nodes).
GRAPH_MAX_DRAWN_NODES: int = env.int("GRAPH_MAX_DRAWN_NODES", default=150)
# Nor graphs with more edges: `dot`'s time grows much faster than the edges (a 1.9 KB
# file of 30 agents handing off to each other has 900 and took minutes).
GRAPH_MAX_DRAWN_EDGES: int = env.int("GRAPH_MAX_DRAWN_EDGES", default=300)
# A layout still running after this many seconds is killed; the graph is answered
# without its drawing, and why.
GRAPH_LAYOUT_TIMEOUT_SECONDS: float = env.float("GRAPH_LAYOUT_TIMEOUT_SECONDS", default=10.0)
# The Graphviz program that lays graphs out.
GRAPHVIZ_DOT: str = env.str("GRAPHVIZ_DOT", default="dot")
MAX_PROMPT_CHARS: int = env.int("MAX_PROMPT_CHARS", default=20_000)

# --- Hostile input --------------------------------------------------------------
# Request bodies over these are answered 413 before Django reads them
# (vibegrapher/server/body_limit.py says which URL has which limit). Each holds the largest
# body the OpenAPI document allows on its routes even with every character escaped
# (12 bytes for an astral one): test_every_valid_body_fits_its_routes_byte_limit.
MAX_BODY_BYTES_AUTH: int = env.int("MAX_BODY_BYTES_AUTH", default=16 * 1024)
MAX_BODY_BYTES_PROMPT: int = env.int("MAX_BODY_BYTES_PROMPT", default=256 * 1024)
MAX_BODY_BYTES_CODE: int = env.int("MAX_BODY_BYTES_CODE", default=256 * 1024)
MAX_BODY_BYTES_DEFAULT: int = env.int("MAX_BODY_BYTES_DEFAULT", default=128 * 1024)
# JSON nested deeper than this is a 400 (vibegrapher/api/json_body.py).
MAX_JSON_DEPTH: int = env.int("MAX_JSON_DEPTH", default=64)
# Debug pages (DEBUG on) hide settings named like secrets and passwords inside URLs.
DEFAULT_EXCEPTION_REPORTER_FILTER = "vibegrapher.lib.debug_filter.SecretHidingReporterFilter"

# --- Content-Security-Policy (django-csp): scripts, styles and everything else from
# this site only; no inline script, style or event handler on any page.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Models ---------------------------------------------------------------------
OPENAI_API_KEY: str = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL: str = env.str("OPENAI_BASE_URL", default="")
# "responses" (OpenAI) or "chat_completions" (most OpenAI-compatible servers).
OPENAI_API: str = env.str("OPENAI_API", default="responses")
THINKING_MODEL: str = env.str("THINKING_MODEL", default="gpt-5")
SMALL_MODEL: str = env.str("SMALL_MODEL", default="gpt-5-mini")
# Reasoning models (gpt-5*, o-series) on the Responses API are asked for a summary of
# their reasoning ("auto", "concise", "detailed"; "" asks for none), streamed to the page.
REASONING_SUMMARY: str = env.str("REASONING_SUMMARY", default="auto")
# "" keeps the model's own default effort; else "minimal", "low", "medium" or "high".
REASONING_EFFORT: str = env.str("REASONING_EFFORT", default="")
# Traces go to OpenAI's own host: on by default only with a real key and no local server.
OPENAI_TRACING: str = env.str("OPENAI_TRACING", default="auto")
# Where the agents' conversation memory lives: "sqlite" (a file per project beside
# its repository) or "database" (the SDK's SQLAlchemySession on DATABASE_URL, shared
# by every machine that shares the database).
AGENT_MEMORY: str = env.str("AGENT_MEMORY", default="sqlite")
if AGENT_MEMORY not in ("sqlite", "database"):
    raise ImproperlyConfigured(f"AGENT_MEMORY={AGENT_MEMORY!r} is unknown: use sqlite or database.")
# SQLite memories kept open between runs, per process. Each holds a connection (two
# file descriptors) in every worker thread that used it, up to ~12 descriptors.
AGENT_MEMORY_OPEN_SESSIONS: int = env.int("AGENT_MEMORY_OPEN_SESSIONS", default=64)
# Where the projects' git repositories live: "filesystem" (a bare repository per
# project under MEDIA_ROOT/projects, one machine) or "database" (objects and refs in
# DATABASE_URL, shared by every machine; docs/git-and-database.md).
GIT_STORAGE: str = env.str("GIT_STORAGE", default="filesystem")
if GIT_STORAGE not in ("filesystem", "database"):
    raise ImproperlyConfigured(
        f"GIT_STORAGE={GIT_STORAGE!r} is unknown: use filesystem or database."
    )
# What model calls cost, per model (see sessions_app/model_prices.py for the defaults and
# their sources); MODEL_PRICES, a JSON object, adds, replaces or removes models.
try:
    MODEL_PRICES: dict[str, model_prices.ModelPrice] = model_prices.load(
        env.str("MODEL_PRICES", default="")
    )
except model_prices.PriceTableError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# Commits made through the review: the person is the author, this is the committer.
COMMITTER_NAME: str = env.str("COMMITTER_NAME", default="Vibegrapher")
COMMITTER_EMAIL: str = env.str("COMMITTER_EMAIL", default="vibegrapher@localhost")
VIBECODE_MAX_ROUNDS: int = env.int("VIBECODE_MAX_ROUNDS", default=3)
VIBECODE_RUN_TIMEOUT_SECONDS: float = env.float("VIBECODE_RUN_TIMEOUT_SECONDS", default=600.0)
VIBECODE_MODEL_RETRIES: int = env.int("VIBECODE_MODEL_RETRIES", default=3)
# Every patch that applies and parses runs the project's quick tests (base and patched)
# before the Evaluator; a regression goes back to the VibeCoder (agents_app/quick_tests.py).
VIBECODE_RUN_QUICK_TESTS: bool = env.bool("VIBECODE_RUN_QUICK_TESTS", default=True)
# How often the live text of a model response is sent to browsers (`message_delta`).
MESSAGE_DELTA_INTERVAL_SECONDS: float = env.float("MESSAGE_DELTA_INTERVAL_SECONDS", default=0.05)
# A run belongs to the process whose heartbeat on the session row is fresh: it writes
# one every RUN_HEARTBEAT_SECONDS, and any process takes over (or marks interrupted) a
# run not heard from for RUN_STALE_AFTER_SECONDS. Processes need no other coordination.
RUN_HEARTBEAT_SECONDS: float = env.float("RUN_HEARTBEAT_SECONDS", default=10.0)
RUN_STALE_AFTER_SECONDS: float = env.float("RUN_STALE_AFTER_SECONDS", default=60.0)
if RUN_STALE_AFTER_SECONDS <= 2 * RUN_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "RUN_STALE_AFTER_SECONDS must be more than twice RUN_HEARTBEAT_SECONDS, "
        "or a slow heartbeat makes a live run look dead."
    )
# On SIGTERM/SIGINT, how long the runs get to end (`interrupted`, `run_finished`)
# before the process exits; keep it under the platform's kill timeout (fly.toml).
RUN_SHUTDOWN_SECONDS: float = env.float("RUN_SHUTDOWN_SECONDS", default=10.0)
# On SIGTERM/SIGINT, the most a web process takes from the signal to its exit
# (vibegrapher/server/shutdown.py): requests in flight get all but the last 2 s of it
# to finish, then are answered 503 with Retry-After; runs end meanwhile (within
# RUN_SHUTDOWN_SECONDS) and WebSockets close with 1012. Keep it under the platform's
# kill timeout (fly.toml's kill_timeout, 20 s).
SHUTDOWN_GRACE_SECONDS: float = env.float("SHUTDOWN_GRACE_SECONDS", default=15.0)

# --- Sandbox for diff tests -----------------------------------------------------
# "bwrap" (bubblewrap, the default) or "unsafe-subprocess" (no isolation; only when
# the operator accepts it, and then shown on every result).
TEST_SANDBOX: str = env.str("TEST_SANDBOX", default="bwrap")
# One memory budget for all of a test's processes and its tmpfs files (MB); the size of
# each of its writable tmpfs: its directory, /tmp and /dev/shm (MB); sandboxes alive at
# once per server process (further tests queue).
TEST_MEMORY_MB: int = env.int("TEST_MEMORY_MB", default=512)
TEST_DISK_MB: int = env.int("TEST_DISK_MB", default=32)
TEST_SANDBOX_CONCURRENCY: int = env.int("TEST_SANDBOX_CONCURRENCY", default=2)
# Sandboxes kept started per server process, the Agents SDK already imported, for tests
# that import a workflow (testruns/sandbox/warm.py); 0: none. Each costs its
# interpreter's memory while it waits (about 100 MB resident, 80 MB not shared with the
# others), counted in its job's TEST_MEMORY_MB, and a full SDK import to replace.
TEST_SANDBOX_WARM: int = env.int("TEST_SANDBOX_WARM", default=4)

# --- Trial runs of a project's workflow (trials/) -----------------------------------
# Each trial runs the workflow in a sandbox (the limits above, but its own wall time
# and its own slots: a trial never holds a test's slot). Its model calls leave the
# sandbox only through this process's proxy, which adds the key and enforces the
# budget: model requests, tokens and dollars per trial, dollars per user per day.
TRIAL_WALL_SECONDS: float = env.float("TRIAL_WALL_SECONDS", default=120.0)
TRIAL_MAX_TURNS: int = env.int("TRIAL_MAX_TURNS", default=10)
TRIAL_MAX_MODEL_REQUESTS: int = env.int("TRIAL_MAX_MODEL_REQUESTS", default=20)
TRIAL_MAX_TOKENS: int = env.int("TRIAL_MAX_TOKENS", default=200_000)
TRIAL_MAX_COST_USD: float = env.float("TRIAL_MAX_COST_USD", default=0.50)
TRIAL_DAILY_COST_USD: float = env.float("TRIAL_DAILY_COST_USD", default=5.00)
# Trials running at once per server process (more wait), and per user (more are refused).
TRIAL_CONCURRENCY: int = env.int("TRIAL_CONCURRENCY", default=2)
TRIAL_MAX_RUNNING_PER_USER: int = env.int("TRIAL_MAX_RUNNING_PER_USER", default=2)

# --- Behaviour cases (cases/) ----------------------------------------------------------
# What one run of a project's cases may spend (a vibecode run's, across its rounds, or
# one "run the cases" of a diff): model requests (the trials' and the judge's), dollars.
BEHAVIOUR_MAX_REQUESTS: int = env.int("BEHAVIOUR_MAX_REQUESTS", default=60)
BEHAVIOUR_MAX_COST_USD: float = env.float("BEHAVIOUR_MAX_COST_USD", default=1.00)

# --- Sandbox jobs: in this process, or queued to workers -------------------------------
# Where sandboxed jobs run (testruns/jobs.py, docs/sandbox.md#workers): "inline" (this
# process, the default and `make run`), "queue" (a web process that runs none: it sends
# them to the workers, `python -m testruns.worker`, through Celery on Redis and awaits
# them), "worker" (set by the worker command itself).
SANDBOX_JOBS: str = env.str("SANDBOX_JOBS", default="inline")
if SANDBOX_JOBS not in ("inline", "queue", "worker"):
    raise ImproperlyConfigured(f"SANDBOX_JOBS={SANDBOX_JOBS!r} is unknown: use inline or queue.")
# The queue's Redis (Celery's broker, and the jobs' replies and leases).
SANDBOX_BROKER_URL: str = env.str("SANDBOX_BROKER_URL", default=REDIS_URL)
if SANDBOX_JOBS == "queue" and not SANDBOX_BROKER_URL:
    raise ImproperlyConfigured(
        "SANDBOX_JOBS=queue needs a Redis for its queue: set REDIS_URL (or SANDBOX_BROKER_URL)."
    )
# Fair share: one user's jobs queued or running at once, across every web process; the
# user's further jobs wait their turn in the web process.
SANDBOX_JOBS_PER_USER: int = env.int("SANDBOX_JOBS_PER_USER", default=4)
# A queued job no worker takes within this long fails with a message naming the workers.
SANDBOX_QUEUE_WAIT_SECONDS: float = env.float("SANDBOX_QUEUE_WAIT_SECONDS", default=600.0)
# On SIGTERM a worker lets its running jobs finish for this long, then stops and requeues
# them; keep it under the platform's kill timeout (fly.toml kill_timeout).
SANDBOX_WORKER_DRAIN_SECONDS: float = env.float("SANDBOX_WORKER_DRAIN_SECONDS", default=15.0)
# What else a worker may be asked to run (testruns.jobs.send_call): a trial run, with
# its model proxy beside its sandbox.
SANDBOX_WORKER_CALLS = ["trials.runs.run_queued"]

# --- Crash tests ------------------------------------------------------------------
# A named instant at which the process SIGKILLs itself (vibegrapher/lib/faults.py), for the
# crash-safety tests only: honoured only with DEBUG on, so production cannot enable it.
FAULT_POINT: str = env.str("VIBEGRAPHER_FAULT_POINT", default="") if DEBUG else ""

# --- Internationalisation -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Production hardening (active when DEBUG is off) ----------------------------
if not DEBUG:
    # Fly's proxy terminates TLS and sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# --- Logging: one line per event on stdout --------------------------------------
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {
            "()": "vibegrapher.lib.logformat.OneLineFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}
