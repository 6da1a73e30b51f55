"""``sbrt-qa listen``: a DICOM Storage SCP (pynetdicom) that checks plans as they arrive.

* Accepts every storage SOP class (and Varian's private RT Plan, and Verification): what
  it does not use (images, registrations, PET, CBCT ...) is stored and ignored, and the
  log says so once per association and class.
* Each object is received as the bytes the sender encoded, group 0002 stripped, verified
  whole by the loaders' truncation check, then stored atomically, before success goes
  back. A cut or corrupt object gets 0xC000 and never replaces a good copy.
* A study is examined when an association that sent to it is released, or after
  ``idle_seconds`` without new objects; complete plan sets are checked once per version.
  Studies waiting for a check are journalled (SQLite beside the store), so a check lost to
  a crash or restart is done after the restart.
* Only allow-listed calling AE titles may associate (or any, if asked for explicitly);
  hosts off the host list get an A-ASSOCIATE-RJ. Connections that stay silent are closed
  after ``connection_timeout`` (before association) or ``network_timeout`` (after), so
  idle sockets cannot hold the association slots.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from ..load import sop
from ..protocol.schema import Protocol
from .checker import PlanChecker, printable
from .journal import NAME as JOURNAL_NAME
from .journal import Journal
from .store import StoreError, clean_partial, store_encoded

TRANSFER_SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5"]
#: Storage SOP classes accepted: every one pynetdicom knows, and Varian's private RT Plan.
ACCEPTED = tuple(sorted({str(c.abstract_syntax) for c in AllStoragePresentationContexts} | {sop.VARIAN_PRIVATE_RT_PLAN}))
FAILURE_CANNOT_UNDERSTAND = 0xC000
FAILURE_OUT_OF_RESOURCES = 0xA700
USED_KINDS = (sop.RTPLAN, sop.RTSTRUCT, sop.RTDOSE)
#: Connections (associated or not yet) allowed per association slot before pynetdicom itself rejects.
CONNECTIONS_PER_SLOT = 8


class ListenerConfigError(ValueError):
    """The listener was set up insecurely or inconsistently."""


@dataclass
class _Association:
    calling_ae: str
    host: str
    objects: int = 0
    bytes: int = 0
    failures: int = 0
    studies: set[Path] = field(default_factory=set)
    unused: dict[str, int] = field(default_factory=dict)  # SOP class -> objects stored but not used


class Listener:
    """A running Storage SCP; ``start()`` returns at once, ``stop()`` shuts down cleanly.

    Parameters
    ----------
    allow_ae : list of str, optional
        Calling AE titles allowed to associate. Required unless ``allow_any_ae``.
    allow_any_ae : bool
        Accept any calling AE title: must be asked for explicitly.
    allow_host : list of str, optional
        Hosts allowed to associate; others get an A-ASSOCIATE-RJ.
    connection_timeout : float
        Seconds a connection may stay silent before its association request (ACSE timeout).
    network_timeout : float
        Seconds an established association may stay silent before it is aborted.
    max_associations : int
        Concurrent associations (and unassociated connections) before new ones are rejected.
    """

    def __init__(self, store_dir: Path, reports_dir: Path, protocol: Protocol, *, ae_title: str = "SBRTQA", host: str = "0.0.0.0",
                 port: int = 11112, allow_ae: list[str] | None = None, allow_any_ae: bool = False, allow_host: list[str] | None = None,
                 max_association_bytes: int | None = None, idle_seconds: float = 30.0, connection_timeout: float = 5.0,
                 network_timeout: float = 30.0, max_associations: int = 32, log: logging.Logger | None = None) -> None:
        if not allow_ae and not allow_any_ae:
            raise ListenerConfigError("name the calling AE titles allowed to send (--allow-ae TPS1,TPS2), or accept any explicitly (--allow-any-ae)")
        if allow_ae and allow_any_ae:
            raise ListenerConfigError("--allow-ae and --allow-any-ae exclude each other")
        for name, value in (("connection timeout", connection_timeout), ("network timeout", network_timeout), ("idle seconds", idle_seconds)):
            if not value > 0:
                raise ListenerConfigError(f"the {name} must be positive (got {value})")
        self.store_dir, self.reports_dir = Path(store_dir), Path(reports_dir)
        self.log = log or logging.getLogger("sbrt_qa.listen")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.store_dir / JOURNAL_NAME)
        self.checker = PlanChecker(self.reports_dir, protocol, self.log, self.journal)
        self.host, self.port = host, port
        self.allow_host = set(allow_host or [])
        self.max_bytes = max_association_bytes
        self.idle_seconds = idle_seconds
        self._assocs: dict[int, _Association] = {}
        self._pending: dict[Path, float] = {}  # study folder -> time of the last object received
        self._release_queue: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._server = None
        self._worker: threading.Thread | None = None
        self.ae = AE(ae_title=ae_title)
        for uid in ACCEPTED:
            self.ae.add_supported_context(uid, TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        if allow_ae:
            self.ae.require_calling_aet = list(allow_ae)
        # pynetdicom counts every connection, silent ones included, against its limit: the
        # limit on associations is ours (established ones, in _requested), and pynetdicom's
        # is a backstop well above it, so silent sockets cannot take the senders' slots.
        self.max_associations = max_associations
        self.ae.maximum_associations = max_associations * CONNECTIONS_PER_SLOT
        # A connection that never asks for an association (a port scan, a stuck sender) and
        # an association that goes silent are both dropped soon: neither holds a slot for long.
        self.ae.acse_timeout = connection_timeout
        self.ae.network_timeout = network_timeout
        self.ae.dimse_timeout = network_timeout
        self.checked = threading.Condition()  # notified after each round of checks
        self._ended_count = 0  # associations ended so far
        self._settled_upto = 0  # associations whose studies a finished round of checks has seen

    # --- event handlers (pynetdicom threads) -------------------------------------------
    def _requested(self, event) -> None:
        host = str(event.assoc.requestor.address)
        if self.allow_host and host not in self.allow_host:
            self.log.warning("association from %s refused: host not on the allow list", printable(host))
            self._reject(event.assoc, 0x01, 0x01, 0x01)  # rejected-permanent, service user, no reason given
            return
        with self._lock:
            full = len(self._assocs) >= self.max_associations
        if full:
            self.log.warning("association from %s refused: %d associations in progress", printable(host), self.max_associations)
            self._reject(event.assoc, 0x02, 0x03, 0x02)  # rejected-transient, presentation, local limit exceeded

    @staticmethod
    def _reject(assoc, result: int, source: int, reason: int) -> None:
        assoc.acse.send_reject(result, source, reason)
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()

    def _established(self, event) -> None:
        requestor = event.assoc.requestor
        with self._lock:
            self._assocs[id(event.assoc)] = _Association(printable(str(requestor.ae_title).strip()), printable(requestor.address))

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
        who = a.calling_ae if a else "?"
        try:
            data = event.encoded_dataset(include_meta=False)
            path, ds = store_encoded(self.store_dir, event.file_meta, data, str(event.request.AffectedSOPClassUID))
        except StoreError as exc:
            what = "incomplete object" if exc.incomplete else "object"
            self.log.warning("refused %s from %s (not stored): %s", what, who, printable(exc, 500))
            if a:
                a.failures += 1
            return FAILURE_CANNOT_UNDERSTAND
        except OSError as exc:  # the store is full or unwritable: the sender should try again later
            self.log.error("cannot store object from %s: %s", who, printable(exc))
            return FAILURE_OUT_OF_RESOURCES
        except Exception as exc:  # a data set pydicom cannot decode
            self.log.warning("refused malformed object from %s: %s: %s", who, type(exc).__name__, printable(exc, 500))
            if a:
                a.failures += 1
            return FAILURE_CANNOT_UNDERSTAND
        kind = sop.kind_of(str(ds.get("SOPClassUID", "")))
        if kind not in USED_KINDS:
            if a:
                a.unused[str(ds.SOPClassUID)] = a.unused.get(str(ds.SOPClassUID), 0) + 1
            with self._lock:
                if a:
                    a.objects += 1
            return 0x0000
        try:
            self.journal.add_pending(path.parent)  # before success goes back: a crash cannot lose the check
        except Exception as exc:  # sqlite3 or OSError: the check could be lost, so the sender must retry
            self.log.error("cannot journal the pending check of %s: %s", printable(path.parent.name), printable(exc))
            return FAILURE_OUT_OF_RESOURCES
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
                self._ended_count += 1
        if a:
            self.log.info("association from %s@%s %s: %d object(s) stored, %d refused, %d bytes", a.calling_ae, a.host, how, a.objects, a.failures, a.bytes)
            for uid, n in sorted(a.unused.items()):
                self.log.info("stored %d object(s) of SOP class %s (%s): not used by the check", n, uid, printable(_class_name(uid)))
            self._wake.set()

    # --- checking -------------------------------------------------------------------------
    def _check_loop(self) -> None:
        while not self._stop.is_set():
            self._check_due()
            self._wake.wait(min(0.25, self.idle_seconds))
            self._wake.clear()
        self._check_due(final=True)

    def _check_due(self, final: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            ended = self._ended_count
            due = set(self._release_queue)
            self._release_queue.clear()
            due |= {f for f, t in self._pending.items() if final or now - t >= self.idle_seconds}
            for f in due:
                self._pending.pop(f, None)
        for folder in sorted(due):
            retry = False
            try:
                retry = any(o.environment for o in self.checker.check_folder(folder))
            except Exception as exc:  # keep serving whatever a check does
                self.log.exception("checking %s failed: %s", printable(folder.name), printable(exc))
                retry = True
            if retry and not final:
                self.log.warning("check of %s will be tried again in %.0f s", printable(folder.name), self.idle_seconds)
                with self._lock:
                    self._pending.setdefault(folder, time.monotonic())
            elif not retry:
                self.journal.remove_pending(folder)
        with self.checked:
            self._settled_upto = ended
            self.checked.notify_all()

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        removed = clean_partial(self.store_dir)
        if removed:
            self.log.info("removed %d partial file(s) left by an interrupted transfer", removed)
        waiting = [f for f in self.journal.pending() if f.is_dir()]
        if waiting:
            self.log.info("%d stud(y/ies) waiting for a check since before the restart: checking them now", len(waiting))
            with self._lock:
                self._release_queue.update(waiting)
        handlers = [
            (evt.EVT_REQUESTED, self._requested),
            (evt.EVT_ESTABLISHED, self._established),
            (evt.EVT_DATA_RECV, self._data),
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_RELEASED, lambda e: self._ended(e, "released")),
            (evt.EVT_ABORTED, lambda e: self._ended(e, "aborted")),
        ]
        self._server = self.ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        self.port = self._server.server_address[1]
        self._worker = threading.Thread(target=self._check_loop, name="sbrt-qa-checker", daemon=True)
        self._worker.start()
        allowed = "any calling AE title" if not self.ae.require_calling_aet else "AE " + ",".join(self.ae.require_calling_aet)
        self.log.info("listening as %s on %s:%d (%s); store %s, reports %s", self.ae.ae_title, self.host, self.port, allowed,
                      self.store_dir, self.reports_dir)

    def wait_settled(self, associations: int, timeout: float = 60.0) -> bool:
        """Wait until ``associations`` associations have ended and every study they released is checked.

        Studies of aborted associations wait for ``idle_seconds``: this does not wait for them.
        Returns False on timeout.
        """
        deadline = time.monotonic() + timeout
        with self.checked:
            while self._settled_upto < associations:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.checked.wait(min(left, 0.5))
        return True

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
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout)
        self.log.info("stopped")


def _class_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name
