"""Headless Chromium driven over its DevTools pipe: measure a page's layout at a width.

No extra package: Chromium's `--remote-debugging-pipe` reads JSON commands on
fd 3 and writes replies on fd 4, each message ended by a NUL byte.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None
)


def _high(fd: int) -> int:
    moved = os.dup2(fd, fd + 10) if fd < 5 else fd
    if moved != fd:
        os.close(fd)
    return moved


class Browser:
    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # above 4, so that placing one end on fd 3 never overwrites the other
        to_chrome_r, from_chrome_w = _high(to_chrome_r), _high(from_chrome_w)

        def fds() -> None:  # runs in the child: the pipe ends become fds 3 and 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
                "--remote-debugging-pipe", "about:blank",
            ],
            # 3 and 4 too: the child's ends land there before the unlisted fds are closed
            pass_fds=(3, 4, to_chrome_r, from_chrome_w),
            preexec_fn=fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next = 0
        self._buf = b""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_chrome, 65536)
            if not chunk:
                raise RuntimeError("chromium closed its pipe")
            self._buf += chunk
        message, _, self._buf = self._buf.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(60)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str, width: int, height: int = 900) -> None:
        """Load `url` in a `width` px wide viewport (as a phone does at 390) and wait for it."""
        self.call(
            "Emulation.setDeviceMetricsOverride", session=True,
            width=width, height=height, deviceScaleFactor=1, mobile=width < 600,
        )  # fmt: skip
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            event = self._read(60)
            if event.get("method") == "Page.loadEventFired":
                return
        raise TimeoutError(f"{url} did not load")

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        return result["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


#: what overflows: cards whose content is wider than the card, and the page itself
OVERFLOW = """
(() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    out.push("page " + document.documentElement.scrollWidth + " > " + window.innerWidth);
  for (const c of document.querySelectorAll(".card")) {
    if (c.scrollWidth > c.clientWidth + 1) {
      const h = c.querySelector("h2, svg .title");
      out.push((h ? h.textContent : c.className) + ": " + c.scrollWidth + " > " + c.clientWidth);
    }
  }
  return out;
})()
"""

#: the rendered font size of each chart's tick labels (px on screen)
TICK_SIZES = """
[...document.querySelectorAll("svg.chart")].filter(s => s.offsetParent !== null).map(s => {
  const t = s.querySelector("text.tick");
  return t ? Math.round(t.getBoundingClientRect().height * 10) / 10 : null;
}).filter(v => v !== null)
"""
