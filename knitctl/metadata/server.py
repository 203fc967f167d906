"""`knitctl metadata serve`: ML Metadata's gRPC service over a knit metadata store.

Speaks `ml_metadata.MetadataStoreService` on the wire, so ml-metadata's own client
(`MetadataStore(MetadataStoreClientConfig(host, port))`) and raw stubs from
`metadata_store_service_pb2_grpc` work against it. Requests are read by `_wire` (no protobuf
needed) and answered by `rpc`; a store's StatusError goes back as the matching gRPC status.

Safe by default: it binds 127.0.0.1; another address needs TLS (a certificate and key, optionally a
CA whose certificates clients must show) or an explicit `insecure`. A bearer token, when set, is
required of every call (`authorization: Bearer <token>` metadata). Requests larger than the maximum
message size are refused with RESOURCE_EXHAUSTED, malformed ones with INVALID_ARGUMENT; both leave
the server serving. Each call is one store transaction, so a client that goes away mid-call leaves
either the whole write or none of it. `stop()` (SIGTERM, from `serve`) lets in-flight calls finish.
One log line per start, stop and failed call; never a secret.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc  # type: ignore[import-untyped]

from ..errors import UsageError
from . import _wire, errors, rpc
from . import service_pb2 as svc
from .metadata_store import MetadataStore

log = logging.getLogger("knit.metadata.server")

DEFAULT_PORT = 8080  # ml-metadata's server listens here too
DEFAULT_MAX_MESSAGE = 64 << 20
_STATUS = {code.value[0]: code for code in grpc.StatusCode}


@dataclass
class Settings:
    """Where and how to serve. PEM contents (not file names) for the TLS parts; `token` is a secret."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    client_ca: bytes | None = None
    insecure: bool = False
    token: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE
    workers: int = 8
    grace_seconds: float = 30.0

    def __repr__(self) -> str:  # never shows the token or the key
        return (f"Settings(host={self.host!r}, port={self.port}, tls={self.tls_cert is not None}, "
                f"mutual_tls={self.client_ca is not None}, token={'set' if self.token else 'none'})")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_settings(s: Settings) -> None:
    """UsageError for settings that would expose the store or cannot work."""
    if (s.tls_cert is None) != (s.tls_key is None):
        raise UsageError("TLS needs both a certificate and its key: give --tls-cert and --tls-key together")
    if s.client_ca is not None and s.tls_cert is None:
        raise UsageError("--client-ca checks client certificates over TLS: give --tls-cert and --tls-key too")
    if not is_loopback(s.host) and s.tls_cert is None and not s.insecure:
        raise UsageError(
            f"refusing to serve the metadata store on {s.host} without TLS: anyone who can reach it could read and "
            f"write it; give --tls-cert and --tls-key (and --client-ca to require client certificates), or "
            f"--insecure to serve it in the clear anyway"
        )
    if not 0 <= s.port <= 65535:
        raise UsageError(f"--port {s.port} is not a port number (0-65535; 0 picks a free one)")
    if s.max_message_bytes < 1024:
        raise UsageError(f"the maximum message size must be at least 1 KiB, not {s.max_message_bytes} bytes")


class Stores:
    """The store each call uses: one shared (an in-memory store must be) or one per server thread."""

    def __init__(self, open_store: Callable[[], MetadataStore], shared: bool):
        self._open = open_store
        self._shared = open_store() if shared else None
        self._local = threading.local()
        self._all: list[MetadataStore] = [self._shared] if self._shared is not None else []
        self._lock = threading.Lock()
        if self._shared is None:  # open one now: a store that cannot be opened fails at start, not per call
            first = open_store()
            self._local.store = first
            self._all.append(first)

    def get(self) -> MetadataStore:
        if self._shared is not None:
            return self._shared
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self._open()
            with self._lock:
                self._all.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            stores, self._all = self._all, []
        for s in stores:
            s.close()


class MetadataServer:
    """The gRPC server: `start()` gives the bound port, `stop()` drains and closes the stores."""

    def __init__(self, stores: Stores, settings: Settings):
        check_settings(settings)
        self.stores = stores
        self.settings = settings
        self._token = settings.token.encode() if settings.token else None
        size = settings.max_message_bytes
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="knit-metadata"),
            options=[("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size),
                     ("grpc.so_reuseport", 0)],
        )
        handlers = {name: grpc.unary_unary_rpc_method_handler(self._behaviour(name)) for name in svc.METHODS}
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(svc.SERVICE, handlers),))
        self.port = 0

    def start(self) -> int:
        s = self.settings
        address = f"[{s.host}]:{s.port}" if ":" in s.host else f"{s.host}:{s.port}"
        try:
            if s.tls_cert is not None:
                creds = grpc.ssl_server_credentials([(s.tls_key, s.tls_cert)], root_certificates=s.client_ca,
                                                    require_client_auth=s.client_ca is not None)
                self.port = self._server.add_secure_port(address, creds)
            else:
                self.port = self._server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if not self.port:
            raise UsageError(f"cannot listen on {address}: the port is in use or the address is not this machine's; "
                             f"choose another --port (0 picks a free one) or --host")
        self._server.start()
        return self.port

    def draining(self, grace: float | None = None) -> threading.Event:
        """Refuse new calls from now on; the event is set once the running ones have finished (or `grace` is up)."""
        return self._server.stop(self.settings.grace_seconds if grace is None else grace)

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let the running ones finish (up to `grace` seconds), close the stores."""
        self.draining(grace).wait()
        self.stores.close()

    # -- one call ---------------------------------------------------------------------------

    def _authorized(self, context) -> bool:
        if self._token is None:
            return True
        for key, value in context.invocation_metadata():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, b"Bearer " + self._token)
        return False

    def _behaviour(self, method: str):
        request_type = svc.request_type(method)

        def call(raw: bytes, context):
            status, result = self._run(method, request_type, raw, context)
            if status is None:
                return result  # the response's bytes
            log.warning("%s failed: %s: %s", method, status.name, result)
            context.abort(status, result)

        return call

    def _run(self, method: str, request_type: type, raw: bytes, context) -> tuple[grpc.StatusCode | None, object]:
        """(None, the response's bytes), or (the status, its message) of a failed call."""
        if not self._authorized(context):
            return grpc.StatusCode.UNAUTHENTICATED, "this server asks for a bearer token (authorization metadata)"
        try:
            request = _wire.decode(request_type, raw)
        except ValueError as e:
            return grpc.StatusCode.INVALID_ARGUMENT, f"malformed {request_type.__name__}: {e}"
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline passed before it started"
        try:
            response = rpc.handle(self.stores.get(), method, request)
            return None, _wire.encode(response)
        except errors.StatusError as e:
            return _STATUS.get(e.error_code, grpc.StatusCode.UNKNOWN), e.message
        except Exception as e:  # a bug: the caller gets INTERNAL, the server keeps serving
            log.exception("%s: unexpected error", method)
            return grpc.StatusCode.INTERNAL, f"{method} failed inside the server: {type(e).__name__}: {e}"


def serve(stores: Stores, settings: Settings, where: str) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight calls and stop (the CLI's foreground loop)."""
    server = MetadataServer(stores, settings)
    try:
        port = server.start()
    except BaseException:
        stores.close()
        raise
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum, frame):
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    tls = "mutual TLS" if settings.client_ca else "TLS" if settings.tls_cert else "no TLS"
    log.info("serving %s on %s:%d (%s, %s, %s)", svc.SERVICE, settings.host, port, where, tls,
             "bearer token required" if settings.token else "no token")
    try:
        while not stop.wait(3600):
            pass
        log.info("%s received: draining in-flight calls (up to %gs)", received[0], settings.grace_seconds)
        server.stop()
        log.info("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
