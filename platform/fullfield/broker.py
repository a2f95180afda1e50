"""Kombu's Redis transport with one fix: a worker survives the broker going away.

When a worker loses its broker connection, Celery 5.7 first collects the connection (which
drops the transport's reference to it) and then closes it. Closing the channel restores the
worker's unacknowledged messages, and kombu 5.7 builds a new Redis client for that from the
connection just dropped: an AttributeError, which Celery treats as unrecoverable, so the worker
exits instead of reconnecting. Those messages wait in Redis's unacked hash regardless (the
broker is unreachable, nothing could be restored now), and any worker puts them back once the
visibility timeout has passed; so when the connection is gone the restore is skipped, and the
worker reconnects like after any other connection error.

Registered for redis://, rediss:// and redis+socket:// URLs in fullfield.celery_app.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis


class QoS(redis.QoS):
    def restore_unacked(self, client: Any = None) -> None:
        if client is None and self.channel.connection.client is None:
            if self._delivered is not None:
                self._delivered.clear()
            return
        super().restore_unacked(client)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
