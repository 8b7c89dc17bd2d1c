"""Polite, incremental HTTP fetching of a live source (aiohttp client).

Every live source goes through :class:`Fetcher`, so three promises hold for all of them:

* **Incremental by the source's own clock.** Each URL's ``ETag`` / ``Last-Modified`` are
  remembered (:class:`SourceMemo`, a JSON file beside the adapter's state) and sent back as
  ``If-None-Match`` / ``If-Modified-Since``; a ``304`` re-uses the cached copy and downloads
  nothing. Callers also keep the source's own markers there (AMeDAS ``latest_time.txt``).
  The memo is saved only by :meth:`SourceMemo.commit` after the run that used it, so a
  failed run fetches the same files again.
* **Polite.** At most one request per ``min_interval`` seconds per host, a total timeout
  per request, a ``User-Agent`` naming the deployment, a size limit.
* **Fail with a reason.** Down, slow, an HTML error page where data was expected, or a file
  not published yet are :class:`SourceUnavailable` / :class:`NotPublishedYet` with a
  message naming the URL; never a run of garbage rows.

Outbound addresses are checked on the address actually connected to: only globally
routable unicast unless ``allow`` lists a network (the replay server of the tests, an
intranet mirror). The registration's owner chooses URLs, so without this a registration
could make the worker read the cloud metadata service or the database host (SSRF). Redirects
are followed by hand (at most 3) so each hop is checked again.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from adapters.sdk.base import SourceError

__all__ = ["DEFAULT_USER_AGENT", "Fetched", "Fetcher", "NotPublishedYet", "SourceMemo",
           "SourceUnavailable", "parse_networks", "source_session"]

DEFAULT_USER_AGENT = "renkei-adapters/0.1 (+https://github.com/renkei; unnamed deployment)"
_MAX_REDIRECTS = 3
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SourceUnavailable(SourceError):
    """The source is down, too slow, refused us, or answered something that is not data."""


class NotPublishedYet(SourceUnavailable):
    """The source announced a file that is not there yet (404 right after the marker moved):
    the next pass tries again; the marker is not advanced."""


def parse_networks(items: Iterable[str]) -> list[Network]:
    """CIDRs (or single addresses) an operator allows besides the public internet."""
    return [ipaddress.ip_network(i.strip(), strict=False) for i in items if i.strip()]


def _allowed(address: str, allow: list[Network]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in net for net in allow):
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _CheckedResolver(AbstractResolver):
    """DNS answers filtered by the egress rule; a name with no allowed address fails."""

    def __init__(self, allow: list[Network]) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow = allow

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        ok = [r for r in found if _allowed(r["host"], self._allow)]
        if not ok:
            raise OSError(f"{host} resolves only to addresses the source policy refuses")
        return ok

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class Fetched:
    url: str
    #: the body; for a 304 the cached copy (``modified`` False)
    data: bytes
    modified: bool
    #: where the body is cached on disk (the adapter reads this path)
    path: Path


class SourceMemo:
    """Validators, cached bodies and markers of one registration's sources.

    ``<dir>/<key>.sources.json`` holds ``{"urls": {url: {etag, last_modified, file}},
    "markers": {name: value}}``; bodies are cached under ``<dir>/<key>.sources/``.
    """

    def __init__(self, directory: Path, key: str) -> None:
        self.path = Path(directory) / f"{key}.sources.json"
        self.cache = Path(directory) / f"{key}.sources"
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        self.urls: dict[str, dict[str, str]] = dict(doc.get("urls", {}))
        self.markers: dict[str, str] = dict(doc.get("markers", {}))
        self._pending_urls: dict[str, dict[str, str]] = {}
        self._pending_markers: dict[str, str] = {}

    def marker(self, name: str) -> str | None:
        return self.markers.get(name)

    def set_marker(self, name: str, value: str) -> None:
        """Remembered once the run commits (a failed run re-reads from the old marker)."""
        self._pending_markers[name] = value

    def validators(self, url: str) -> dict[str, str]:
        return self._pending_urls.get(url) or self.urls.get(url, {})

    def remember(self, url: str, entry: dict[str, str]) -> None:
        self._pending_urls[url] = entry

    def commit(self) -> None:
        """Save what this run learnt (atomic: temporary file + rename)."""
        self.urls.update(self._pending_urls)
        self.markers.update(self._pending_markers)
        self._pending_urls, self._pending_markers = {}, {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"urls": self.urls, "markers": self.markers},
                                  ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


def source_session(allow: Iterable[str] = ()) -> aiohttp.ClientSession:
    """A client session whose connections obey the source egress rule (names are checked
    on every address they resolve to; literal addresses by :meth:`Fetcher.get`)."""
    connector = aiohttp.TCPConnector(resolver=_CheckedResolver(parse_networks(allow)))
    return aiohttp.ClientSession(connector=connector)


class Fetcher:
    """One session's polite GETs; see the module docstring."""

    def __init__(self, session: aiohttp.ClientSession, memo: SourceMemo, *,
                 user_agent: str = DEFAULT_USER_AGENT, min_interval: float = 1.0,
                 timeout: float = 30.0, max_bytes: int = 64 * 1024 * 1024,
                 allow: Iterable[str] = ()) -> None:
        self.session, self.memo = session, memo
        self.allow = parse_networks(allow)
        self.user_agent, self.min_interval = user_agent, min_interval
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_bytes = max_bytes
        self._last: dict[str, float] = {}
        self._lock = asyncio.Lock()
        #: requests actually sent (tests and the run note count them)
        self.requests = 0

    async def _polite(self, host: str) -> None:
        async with self._lock:
            wait = self._last.get(host, 0.0) + self.min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last[host] = time.monotonic()

    def _check_literal(self, url: str) -> None:
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a name: checked by the resolver on the addresses it resolves to
        if not _allowed(host, self.allow):
            raise SourceUnavailable(f"{url}: address refused by the source policy")

    async def get(self, url: str, *, expect: str = "data", cache_name: str | None = None,
                  conditional: bool = True) -> Fetched:
        """GET ``url``; 304 answers the cached copy. ``expect`` is ``data`` (an HTML page is
        an error page) or ``text``."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise SourceUnavailable(f"{url}: only http(s) sources are fetched")
        known = self.memo.validators(url) if conditional else {}
        cached = self.memo.cache / known["file"] if known.get("file") else None
        headers = {"User-Agent": self.user_agent}
        if cached is not None and _exists(cached):
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
        target = url
        for _hop in range(_MAX_REDIRECTS + 1):
            self._check_literal(target)
            await self._polite(urlsplit(target).netloc)
            self.requests += 1
            try:
                async with self.session.get(target, headers=headers, timeout=self.timeout,
                                            allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        target = urljoin(target, resp.headers["Location"])
                        continue
                    return await self._answer(url, resp, expect, cached, cache_name)
            except TimeoutError as exc:
                raise SourceUnavailable(f"{url}: no answer within "
                                        f"{self.timeout.total:.0f} s") from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise SourceUnavailable(f"{url}: unreachable ({exc})") from exc
        raise SourceUnavailable(f"{url}: more than {_MAX_REDIRECTS} redirects")

    async def _answer(self, url: str, resp: aiohttp.ClientResponse, expect: str,
                      cached: Path | None, cache_name: str | None) -> Fetched:
        if resp.status == 304 and cached is not None:
            body = _read(cached)
            if body is not None:
                return Fetched(url, body, False, cached)
        if resp.status == 404:
            raise NotPublishedYet(f"{url}: not published (404)")
        if resp.status != 200:
            raise SourceUnavailable(f"{url}: the source answered {resp.status}")
        if (resp.content_length or 0) > self.max_bytes:
            raise SourceUnavailable(f"{url}: larger than {self.max_bytes} bytes")
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > self.max_bytes:
                raise SourceUnavailable(f"{url}: larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        if expect == "data" and _looks_html(resp.content_type, data):
            raise SourceUnavailable(f"{url}: answered an HTML page, not data "
                                    f"({_title(data)})")
        name = cache_name or _file_name(url)
        path = _write(self.memo.cache / name, data)
        entry = {"file": name}
        if resp.headers.get("ETag"):
            entry["etag"] = resp.headers["ETag"]
        if resp.headers.get("Last-Modified"):
            entry["last_modified"] = resp.headers["Last-Modified"]
        self.memo.remember(url, entry)
        return Fetched(url, data, True, path)


def _exists(path: Path) -> bool:
    return path.is_file()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write(path: Path, data: bytes) -> Path:
    """Atomically (temporary file + rename): a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _looks_html(content_type: str, data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return content_type == "text/html" or head.startswith((b"<!doctype html", b"<html"))


def _title(data: bytes) -> str:
    text = data[:4096].decode("utf-8", "replace")
    lo = text.lower()
    start, end = lo.find("<title>"), lo.find("</title>")
    if 0 <= start < end:
        return "title: " + " ".join(text[start + 7:end].split())[:100]
    return "no title"


def _file_name(url: str) -> str:
    """A cache file name keeping the URL's last segment (adapters read dates from it)."""
    parts = urlsplit(url)
    last = Path(parts.path).name or "index"
    digest = hashlib.sha256((parts.netloc + parts.path).encode()).hexdigest()[:8]
    return f"{digest}-{last}"
