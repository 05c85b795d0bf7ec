"""Headless-Chromium harness for checking self-contained HTML pages (the report) as a person sees them.

Standard library only.  Chromium is driven over the Chrome DevTools Protocol through
`--remote-debugging-pipe`: Chromium reads NUL-terminated JSON commands from fd 3 and writes
NUL-terminated JSON replies/events to fd 4, so no port is opened and nothing races for one.

    from browser import find_chromium, load_page, png_stats, region_has_colour

    report = load_page(Path("report.html"), tmp_path / "report.png")
    assert report.console_errors == []
    assert all(svg["visible"] for svg in report.svgs)
    assert png_stats(report.screenshot)["non_white_fraction"] > 0.01

Install the browser with `scripts/install-chromium` (Debian's `chromium` package).
`BARCHECK_CHROMIUM=/path/to/chromium` overrides the binary that is used.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import json
import os
import queue
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BrowserError",
    "ColourMatch",
    "PageReport",
    "decode_png",
    "find_chromium",
    "find_colour",
    "load_page",
    "png_stats",
    "region_has_colour",
]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(RuntimeError):
    """Chromium could not be started, did not answer, or could not load the page.

    `pid` is the launched process (also its process-group id, killed before this is raised)."""

    pid: int | None = None


def find_chromium() -> str | None:
    """Absolute path of the Chromium to use, or None.

    `BARCHECK_CHROMIUM` (a path or a command name) wins; then `chromium`, `chromium-browser`
    and `google-chrome` on PATH.  A set but unusable `BARCHECK_CHROMIUM` gives None rather
    than silently falling back to another browser."""
    override = os.environ.get("BARCHECK_CHROMIUM", "").strip()
    if override:
        found = shutil.which(override)
        return str(Path(found).resolve()) if found else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


# ----------------------------------------------------------------------------- page report


@dataclass
class PageReport:
    """What one headless load of a page showed."""

    console_errors: list[str]  # console.error/assert, uncaught exceptions, error log entries (failed loads)
    svgs: list[dict]  # one dict per <svg> element, in document order (see SVG_PROBE)
    title: str
    screenshot: Path  # PNG, full page
    chromium_version: str  # Browser.getVersion product, e.g. "Chrome/156.0.8078.79"
    url: str = ""
    page_size: tuple[int, int] = (0, 0)  # CSS px of the whole document (width, height)
    console_messages: list[str] = field(default_factory=list)  # every console/log message, any level
    resources: list[str] = field(default_factory=list)  # every URL the page requested besides itself (data: too)
    failed_requests: list[str] = field(default_factory=list)  # "net::ERR_... url" (also in console_errors via Log)
    elapsed_s: float = 0.0  # launch to browser exit

    @property
    def visible_svgs(self) -> list[dict]:
        return [svg for svg in self.svgs if svg["visible"]]


# Runs in the page after the load event; returns plain JSON.
SVG_PROBE = r"""
(() => {
  const de = document.documentElement;
  const body = document.body;
  const docW = Math.max(de.scrollWidth, body ? body.scrollWidth : 0);
  const docH = Math.max(de.scrollHeight, body ? body.scrollHeight : 0);
  const svgs = Array.from(document.querySelectorAll('svg')).map((s, index) => {
    const r = s.getBoundingClientRect();
    const cs = getComputedStyle(s);
    const x = r.left + window.scrollX, y = r.top + window.scrollY;
    const inDocument = s.isConnected && document.documentElement.contains(s);
    const onPage = r.width > 0 && r.height > 0 && x + r.width > 0 && y + r.height > 0
                   && x < docW && y < docH;
    const cssVisible = typeof s.checkVisibility === 'function'
        ? s.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) : true;
    const titleEl = s.querySelector(':scope > title');
    const parent = s.parentElement;
    return {
      index, id: s.id || null,
      aria_label: s.getAttribute('aria-label'),
      role: s.getAttribute('role'),
      title: titleEl ? titleEl.textContent.trim() : null,
      x, y, width: r.width, height: r.height,
      display: cs.display, visibility: cs.visibility, opacity: parseFloat(cs.opacity),
      in_document: inDocument, on_page: onPage, css_visible: cssVisible,
      top_level: !(parent && parent.closest('svg')),
      child_elements: s.querySelectorAll('*').length,
      visible: inDocument && onPage && cssVisible && cs.display !== 'none'
               && cs.visibility === 'visible',
    };
  });
  return {title: document.title, href: location.href, readyState: document.readyState,
          width: docW, height: docH, svgs};
})()
"""

# Resolves once web fonts are in and two frames have been painted.
SETTLE = r"""
new Promise(resolve => {
  const frames = () => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true)));
  (document.fonts ? document.fonts.ready : Promise.resolve()).then(frames, frames);
  setTimeout(() => resolve(false), 2000);
})
"""


# ----------------------------------------------------------------------------- CDP over a pipe


class _Pipe:
    """One CDP connection over --remote-debugging-pipe: commands on `write_fd`, replies/events on `read_fd`."""

    def __init__(self, write_fd: int, read_fd: int, describe_failure) -> None:
        self._write_fd = write_fd
        self._read_fd = read_fd
        self._describe_failure = describe_failure  # () -> str, e.g. exit status + stderr tail
        self._inbox: queue.Queue[dict | None] = queue.Queue()
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self.closed = False
        self._reader = threading.Thread(target=self._read_loop, name="cdp-pipe-reader", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = os.read(self._read_fd, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for raw in messages:
                    if raw.strip():
                        try:
                            self._inbox.put(json.loads(raw))
                        except ValueError:
                            self._inbox.put({"method": "_harness.badMessage", "params": {"raw": raw[:200].decode("utf-8", "replace")}})
        except OSError:
            pass
        finally:
            self._inbox.put(None)

    def _pump(self, deadline: float, what: str) -> None:
        """Take one message off the pipe (or fail at the deadline / when Chromium has gone)."""
        if self.closed:
            raise BrowserError(f"Chromium closed the DevTools pipe while waiting for {what}\n{self._describe_failure()}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserError(f"timed out waiting for {what}\n{self._describe_failure()}")
        try:
            message = self._inbox.get(timeout=remaining)
        except queue.Empty:
            raise BrowserError(f"timed out waiting for {what}\n{self._describe_failure()}") from None
        if message is None:
            self.closed = True
            raise BrowserError(f"Chromium closed the DevTools pipe while waiting for {what}\n{self._describe_failure()}")
        if "id" in message:
            self._replies[message["id"]] = message
        else:
            self.events.append(message)

    def send_only(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                written = os.write(self._write_fd, data)
                data = data[written:]
        except OSError as error:
            raise BrowserError(f"cannot send {method} to Chromium ({error})\n{self._describe_failure()}") from None
        return self._next_id

    def call(self, method: str, params: dict | None = None, session: str | None = None, *, deadline: float) -> dict:
        """Send a command and wait for its reply; events that arrive meanwhile are kept in `events`."""
        ident = self.send_only(method, params, session)
        while ident not in self._replies:
            self._pump(deadline, f"the reply to {method}")
        reply = self._replies.pop(ident)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error'].get('message')} {reply['error'].get('data', '')}".rstrip())
        return reply.get("result", {})

    def wait_event(self, method: str, session: str | None, *, after: int, deadline: float) -> dict:
        """The first event `method` (of `session`) at index >= `after` in `events`."""
        index = after
        while True:
            while index < len(self.events):
                event = self.events[index]
                index += 1
                if event.get("method") == method and (session is None or event.get("sessionId") == session):
                    return event
            self._pump(deadline, f"the event {method}")

    def drain(self, seconds: float) -> None:
        """Collect whatever events arrive within `seconds` (late console messages)."""
        end = time.monotonic() + seconds
        while not self.closed and time.monotonic() < end:
            try:
                message = self._inbox.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return
            if message is None:
                self.closed = True
                return
            if "id" in message:
                self._replies[message["id"]] = message
            else:
                self.events.append(message)

    def join(self, timeout: float) -> None:
        self._reader.join(timeout)


# The launcher puts the pipe ends on fds 3 and 4 (where Chromium expects them) and execs Chromium.
_LAUNCHER = (
    "import os, sys\n"
    "r, w = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


def _high_fd(fd: int) -> int:
    """A copy of `fd` numbered >= 10 (so moving it onto 3 or 4 cannot clobber the other end); closes `fd`."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def chromium_flags(user_data_dir: Path, width: int, height: int) -> list[str]:
    return [
        "--headless=new",
        "--no-sandbox",  # needed as root and in containers without user namespaces; pages are local and trusted
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={user_data_dir}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--mute-audio",
        "--force-device-scale-factor=1",
        f"--window-size={width},{height}",
        "--remote-debugging-pipe",
        "about:blank",
    ]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_stragglers(workdir: Path) -> None:
    """SIGKILL processes outside the group that belong to this launch (their command line names
    the unique `workdir`, as crashpad's --database does)."""
    marker = str(workdir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no stderr captured)"
    kept = text.strip().splitlines()[-lines:]
    return "chromium stderr (tail):\n" + "\n".join("    " + line for line in kept) if kept else "(chromium stderr empty)"


def _remote_object_text(obj: dict) -> str:
    if "value" in obj:
        value = obj["value"]
        return value if isinstance(value, str) else json.dumps(value)
    if "unserializableValue" in obj:
        return obj["unserializableValue"]
    return obj.get("description") or obj.get("type", "?")


def _where(url: str | None, line: int | None) -> str:
    if not url:
        return ""
    return f" ({url}:{line + 1})" if isinstance(line, int) else f" ({url})"


def _messages(events: list[dict], session: str) -> tuple[list[str], list[str]]:
    """(errors, all messages) from the collected CDP events of `session`."""
    errors: list[str] = []
    everything: list[str] = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            kind = params.get("type", "log")
            text = " ".join(_remote_object_text(arg) for arg in params.get("args", []))
            frame = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            line = f"console.{kind}: {text}{_where(frame[0].get('url'), frame[0].get('lineNumber'))}"
            everything.append(line)
            if kind in ("error", "assert"):
                errors.append(line)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception") or {}
            text = exception.get("description") or details.get("text", "exception")
            line = f"uncaught exception: {text.splitlines()[0] if text else text}{_where(details.get('url'), details.get('lineNumber'))}"
            everything.append(line)
            errors.append(line)
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            level = entry.get("level", "info")
            line = f"log.{level} [{entry.get('source', '?')}]: {entry.get('text', '')}{_where(entry.get('url'), entry.get('lineNumber'))}"
            everything.append(line)
            if level == "error":
                errors.append(line)
    return errors, everything


def _requests(events: list[dict], session: str, page_url: str) -> tuple[list[str], list[str]]:
    """(URLs requested besides the page itself, failed requests) from the Network events of `session`."""
    urls: dict[str, str] = {}
    failed: list[str] = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params.get("requestId", "")] = params.get("request", {}).get("url", "")
        elif method == "Network.loadingFailed":
            what = "canceled" if params.get("canceled") else params.get("errorText", "failed")
            failed.append(f"{what} {urls.get(params.get('requestId', ''), '?')}")
    resources = [u for u in dict.fromkeys(urls.values()) if u != page_url]
    return resources, failed


def load_page(
    html_path: Path,
    screenshot_path: Path,
    width: int = 1280,
    height: int = 2000,
    timeout_s: float = 60,
    *,
    full_page: bool = True,
    max_height: int = 16000,
    chromium: str | None = None,
) -> PageReport:
    """Open `html_path` (file://) in a fresh headless Chromium, collect errors, measure every <svg>,
    and save a PNG screenshot (the whole page when `full_page`) to `screenshot_path`.

    One browser launch per call; the whole call is bounded by `timeout_s`, after which the
    browser's process group is killed and BrowserError raised (with Chromium's stderr tail)."""
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(html_path)
    binary = chromium or find_chromium()
    if not binary:
        raise BrowserError("no Chromium found: run scripts/install-chromium or set BARCHECK_CHROMIUM")
    screenshot_path = Path(screenshot_path)
    url = html_path.as_uri()
    start = time.monotonic()
    deadline = start + timeout_s

    workdir = Path(tempfile.mkdtemp(prefix="barcheck-chromium-"))
    stderr_path = workdir / "stderr.txt"
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    child_r, child_w = _high_fd(to_chrome_r), _high_fd(from_chrome_w)
    to_chrome_w = _high_fd(to_chrome_w)
    from_chrome_r = _high_fd(from_chrome_r)
    proc: subprocess.Popen | None = None
    pipe: _Pipe | None = None
    try:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(child_r), str(child_w), binary,
                 *chromium_flags(workdir / "profile", width, height)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                pass_fds=(child_r, child_w),
                start_new_session=True,  # own process group: killpg reaches renderers and zygotes
                # Chromium's config dir, and so crashpad's "Crash Reports" database, go under workdir.
                env={**os.environ, "XDG_CONFIG_HOME": str(workdir / "config")},
            )
        os.close(child_r)
        os.close(child_w)
        child_r = child_w = -1

        def describe_failure() -> str:
            status = proc.poll()
            state = "still running" if status is None else f"exited with status {status}"
            return f"chromium ({binary}) {state}; {_tail(stderr_path)}"

        pipe = _Pipe(to_chrome_w, from_chrome_r, describe_failure)
        version = pipe.call("Browser.getVersion", deadline=deadline).get("product", "?")
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline=deadline)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=session, deadline=deadline)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=session, deadline=deadline)

        mark = len(pipe.events)
        navigation = pipe.call("Page.navigate", {"url": url}, session=session, deadline=deadline)
        if navigation.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {navigation['errorText']}")
        pipe.wait_event("Page.loadEventFired", session, after=mark, deadline=deadline)

        def evaluate(expression: str, await_promise: bool = False) -> Any:
            result = pipe.call("Runtime.evaluate",
                               {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
                               session=session, deadline=deadline)
            if "exceptionDetails" in result:
                raise BrowserError(f"harness script failed in the page: {result['exceptionDetails'].get('text')}")
            return result.get("result", {}).get("value")

        # The load event can belong to the initial about:blank; make sure our document is complete.
        while True:
            state = evaluate("[location.href, document.readyState]")
            if state == [url, "complete"]:
                break
            if time.monotonic() > deadline:
                raise BrowserError(f"page never reached readyState complete at {url}: {state}\n{describe_failure()}")
            time.sleep(0.05)
        evaluate(SETTLE, await_promise=True)
        probe = evaluate(SVG_PROBE)

        if full_page:
            metrics = pipe.call("Page.getLayoutMetrics", session=session, deadline=deadline)
            content = metrics.get("cssContentSize") or metrics["contentSize"]
            shot_w = max(1, int(-(-content["width"] // 1)))
            shot_h = max(1, min(max_height, int(-(-content["height"] // 1))))
            shot_params = {"format": "png", "captureBeyondViewport": True,
                           "clip": {"x": 0, "y": 0, "width": shot_w, "height": shot_h, "scale": 1}}
        else:
            shot_params = {"format": "png"}
        shot = pipe.call("Page.captureScreenshot", shot_params, session=session, deadline=deadline)
        screenshot_path.parent.mkdir(parents=True, exist_ok=True)
        screenshot_path.write_bytes(base64.b64decode(shot["data"]))

        pipe.drain(0.05)  # console messages racing the last reply
        errors, everything = _messages(pipe.events, session)
        resources, failed = _requests(pipe.events, session, url)

        # Polite shutdown; the process group is killed below whatever happens.
        pipe.send_only("Browser.close")
        try:
            proc.wait(timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass
        return PageReport(
            console_errors=errors,
            svgs=probe["svgs"],
            title=probe["title"],
            screenshot=screenshot_path,
            chromium_version=version,
            url=url,
            page_size=(int(probe["width"]), int(probe["height"])),
            console_messages=everything,
            resources=resources,
            failed_requests=failed,
            elapsed_s=time.monotonic() - start,
        )
    except BrowserError as error:
        error.pid = proc.pid if proc is not None else None
        raise
    finally:
        if proc is not None:
            _kill_group(proc)
            _kill_stragglers(workdir)  # crashpad handlers start their own sessions
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for fd in (child_r, child_w, to_chrome_w, from_chrome_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if pipe is not None:
            pipe.join(2)
        shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------- PNG decoding

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (8-bit only)


def _add_bytes(a: int, b: int, low: int, high: int) -> int:
    """Bytewise (a + b) mod 256 of two little-endian byte vectors held in ints (no carries across bytes)."""
    return ((a & low) + (b & low)) ^ ((a ^ b) & high)


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytes]:
    """Undo the PNG per-row filters (types 0-4).  None/Sub/Up use whole-row integer arithmetic;
    Average and Paeth fall back to a byte loop."""
    stride = width * bpp
    expected = height * (stride + 1)
    if len(raw) < expected:
        raise ValueError(f"PNG image data is short: {len(raw)} bytes, need {expected}")
    low = int.from_bytes(b"\x7f" * stride, "little")
    high = int.from_bytes(b"\x80" * stride, "little")
    full = (1 << (8 * stride)) - 1
    rows: list[bytes] = []
    prior = bytes(stride)
    prior_int = 0
    pos = 0
    for _ in range(height):
        kind = raw[pos]
        line = raw[pos + 1: pos + 1 + stride]
        pos += stride + 1
        if kind == 0:
            row = line
            row_int = None
        elif kind == 2:  # Up
            row_int = _add_bytes(int.from_bytes(line, "little"), prior_int, low, high)
            row = row_int.to_bytes(stride, "little")
        elif kind == 1:  # Sub: per-channel prefix sum, by doubling shifts
            row_int = int.from_bytes(line, "little")
            shift = bpp
            while shift < stride:
                row_int = _add_bytes(row_int, (row_int << (8 * shift)) & full, low, high)
                shift *= 2
            row = row_int.to_bytes(stride, "little")
        elif kind == 3:  # Average
            out = bytearray(line)
            for i in range(stride):
                left = out[i - bpp] if i >= bpp else 0
                out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
            row = bytes(out)
            row_int = None
        elif kind == 4:  # Paeth
            out = bytearray(line)
            for i in range(stride):
                if i >= bpp:
                    a = out[i - bpp]
                    c = prior[i - bpp]
                else:
                    a = c = 0
                b = prior[i]
                p = a + b - c
                pa = abs(p - a)
                pb = abs(p - b)
                pc = abs(p - c)
                if pa <= pb and pa <= pc:
                    predictor = a
                elif pb <= pc:
                    predictor = b
                else:
                    predictor = c
                out[i] = (out[i] + predictor) & 0xFF
            row = bytes(out)
            row_int = None
        else:
            raise ValueError(f"bad PNG filter type {kind}")
        rows.append(row)
        prior = row
        prior_int = row_int if row_int is not None else int.from_bytes(row, "little")
    return rows


@dataclass(frozen=True)
class DecodedPng:
    width: int
    height: int
    channels: int  # 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
    rows: tuple[bytes, ...]  # unfiltered scanlines, width*channels bytes each

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        start = x * self.channels
        return tuple(self.rows[y][start: start + self.channels])

    def channel(self, y: int, index: int, x0: int = 0, x1: int | None = None) -> bytes:
        """Samples of one channel (0=R/grey, 1=G, 2=B, -1=alpha) of row y, columns [x0, x1)."""
        x1 = self.width if x1 is None else x1
        c = self.channels
        if self.channels <= 2:  # grey: R=G=B
            index = 0 if index in (0, 1, 2) else 1
        elif index == -1:
            index = 3
        return self.rows[y][x0 * c + index: x1 * c: c]


def decode_png(path: Path) -> DecodedPng:
    """Decode an 8-bit, non-interlaced greyscale/RGB/RGBA PNG (what Chromium writes) with zlib."""
    path = Path(path)
    stat = path.stat()
    return _decode_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _decode_cached(path: str, _mtime_ns: int, _size: int) -> DecodedPng:
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{path}: not a PNG")
    pos = len(_PNG_SIGNATURE)
    header = None
    idat = []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        body = data[pos + 8: pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length: pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"{path}: CRC mismatch in {kind!r} chunk")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, colour_type, _compression, _filter, interlace = header
    if depth != 8 or colour_type not in _CHANNELS or interlace != 0:
        raise ValueError(f"{path}: unsupported PNG (bit depth {depth}, colour type {colour_type}, "
                         f"interlace {interlace}); only 8-bit non-interlaced grey/RGB/RGBA")
    channels = _CHANNELS[colour_type]
    rows = _unfilter(zlib.decompress(b"".join(idat)), width, height, channels)
    return DecodedPng(width, height, channels, tuple(rows))


def _flags(samples: bytes, table: bytes) -> int:
    """Big int with byte i = table[samples[i]] (0 or 1)."""
    return int.from_bytes(samples.translate(table), "little")


def _near_table(value: int, tolerance: int) -> bytes:
    return bytes(1 if abs(v - value) <= tolerance else 0 for v in range(256))


def png_stats(path: Path, white_threshold: int = 250, max_samples: int = 65536) -> dict:
    """Width, height, distinct colours (over an even sample grid of at most `max_samples` pixels),
    and the exact fraction of non-white pixels (any of R, G, B below `white_threshold`;
    fully transparent pixels count as white)."""
    png = decode_png(path)
    w, h = png.width, png.height
    not_white = bytes(1 if v < white_threshold else 0 for v in range(256))
    opaque = bytes(0 if v == 0 else 1 for v in range(256))
    non_white = 0
    for y in range(h):
        flags = _flags(png.channel(y, 0), not_white) | _flags(png.channel(y, 1), not_white) \
            | _flags(png.channel(y, 2), not_white)
        if png.channels in (2, 4):
            flags &= _flags(png.channel(y, -1), opaque)
        non_white += flags.to_bytes(w, "little").count(1)
    step = 1
    while (w // step + 1) * (h // step + 1) > max_samples:
        step += 1
    colours: dict[tuple[int, ...], int] = {}
    for y in range(0, h, step):
        for x in range(0, w, step):
            rgb = png.pixel(x, y)[:3] if png.channels >= 3 else png.pixel(x, y)[:1] * 3
            colours[rgb] = colours.get(rgb, 0) + 1
    common = sorted(colours.items(), key=lambda item: -item[1])[:8]
    return {
        "width": w,
        "height": h,
        "channels": png.channels,
        "distinct_colours": len(colours),
        "sample_step": step,
        "non_white_fraction": non_white / (w * h) if w * h else 0.0,
        "common_colours": ["#%02x%02x%02x" % rgb for rgb, _ in common],
    }


@dataclass(frozen=True)
class ColourMatch:
    count: int  # pixels within tolerance
    bbox: tuple[int, int, int, int] | None  # (x0, y0, x1, y1), exclusive end, of the matching pixels


def _parse_rgb(rgb: tuple[int, int, int] | str) -> tuple[int, int, int]:
    if isinstance(rgb, str):
        text = rgb.lstrip("#")
        if len(text) == 3:
            text = "".join(ch * 2 for ch in text)
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    return tuple(rgb)  # type: ignore[return-value]


def find_colour(path: Path, rgb: tuple[int, int, int] | str, tolerance: int = 8,
                region: tuple[int, int, int, int] | None = None) -> ColourMatch:
    """Pixels whose R, G and B are each within `tolerance` of `rgb` ("#d62728" or a tuple),
    optionally only inside `region` = (x, y, width, height) in screenshot pixels."""
    png = decode_png(path)
    r, g, b = _parse_rgb(rgb)
    x0, y0, rw, rh = region if region else (0, 0, png.width, png.height)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(png.width, x0 + rw), min(png.height, y0 + rh)
    if x1 <= x0 or y1 <= y0:
        return ColourMatch(0, None)
    tables = (_near_table(r, tolerance), _near_table(g, tolerance), _near_table(b, tolerance))
    count = 0
    bx0 = by0 = 1 << 30
    bx1 = by1 = -1
    for y in range(y0, y1):
        flags = _flags(png.channel(y, 0, x0, x1), tables[0]) & _flags(png.channel(y, 1, x0, x1), tables[1]) \
            & _flags(png.channel(y, 2, x0, x1), tables[2])
        if not flags:
            continue
        mask = flags.to_bytes(x1 - x0, "little")
        count += mask.count(1)
        bx0 = min(bx0, x0 + mask.find(1))
        bx1 = max(bx1, x0 + mask.rfind(1) + 1)
        by0 = min(by0, y)
        by1 = y + 1
    return ColourMatch(count, (bx0, by0, bx1, by1) if count else None)


def region_has_colour(path: Path, rgb: tuple[int, int, int] | str, tolerance: int = 8,
                      region: tuple[int, int, int, int] | None = None, min_pixels: int = 1) -> bool:
    """Whether at least `min_pixels` pixels (in `region`, default the whole image) match `rgb`."""
    return find_colour(path, rgb, tolerance, region).count >= min_pixels
