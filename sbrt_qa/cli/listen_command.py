"""``sbrt-qa listen`` and ``sbrt-qa watch``: long-running services; SIGTERM or SIGINT stops them cleanly."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from ..errors import InputError
from ..protocol import find_protocol


def _service_logging() -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log = logging.getLogger("sbrt_qa.service")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _split(values: str | None) -> list[str]:
    return [v.strip() for v in (values or "").split(",") if v.strip()]


def run_listen(args: argparse.Namespace) -> int:
    from ..listen.scp import Listener, ListenerConfigError

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} is not a TCP port")
    protocol = find_protocol(args.protocol)
    log = _service_logging()
    try:
        listener = Listener(Path(args.store), Path(args.reports), protocol, ae_title=args.ae_title, host=args.host, port=args.port,
                            allow_ae=_split(args.allow_ae), allow_any_ae=args.allow_any_ae, allow_host=_split(args.allow_host),
                            max_association_bytes=args.max_association_bytes, idle_seconds=args.idle_seconds,
                            connection_timeout=args.connection_timeout, network_timeout=args.network_timeout,
                            max_associations=args.max_associations, log=log)
    except ListenerConfigError as exc:
        raise InputError(str(exc)) from None
    stop = _stop_on_signals()
    try:
        listener.start()
    except OSError as exc:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    # Python runs signal handlers in the main thread only, and a wait without timeout is not
    # woken by a signal the kernel delivered to another thread: poll so SIGTERM is never lost.
    while not stop.wait(0.5):
        pass
    log.info("shutting down: finishing associations in flight")
    listener.stop()
    return 0


def run_watch(args: argparse.Namespace) -> int:
    from ..listen.watch import Watcher

    folder = Path(args.dir)
    if not folder.is_dir():
        raise InputError("no such directory", folder)
    watcher = Watcher(folder, Path(args.reports), find_protocol(args.protocol), interval=args.interval, stable_seconds=args.stable_seconds,
                      log=_service_logging())
    watcher.run(_stop_on_signals())
    return 0
