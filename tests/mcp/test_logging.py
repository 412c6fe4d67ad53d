"""The gateway's log on stderr: one INFO line per tool call (the gate's decision), not one per HTTP
request as well (httpx for Quorum, httpx2 for the upstream), which cost a write on every call."""

from __future__ import annotations

import logging

from quorum_mcp.__main__ import configure_logging


def test_http_clients_do_not_log_each_request():
    loggers = [logging.getLogger(name) for name in ("httpx", "httpx2", "")]
    levels = [logger.level for logger in loggers]
    try:
        # What basicConfig(level=INFO) does in the gateway's process (under pytest it is a no-op).
        logging.getLogger().setLevel(logging.INFO)
        configure_logging()
        for logger in loggers[:2]:
            assert not logger.isEnabledFor(logging.INFO), logger.name
        assert logging.getLogger("quorum_sdk").isEnabledFor(logging.WARNING)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
