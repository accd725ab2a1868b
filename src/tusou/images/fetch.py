"""Fetch an image by URL without letting callers reach the server's own network (SSRF).

Every hop (the URL and each redirect) is parsed, its host resolved once, and refused if any
address is not public. The connection is then made to exactly those validated addresses: a
network backend under httpcore (httpx's transport layer) maps host -> pinned addresses, so a
second DNS answer (rebinding) never gets a say, while the URL keeps its hostname and the Host
header, TLS SNI and certificate check stay those of the real host. The same backend clamps
every socket operation to one overall deadline.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from tusou.errors import (
    EmptyImage,
    ImageTooLarge,
    InvalidParameter,
    MissingParameter,
    ParameterTooLong,
    UrlFetchFailed,
    UrlForbidden,
    UrlTimeout,
)

Resolver = Callable[[str, int], list[str]]

_FIELD = "url"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)
_USER_AGENT = b"tusou-image-fetch/1"
# Shared address space (RFC 6598); listed explicitly as ipaddress's view of it varies by version.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# NAT64 prefixes: the gateway turns them into the embedded IPv4 address.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    content_type: str | None  # MIME type without parameters, lower-case
    final_url: str  # the URL after redirects


@dataclass(frozen=True)
class _Hop:
    url: httpx.URL
    host: str  # ASCII (IDNA), IPv6 without brackets
    port: int


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses the system resolver gives for ``host`` (numeric forms normalised)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def is_public_address(address: str, *, allow_loopback: bool = False) -> bool:
    """Whether connecting to ``address`` stays on the public internet (or loopback if allowed)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # what cannot be parsed cannot be vouched for
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(str(ip.ipv4_mapped), allow_loopback=allow_loopback)
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    if allow_loopback and ip.is_loopback:
        return True
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _CGNAT
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class UrlFetcher:
    """Downloads one image per ``fetch`` call; holds only configuration, safe to share."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        timeout_s: float = 10.0,
        max_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 3,
        max_url_length: int = 1024,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._max_url_length = max_url_length
        self._resolver = resolver or system_resolver
        # Built once: loading the CA bundle costs milliseconds, and a context is thread-safe.
        self._ssl_context = ssl_context or httpx.create_ssl_context()

    def capped(self, max_bytes: int) -> UrlFetcher:
        """This fetcher with a lower size cap (a kind's own image limit), sharing the rest."""
        clone = copy.copy(self)
        clone._max_bytes = min(self._max_bytes, max_bytes)
        return clone

    def fetch(self, url: str) -> FetchedImage:
        deadline = time.monotonic() + self._timeout_s
        hop = self._parse(url)
        pins: dict[tuple[str, int], tuple[str, ...]] = {}
        backend = _PinnedBackend(pins, deadline)
        with httpcore.ConnectionPool(
            ssl_context=self._ssl_context, network_backend=backend, max_keepalive_connections=0
        ) as pool:
            for _ in range(self._max_redirects + 1):
                pins[(hop.host, hop.port)] = self._validated_addresses(hop, deadline)
                outcome = self._get(pool, hop, deadline)
                if isinstance(outcome, FetchedImage):
                    return outcome
                hop = self._redirect_target(hop, outcome)
        raise UrlFetchFailed(f"more than {self._max_redirects} redirects", field=_FIELD)

    # --- URL checks -----------------------------------------------------------------------

    def _parse(self, text: str) -> _Hop:
        if not isinstance(text, str) or not text.strip():
            raise MissingParameter("url is empty", field=_FIELD)
        text = text.strip()
        if len(text.encode("utf-8")) > self._max_url_length:
            raise ParameterTooLong(f"url is longer than {self._max_url_length} bytes", field=_FIELD)
        if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in text):
            raise InvalidParameter("url contains whitespace or control characters", field=_FIELD)
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise InvalidParameter(f"url is malformed: {exc}", field=_FIELD) from exc
        if url.scheme not in _DEFAULT_PORTS:
            raise UrlForbidden("only http and https URLs are allowed", field=_FIELD)
        if url.userinfo:
            raise UrlForbidden("credentials in the URL are not allowed", field=_FIELD)
        host = url.raw_host.decode("ascii", errors="replace")
        if not host or not (_is_ip_literal(host) or _HOSTNAME_RE.fullmatch(host)):
            raise InvalidParameter("url has no valid host", field=_FIELD)
        port = url.port if url.port is not None else _DEFAULT_PORTS[url.scheme]
        if not 1 <= port <= 65535:
            raise InvalidParameter(f"url port {port} is out of range", field=_FIELD)
        return _Hop(url=url, host=host, port=port)

    def _redirect_target(self, hop: _Hop, location: str) -> _Hop:
        try:
            target = str(hop.url.join(location))
            return self._parse(target)
        except (InvalidParameter, MissingParameter, ParameterTooLong) as exc:
            raise UrlFetchFailed(f"redirect to an invalid URL: {exc.message}", field=_FIELD) from exc
        except (httpx.InvalidURL, ValueError) as exc:
            raise UrlFetchFailed("redirect to an invalid URL", field=_FIELD) from exc

    def _validated_addresses(self, hop: _Hop, deadline: float) -> tuple[str, ...]:
        addresses = (hop.host,) if _is_ip_literal(hop.host) else self._resolve(hop, deadline)
        if not addresses:
            raise UrlFetchFailed(f"host {hop.host} did not resolve", field=_FIELD)
        for address in addresses:
            if not is_public_address(address, allow_loopback=self._allow_loopback):
                # The address itself stays out of the message: it would map the private network.
                raise UrlForbidden(f"host {hop.host} resolves to a non-public address", field=_FIELD)
        return addresses

    def _resolve(self, hop: _Hop, deadline: float) -> tuple[str, ...]:
        # getaddrinfo has no timeout of its own, so it runs aside and is waited on until the
        # deadline; a late answer is simply dropped with its daemon thread.
        box: list[tuple[bool, Any]] = []

        def work() -> None:
            try:
                box.append((True, self._resolver(hop.host, hop.port)))
            except Exception as exc:  # handed over to the waiting thread below
                box.append((False, exc))

        worker = threading.Thread(target=work, name="tusou-url-resolve", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        if not box:
            raise UrlTimeout(f"resolving {hop.host} took longer than {self._timeout_s}s", field=_FIELD)
        ok, value = box[0]
        if not ok:
            if isinstance(value, (OSError, ValueError, UnicodeError)):
                raise UrlFetchFailed(f"could not resolve host {hop.host}", field=_FIELD) from value
            raise value
        return tuple(dict.fromkeys(str(a) for a in value))

    # --- HTTP -----------------------------------------------------------------------------

    def _get(self, pool: httpcore.ConnectionPool, hop: _Hop, deadline: float) -> FetchedImage | str:
        """The image, or the Location of a redirect."""
        url = httpcore.URL(scheme=hop.url.raw_scheme, host=hop.url.raw_host, port=hop.port, target=hop.url.raw_path)
        headers = [
            (b"Host", hop.url.netloc),
            (b"User-Agent", _USER_AGENT),
            (b"Accept", b"image/*"),
            # Compressed bodies would let a small download inflate past max_bytes in memory.
            (b"Accept-Encoding", b"identity"),
            (b"Connection", b"close"),
        ]
        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self._timeout_s)
        try:
            with pool.stream(b"GET", url, headers=headers, extensions={"timeout": timeouts}) as response:
                header = _header_lookup(response.headers)
                if response.status in _REDIRECT_STATUSES:
                    location = header("location")
                    if not location:
                        raise UrlFetchFailed(f"HTTP {response.status} redirect without a Location", field=_FIELD)
                    return location
                if not 200 <= response.status < 300:
                    raise UrlFetchFailed(f"URL returned HTTP {response.status}", field=_FIELD)
                self._check_headers(header)
                data = self._read_body(response.iter_stream(), deadline)
        except httpcore.TimeoutException as exc:
            raise UrlTimeout(f"fetching the URL took longer than {self._timeout_s}s", field=_FIELD) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise UrlFetchFailed(f"fetching the URL failed: {type(exc).__name__}: {exc}", field=_FIELD) from exc
        if not data:
            raise EmptyImage("the URL returned an empty body", field=_FIELD)
        content_type = header("content-type")
        mime = content_type.split(";", 1)[0].strip().lower() if content_type else ""
        return FetchedImage(data=data, content_type=mime or None, final_url=str(hop.url))

    def _check_headers(self, header: Callable[[str], str | None]) -> None:
        encoding = (header("content-encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise UrlFetchFailed(f"compressed response ({encoding}) is not accepted", field=_FIELD)
        length = (header("content-length") or "").strip()
        if length.isdigit() and int(length) > self._max_bytes:
            raise ImageTooLarge(f"the URL's image is {length} bytes; the limit is {self._max_bytes}", field=_FIELD)

    def _read_body(self, chunks: Iterable[bytes], deadline: float) -> bytes:
        body = bytearray()
        for chunk in chunks:
            body += chunk
            if len(body) > self._max_bytes:
                raise ImageTooLarge(f"the URL's image is over {self._max_bytes} bytes", field=_FIELD)
            # A server dripping bytes never trips a per-read timeout; the deadline catches it.
            if time.monotonic() > deadline:
                raise UrlTimeout(f"fetching the URL took longer than {self._timeout_s}s", field=_FIELD)
        return bytes(body)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _header_lookup(headers: list[tuple[bytes, bytes]]) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        wanted = name.encode("ascii")
        for key, value in headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    return lookup


# --- the pinned, deadline-bound network layer ------------------------------------------------


def _remaining(deadline: float, timeout: float | None, expired: type[Exception]) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("deadline reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _remaining(self._deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects a (host, port) only to the addresses validated for it, never resolving itself."""

    def __init__(self, pins: dict[tuple[str, int], tuple[str, ...]], deadline: float) -> None:
        self._pins = pins
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._pins.get((host, port))
        if not addresses:
            raise httpcore.ConnectError(f"{host}:{port} was not validated")
        failure: httpcore.ConnectError | None = None
        for address in addresses:  # in resolver order, as a browser would try them
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=_remaining(self._deadline, timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
