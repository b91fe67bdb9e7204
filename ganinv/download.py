"""Downloads a user can watch: bounded when there is no route, resumable, verified, one per file.

    fetch(url, dest, *, sha256=None, size=None, progress=None) -> sha256 of dest

1. A TCP probe with a short connect timeout (``CONNECT_TIMEOUT``) runs first, so a machine with no
   route to the server gets its answer in seconds (the hub client alone retries for ~47 s).
2. Bytes go to ``.<name>.part`` beside ``dest``.  The part file is the download's lock as well
   (``flock``, plus a lock per path between threads): two sessions asking for one file make one
   download, the second waits (reporting the first one's progress) and then finds the file.
3. An interrupted download keeps its part file; the next call asks for the rest with an HTTP
   ``Range: bytes=<offset>-`` header (a server that ignores it makes the download start over).
4. Before the atomic rename the size (``size``, else the Hub's ``X-Linked-Size``, else the HTTP
   length) and the sha256 (``sha256``, else the Hub's ``X-Linked-Etag`` of LFS files) are checked;
   a file that fails either is removed.
5. Progress: ``progress(fraction, "downloading ffhq.pkl: 12.0 / 363.0 MB, 4.1 MB/s")``; without a
   callback a tqdm bar on stderr (hidden when stderr is not a terminal).

The library never decides whether downloading is allowed: ``offline()`` says what the user asked
for (``--offline`` / ``GANINV_OFFLINE=1``) and the registries check it before calling ``fetch``.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from tqdm import tqdm

from .settings import ProgressFn

try:                                            # POSIX: also one download per file between processes
    import fcntl
except ImportError:                             # pragma: no cover - Windows: the per-path thread lock only
    fcntl = None

OFFLINE_ENV = "GANINV_OFFLINE"                  # 1: never download (what --offline sets)
CONNECT_TIMEOUT = 4.0                           # s for DNS + TCP connect: "no route" reaches the user within 5 s
READ_TIMEOUT = 30.0                             # s without a byte before a transfer counts as interrupted
CHUNK = 1 << 16
REPORT_EVERY = 0.25                             # s between progress reports
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(OSError):
    """No route, an HTTP error or an interrupted transfer; the message is one clause (the reason)."""


class ChecksumError(RuntimeError):
    """A weights file does not match its expected size or sha256; it has been removed."""


def offline() -> bool:
    """True when the user forbade downloads (``--offline`` or ``GANINV_OFFLINE=1``)."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def set_offline(value: bool = True) -> None:
    """What ``--offline`` does: forbid downloads in this process and the processes it starts."""
    os.environ[OFFLINE_ENV] = "1" if value else "0"


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- 1. reachability
def _target(url: str) -> tuple[str, int]:
    """(host, port) a request for ``url`` connects to: the proxy's when one applies."""
    u = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(u.scheme)
    if proxy and not urllib.request.proxy_bypass(u.hostname or ""):
        u = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return u.hostname or "", u.port or (443 if u.scheme == "https" else 80)


def probe(url: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise DownloadError unless a TCP connection to ``url``'s server opens within ``timeout`` s
    (name lookup included: it runs in a thread, as getaddrinfo itself has no timeout)."""
    host, port = _target(url)
    deadline = time.monotonic() + timeout
    found: list = []

    def lookup():
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as e:
            found.append(e)
    t = threading.Thread(target=lookup, daemon=True)
    t.start()
    t.join(timeout)
    if not found or isinstance(found[0], OSError):
        raise DownloadError(f"cannot resolve {host} ({found[0] if found else 'timed out'})")
    err: OSError | None = None
    for family, kind, proto, _, addr in found[0]:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            with socket.socket(family, kind, proto) as s:
                s.settimeout(left)
                s.connect(addr)
            return
        except OSError as e:
            err = e
    raise DownloadError(f"no route to {host}:{port} within {timeout:g} s ({err or 'timed out'})")


# --------------------------------------------------------------------------- 2. one download per file
_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()


def part_path(dest: str) -> str:
    """The partial file of ``dest``: one per destination, so a later call can resume it."""
    return os.path.join(os.path.dirname(dest), f".{os.path.basename(dest)}.part")


class _Holder:
    """The exclusive right to write ``dest``'s part file: a per-path thread lock, then ``flock``.

    While waiting it reports the other download's progress (the part file's size)."""

    def __init__(self, dest: str, progress: ProgressFn | None, expected: int | None):
        self.dest, self.part, self.progress, self.expected = dest, part_path(dest), progress, expected
        with _path_locks_guard:
            self.lock = _path_locks.setdefault(os.path.abspath(dest), threading.Lock())
        self.file = None

    def _waiting(self) -> None:
        if self.progress is not None:
            have = os.path.getsize(self.part) if os.path.exists(self.part) else 0
            frac = have / self.expected if self.expected else 0.0
            self.progress(min(frac, 1.0), f"another session is downloading {os.path.basename(self.dest)}: "
                                          f"{have / 1e6:.1f} MB so far")

    def __enter__(self):
        while not self.lock.acquire(timeout=REPORT_EVERY):
            self._waiting()
        try:
            while True:
                f = open(self.part, "ab")
                if fcntl is None:
                    break
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:               # another process downloads this file
                    f.close()
                    self._waiting()
                    time.sleep(REPORT_EVERY)
                    continue
                try:                                  # the holder may have renamed or removed it meanwhile
                    same = os.path.samestat(os.fstat(f.fileno()), os.stat(self.part))
                except FileNotFoundError:
                    same = False
                if same:
                    break
                f.close()
                if os.path.isfile(self.dest):
                    break
            self.file = f
            return self
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, *exc) -> None:
        try:
            if self.file is not None and not self.file.closed:
                if os.path.exists(self.part) and os.path.getsize(self.part) == 0:
                    os.remove(self.part)              # nothing to resume: leave no trace (still ours: locked)
                self.file.close()
        finally:
            self.lock.release()


# --------------------------------------------------------------------------- 3-5. the transfer
class _KeepRedirectHeaders(urllib.request.HTTPRedirectHandler):
    """Keeps the first response's headers: the Hub sends X-Linked-Etag / -Size before redirecting to its CDN."""

    def __init__(self):
        self.first = None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if self.first is None:
            self.first = headers
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str, offset: int, timeout: float):
    """(response, headers of the first response) for ``url`` from byte ``offset``."""
    keep = _KeepRedirectHeaders()
    opener = urllib.request.build_opener(keep)
    headers = {"User-Agent": "ganinv", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    return resp, keep.first or resp.headers


def _hub_checks(headers) -> tuple[str | None, int | None]:
    """The Hub's sha256 and size of an LFS file (X-Linked-Etag / X-Linked-Size), when sent."""
    etag = (headers.get("X-Linked-Etag") or "").strip().strip('"').removeprefix("W/").strip('"').lower()
    size = headers.get("X-Linked-Size")
    return (etag if _SHA256.match(etag) else None), (int(size) if size and size.isdigit() else None)


def _tqdm_progress(name: str) -> ProgressFn:
    bar = tqdm(total=100, desc=name, unit="%", leave=False, disable=None, bar_format="{desc} |{bar}| {percentage:3.0f}%")

    def report(frac: float, message: str) -> None:
        bar.set_description_str(message, refresh=False)
        bar.n = 100 * frac
        bar.refresh()
        if frac >= 1:
            bar.close()
    return report


def fetch(url: str, dest: str, *, sha256: str | None = None, size: int | None = None,
          progress: ProgressFn | None = None, connect_timeout: float = CONNECT_TIMEOUT,
          read_timeout: float = READ_TIMEOUT) -> str:
    """Download ``url`` to ``dest`` (see the module docstring); returns the file's sha256.

    Raises DownloadError (no route, HTTP error, interrupted: the part file is kept for the next
    call) or ChecksumError (size or sha256 differ: nothing is kept).  ``progress`` may raise to
    cancel; the part file is then kept too.
    """
    name = os.path.basename(dest)
    probe(url, connect_timeout)
    progress = progress or _tqdm_progress(name)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    with _Holder(dest, progress, size) as held:
        if os.path.isfile(dest):                      # another session finished it while this one waited
            return sha256_file(dest)
        return _transfer(url, dest, held.file, sha256=sha256, size=size, progress=progress, timeout=read_timeout)


def _transfer(url: str, dest: str, out, *, sha256: str | None, size: int | None, progress: ProgressFn,
              timeout: float) -> str:
    part, name = part_path(dest), os.path.basename(dest)
    offset = out.tell()
    try:
        resp, first = _open(url, offset, timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:
            raise DownloadError(f"HTTP {e.code} {e.reason} from {url}") from None
        out.truncate(0)                               # "range not satisfiable": the part is stale, start over
        offset = 0
        resp, first = _open(url, 0, timeout)
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{type(e).__name__}: {getattr(e, 'reason', e)}") from None
    with resp:
        start = _resume_offset(resp, offset)
        if start != offset:                           # the server sent the whole file: start over
            out.truncate(0)
            offset = 0
        out.seek(offset)
        h = hashlib.sha256()
        if offset:
            with open(part, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
        hub_sha, hub_size = _hub_checks(first)
        length = resp.headers.get("Content-Length")
        total = size or hub_size or (offset + int(length) if length and length.isdigit() else None)
        done, t0, last = offset, time.monotonic(), 0.0
        try:
            while block := resp.read1(CHUNK):          # what has arrived: progress keeps moving on a slow link
                out.write(block)
                h.update(block)
                done += len(block)
                now = time.monotonic()
                if now - last >= REPORT_EVERY:
                    last = now
                    # the first buffer arrives at once: a rate over less than half a second would be noise
                    speed = (done - offset) / (now - t0) if now - t0 >= 0.5 else None
                    progress(done / total if total else 0.0, _message(name, done, total, speed))
        except (OSError, http.client.HTTPException) as e:
            out.flush()
            raise DownloadError(f"interrupted after {done / 1e6:.1f} MB ({type(e).__name__}); "
                                f"run again to resume from there") from None
    out.flush()
    os.fsync(out.fileno())
    if length and length.isdigit() and done < offset + int(length):
        raise DownloadError(f"interrupted after {done / 1e6:.1f} MB; run again to resume from there")
    return _verify_and_rename(part, dest, h.hexdigest(), done, sha256=sha256 or hub_sha, size=size or hub_size,
                              url=url, progress=progress)


def _resume_offset(resp, offset: int) -> int:
    """Where the response's bytes start: ``offset`` for a matching 206, else 0 (the whole file)."""
    if resp.status != 206:
        return 0
    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
    return int(m.group(1)) if m and int(m.group(1)) == offset else 0


def _message(name: str, done: int, total: int | None, speed: float | None) -> str:
    of = f" / {total / 1e6:.1f}" if total else ""
    rate = f"{speed / 1e6:.1f} MB/s" if speed is not None else "... MB/s"
    return f"downloading {name}: {done / 1e6:.1f}{of} MB, {rate}"


def _verify_and_rename(part: str, dest: str, digest: str, done: int, *, sha256: str | None, size: int | None,
                       url: str, progress: ProgressFn) -> str:
    """Step 4: size and sha256 before the atomic rename; a file that fails is removed."""
    problem = (f"size {done} bytes instead of {size}" if size and done != size else
               f"sha256 {digest} instead of {sha256}" if sha256 and digest != sha256.lower() else None)
    if problem:
        os.remove(part)
        raise ChecksumError(f"{url}: {problem}; the file was removed. Try again, or download it by hand.")
    os.replace(part, dest)
    progress(1.0, f"downloaded {os.path.basename(dest)}: {done / 1e6:.1f} MB, sha256 verified"
             if sha256 else f"downloaded {os.path.basename(dest)}: {done / 1e6:.1f} MB")
    return digest


__all__ = ["OFFLINE_ENV", "CONNECT_TIMEOUT", "READ_TIMEOUT", "DownloadError", "ChecksumError", "offline",
           "set_offline", "sha256_file", "probe", "part_path", "fetch"]
