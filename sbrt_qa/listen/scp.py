"""``sbrt-qa listen``: a DICOM Storage SCP (pynetdicom) that checks plans as they arrive.

* Accepts RT Plan (photon, ion, Varian's private class), RT Structure Set, RT Dose, CT and
  MR images (stored, not used) and Verification.
* Each object is stored atomically before success goes back; names come from UIDs only.
* A study is examined when an association that sent to it is released, or after
  ``idle_seconds`` without new objects; complete plan sets are checked once per version.
* Never goes down over bad data: a malformed data set gets a failure status, and a check
  that raises is logged and recorded as an error report.
* Only allow-listed calling AE titles (and hosts) may associate; a per-association byte
  cap aborts an association that sends too much.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from ..load import sop
from ..protocol.schema import Protocol
from .checker import PlanChecker
from .store import StoreError, clean_partial, store

#: Storage SOP classes accepted.
ACCEPTED = (sop.RT_PLAN, sop.RT_ION_PLAN, sop.VARIAN_PRIVATE_RT_PLAN, sop.RT_STRUCTURE_SET, sop.RT_DOSE, *sorted(sop.IMAGE_CLASSES))
TRANSFER_SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.5"]
FAILURE_CANNOT_UNDERSTAND = 0xC000
FAILURE_OUT_OF_RESOURCES = 0xA700


@dataclass
class _Association:
    calling_ae: str
    host: str
    objects: int = 0
    bytes: int = 0
    failures: int = 0
    studies: set[Path] = field(default_factory=set)


class Listener:
    """A running Storage SCP; ``start()`` returns at once, ``stop()`` shuts down cleanly."""

    def __init__(self, store_dir: Path, reports_dir: Path, protocol: Protocol, *, ae_title: str = "SBRTQA", host: str = "0.0.0.0",
                 port: int = 11112, allow_ae: list[str] | None = None, allow_host: list[str] | None = None,
                 max_association_bytes: int | None = None, idle_seconds: float = 30.0, log: logging.Logger | None = None) -> None:
        self.store_dir, self.reports_dir = store_dir, reports_dir
        self.log = log or logging.getLogger("sbrt_qa.listen")
        self.checker = PlanChecker(reports_dir, protocol, self.log)
        self.host, self.port = host, port
        self.allow_host = set(allow_host or [])
        self.max_bytes = max_association_bytes
        self.idle_seconds = idle_seconds
        self._assocs: dict[int, _Association] = {}
        self._pending: dict[Path, float] = {}  # study folder -> time of the last object received
        self._release_queue: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = None
        self._worker: threading.Thread | None = None
        self.ae = AE(ae_title=ae_title)
        for uid in ACCEPTED:
            self.ae.add_supported_context(uid, TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        if allow_ae:
            self.ae.require_calling_aet = list(allow_ae)
        self.ae.maximum_associations = 16
        self.ae.network_timeout = 60
        self.ae.acse_timeout = 10  # a connection that never asks for an association (a port scan) is dropped soon

    # --- event handlers (pynetdicom threads) -------------------------------------------
    def _established(self, event) -> None:
        requestor = event.assoc.requestor
        with self._lock:
            self._assocs[id(event.assoc)] = _Association(str(requestor.ae_title).strip(), str(requestor.address))

    def _data(self, event) -> None:
        with self._lock:
            a = self._assocs.get(id(event.assoc))
            if a is None:
                return
            a.bytes += len(event.data)
            over = self.max_bytes is not None and a.bytes > self.max_bytes
        if over:
            self.log.warning("association from %s@%s exceeded %d bytes: aborted", a.calling_ae, a.host, self.max_bytes)
            event.assoc.abort()

    def _store(self, event) -> int:
        a = self._assocs.get(id(event.assoc))
        try:
            ds = event.dataset
            if str(ds.get("SOPClassUID", "")) != str(event.request.AffectedSOPClassUID):
                raise StoreError("SOPClassUID does not match the C-STORE request")
            path = store(self.store_dir, ds, event.file_meta)
        except StoreError as exc:
            self.log.warning("refused object from %s: %s", a.calling_ae if a else "?", exc)
            if a:
                a.failures += 1
            return FAILURE_CANNOT_UNDERSTAND
        except OSError as exc:
            self.log.error("cannot store object: %s", exc)
            return FAILURE_OUT_OF_RESOURCES
        except Exception as exc:  # a data set pydicom cannot decode
            self.log.warning("refused malformed object from %s: %s: %s", a.calling_ae if a else "?", type(exc).__name__, exc)
            if a:
                a.failures += 1
            return FAILURE_CANNOT_UNDERSTAND
        with self._lock:
            if a:
                a.objects += 1
                a.studies.add(path.parent)
            self._pending[path.parent] = time.monotonic()
        return 0x0000

    def _ended(self, event, how: str) -> None:
        with self._lock:
            a = self._assocs.pop(id(event.assoc), None)
            if a and how == "released":
                self._release_queue.update(a.studies)
        if a:
            self.log.info("association from %s@%s %s: %d object(s) stored, %d refused, %d bytes", a.calling_ae, a.host, how, a.objects, a.failures, a.bytes)

    # --- checking -------------------------------------------------------------------------
    def _check_loop(self) -> None:
        while not self._stop.is_set():
            self._check_due()
            self._stop.wait(0.25)
        self._check_due(final=True)

    def _check_due(self, final: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            due = set(self._release_queue)
            self._release_queue.clear()
            due |= {f for f, t in self._pending.items() if final or now - t >= self.idle_seconds}
            for f in due:
                self._pending.pop(f, None)
        for folder in sorted(due):
            try:
                self.checker.check_folder(folder)
            except Exception as exc:  # keep serving whatever a check does
                self.log.exception("checking %s failed: %s", folder.name, exc)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        removed = clean_partial(self.store_dir)
        if removed:
            self.log.info("removed %d partial file(s) left by an interrupted transfer", removed)
        handlers = [
            (evt.EVT_ESTABLISHED, self._established),
            (evt.EVT_DATA_RECV, self._data),
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_RELEASED, lambda e: self._ended(e, "released")),
            (evt.EVT_ABORTED, lambda e: self._ended(e, "aborted")),
        ]
        self._server = self.ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        if self.allow_host:
            allowed = self.allow_host
            log = self.log

            def verify_request(request, client_address) -> bool:
                if client_address[0] in allowed:
                    return True
                log.warning("connection from %s refused: host not on the allow list", client_address[0])
                return False

            self._server.verify_request = verify_request  # socketserver's per-connection hook: refused before association
        self.port = self._server.server_address[1]
        self._worker = threading.Thread(target=self._check_loop, name="sbrt-qa-checker", daemon=True)
        self._worker.start()
        self.log.info("listening as %s on %s:%d; store %s, reports %s", self.ae.ae_title, self.host, self.port, self.store_dir, self.reports_dir)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, let associations in flight finish (up to ``timeout``), check what arrived."""
        if self._server is not None:
            # socketserver would join every connection thread, idle probes included; the
            # established associations are waited for below, with a bound.
            self._server.block_on_close = False
            self._server.shutdown()
            deadline = time.monotonic() + timeout
            while self._assocs and time.monotonic() < deadline:
                time.sleep(0.1)
            self._server = None
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        self.log.info("stopped")
