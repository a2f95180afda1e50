"""Deterministic generator of realistic tenant data for the demo, tests and benchmarks.

generator.py plans the records (pure, seeded), writer.py COPYs them into the current schema,
demo.py is the `make run` seeder.
"""

from apps.accounts.seed.demo import seed_demo

__all__ = ["seed_demo"]
