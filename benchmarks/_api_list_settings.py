"""The project's settings with a URLconf that adds the plain reference view of api_list."""

from fullfield.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks._api_list_urls"
