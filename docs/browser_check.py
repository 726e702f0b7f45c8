"""Check the built HTML documentation in a real browser, offline.

Usage::

    python docs/browser_check.py HTML_DIR [--screenshots DIR] [--page PAGE ...]

HTML_DIR is the output of ``python -m sphinx -b html docs HTML_DIR``. It is
served on 127.0.0.1 (a free port, a thread of this process) and each page is
opened by headless Chromium (``/usr/bin/chromium`` unless ``--chromium`` or
``$CHROMIUM`` says otherwise) after its scripts ran. For every page:

- **formulas**: each ``span.math`` / ``div.math`` holds MathJax output
  (``mjx-container``), no raw ``\\(`` / ``\\[`` is left and MathJax reported
  no TeX error;
- **offline**: the page asked for nothing outside the local server (Chromium's
  network log), every local file it asked for exists (no 404), MathJax is the
  copy shipped in ``_static/mathjax``, and the formulas are typeset also when
  the page is opened as a file (``file://``);
- **copy buttons**: every code block has one, and clicking it copies only the
  code of a ``>>>`` block and only the commands of a ``$`` block (no prompts,
  no output);
- **nothing cut off**: no code block or formula is clipped, at 1280 px and
  at 412 px wide: what is too wide scrolls sideways, and only that scrolls.

With ``--screenshots DIR`` a 1280x1600 PNG of each page is written to DIR.
Prints one line per page; exits 1 with the reasons when a check fails, 2 when
it cannot run (no Chromium, no HTML_DIR).
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

PAGES = ("index.html", "sizes.html", "theory/input-gradient.html", "api/convolution.html")
PROBE = "/__browser_check__/probe.html"
MATHJAX = "_static/mathjax/"
PROMPT = re.compile(r"^(>>> |\.\.\. |\$ )(.*)$")  # conf.py's copybutton_prompt_text
RAW_MATH = ("\\(", "\\)", "\\[", "\\]", "$$")
WIDTHS = (1280, 412)
BROWSER_TIMEOUT = 120  # seconds of real time for one Chromium run

# Opens PAGE in an iframe, waits for MathJax and the copy buttons, clicks every copy
# button (catching what would go to the clipboard) and measures every code block and
# formula at each width; the findings are written as JSON into <pre id="result">.
PROBE_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>browser check</title></head>
<body style="margin:0">
<iframe id="page" style="width:1280px;height:1600px;border:0"></iframe>
<pre id="result" data-done="0"></pre>
<script>
"use strict";
const WIDTHS = %(widths)s;
const TOLERANCE = 1;  // px: antialiasing, not a cut
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const frame = document.getElementById("page");
const out = document.getElementById("result");

function describe(el) {
  const names = typeof el.className === "string" ? el.className.trim().split(/\\s+/).filter(Boolean) : [];
  return [el.tagName.toLowerCase(), ...names].join(".");
}

function extent(doc, el) {
  // The box of what el shows: its text (a code block), or its drawn parts (a formula;
  // MathJax's hidden copy for screen readers, mjx-assistive-mml, is not shown).
  const box = {left: Infinity, top: Infinity, right: -Infinity, bottom: -Infinity};
  const add = (rect) => {
    if (rect.width === 0 && rect.height === 0) return;
    box.left = Math.min(box.left, rect.left);
    box.top = Math.min(box.top, rect.top);
    box.right = Math.max(box.right, rect.right);
    box.bottom = Math.max(box.bottom, rect.bottom);
  };
  if (el.tagName === "PRE") {
    const range = doc.createRange();
    range.selectNodeContents(el);
    for (const rect of range.getClientRects()) add(rect);
  } else {
    for (const part of el.querySelectorAll("*")) {
      if (!part.closest("mjx-assistive-mml")) add(part.getBoundingClientRect());
    }
  }
  return box.left === Infinity ? null : box;
}

function cutOff(win, doc, el) {
  // Why el's content is not shown right, or "" when it is: walking up from el, a box
  // that hides its overflow on an axis must hold the content on that axis, and a box
  // that scrolls shows at most itself; el's own box scrolls only if the content needs it.
  if (el.getClientRects().length === 0) return "";  // not displayed (a collapsed menu)
  // A formula's drawing is inside its mjx-container: start there (for display math,
  // the container is what scrolls).
  const start = el.querySelector("mjx-container") || el;
  const need = extent(doc, start);
  if (need === null) return "";
  const axes = [
    ["overflowX", "overflow-x", "left", "right", "width"],
    ["overflowY", "overflow-y", "top", "bottom", "height"],
  ];
  for (let a = start; a && a !== doc.documentElement; a = a.parentElement) {
    const style = win.getComputedStyle(a);
    const box = a.getBoundingClientRect();
    for (const [overflow, property, low, high, size] of axes) {
      const value = style[overflow];
      if (value === "visible") continue;
      const fits = need[low] >= box[low] - TOLERANCE && need[high] <= box[high] + TOLERANCE;
      if (value === "hidden" || value === "clip") {
        if (!fits) {
          const shown = Math.min(need[high], box[high]) - Math.max(need[low], box[low]);
          return `${Math.round(need[high] - need[low])} px of ${size} in ${Math.round(shown)} px: ` +
                 `cut by ${describe(a)} (${property}: ${value})`;
        }
      } else {
        const scrolls = size === "width" ? a.scrollWidth > a.clientWidth + 1 : a.scrollHeight > a.clientHeight + 1;
        const inset = (side) => parseFloat(style["border-" + side + "-width"]) + parseFloat(style["padding-" + side]);
        const fitsContentBox = need[low] >= box[low] + inset(low) - TOLERANCE &&
                               need[high] <= box[high] - inset(high) + TOLERANCE;
        if (fitsContentBox && scrolls && (a === el || a === start)) {
          return `a scrollbar (${property}: ${value}) on ${describe(a)} although what it shows fits`;
        }
        need[low] = Math.max(need[low], box[low]);
        need[high] = Math.min(need[high], box[high]);
      }
    }
  }
  return "";
}

function measure(win, doc, width) {
  const cut = [];
  for (const el of doc.querySelectorAll("pre, span.math, div.math")) {
    const why = cutOff(win, doc, el);
    if (why) {
      const text = (el.tagName === "PRE" ? el.innerText : (el.querySelector("mjx-assistive-mml") || el).textContent);
      cut.push({width, element: describe(el), why, text: text.trim().split("\\n")[0].slice(0, 70)});
    }
  }
  const scrolling = [...doc.querySelectorAll("pre")].filter((pre) => pre.scrollWidth > pre.clientWidth + 1).length;
  return {cut, scrolling};
}

async function main() {
  const page = new URLSearchParams(location.search).get("page");
  await new Promise((resolve) => { frame.onload = resolve; frame.src = "/" + page; });
  const win = frame.contentWindow;
  const doc = frame.contentDocument;
  const result = {page, errors: []};
  const hasMath = doc.querySelector("span.math, div.math") !== null;
  const cells = doc.querySelectorAll("div.highlight pre");
  for (let i = 0; i < 80; i++) {  // up to 8 s, well within Chromium's virtual time budget
    const mathReady = !hasMath || (win.MathJax && win.MathJax.startup && win.MathJax.startup.promise);
    if (mathReady && doc.querySelectorAll("button.copybtn").length >= cells.length) break;
    await sleep(100);
  }
  if (hasMath) {
    if (win.MathJax && win.MathJax.startup && win.MathJax.startup.promise) {
      await win.MathJax.startup.promise;
      result.mathjax = win.MathJax.version + " " + win.MathJax.startup.output.name;
    } else {
      result.errors.push("MathJax did not start");
    }
  }

  let copied = null;  // what ClipboardJS hands to document.execCommand("copy")
  doc.execCommand = (command) => {
    if (command === "copy") {
      const active = doc.activeElement;
      const textareas = doc.querySelectorAll("textarea");
      copied = active && active.tagName === "TEXTAREA" ? active.value
             : textareas.length ? textareas[textareas.length - 1].value : null;
    }
    return true;
  };
  result.blocks = [];
  for (const pre of cells) {
    const wrapper = pre.closest("div[class*=highlight-]");
    const language = wrapper ? (wrapper.className.match(/highlight-(\\S+)/) || [])[1] : "";
    const button = pre.parentElement.querySelector("button.copybtn");
    copied = null;
    if (button) button.click();
    result.blocks.push({language, text: pre.innerText, button: button !== null, copied});
  }

  result.cut = [];
  result.scrolling = {};
  for (const width of WIDTHS) {
    frame.style.width = width + "px";
    await sleep(200);
    const found = measure(win, doc, width);
    result.cut.push(...found.cut);
    result.scrolling[width] = found.scrolling;
  }
  frame.style.width = WIDTHS[0] + "px";
  return result;
}

main().then(
  (result) => { out.textContent = JSON.stringify(result); out.dataset.done = "1"; },
  (error) => { out.textContent = JSON.stringify({errors: ["probe failed: " + error]}); out.dataset.done = "1"; },
);
</script>
</body></html>
"""


class CheckFailed(Exception):
    """A page failed a check: the message says which and why."""


# --- the local server -------------------------------------------------------------


class _Handler(SimpleHTTPRequestHandler):
    """Serves HTML_DIR and the probe page; remembers every request and its status."""

    log: list[tuple[str, int]]

    def do_GET(self):
        if urlsplit(self.path).path == PROBE:
            body = (PROBE_HTML % {"widths": json.dumps(WIDTHS)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_request(self, code="-", size="-"):
        self.log.append((urlsplit(self.path).path, int(code)))

    def log_message(self, format, *args):  # quiet: failures are reported from self.log
        pass


@dataclass
class Server:
    root: Path
    log: list[tuple[str, int]] = field(default_factory=list)

    def __enter__(self):
        handler = type("Handler", (_Handler,), {"log": self.log})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(self.root)))
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


# --- Chromium -----------------------------------------------------------------------


def chromium(executable: str, url: str, *action: str) -> tuple[str, list[dict]]:
    """Run headless Chromium on url with a fresh profile: its stdout and its network log's requests."""
    with tempfile.TemporaryDirectory(prefix="convmat-chromium-", ignore_cleanup_errors=True) as profile:
        netlog = Path(profile) / "netlog.json"
        command = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            # Nothing but the local server resolves: a page asking for a CDN fails at once
            # (and shows in the network log) instead of waiting on a closed network.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--log-net-log={netlog}",
            "--window-size=1280,1600",
            "--virtual-time-budget=15000",
            *action,
            url,
        ]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"Chromium did not finish {url} within {BROWSER_TIMEOUT} s") from None
        if run.returncode != 0:
            raise CheckFailed(f"Chromium failed on {url} (exit {run.returncode}):\n{run.stderr[-2000:]}")
        return run.stdout, _requests(netlog)


def _requests(netlog: Path) -> list[dict]:
    """The URL requests of a Chromium network log: url and initiator (the origin that asked)."""
    try:
        text = netlog.read_text(encoding="utf-8")
    except OSError:
        return []
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # a log Chromium did not close
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"] for e in log.get("events", []) if e.get("type") == start and "url" in e.get("params", {})]


# --- reading a DOM ------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _MathParser(HTMLParser):
    """The span.math / div.math elements of a page (their own text and MathJax output) and its script sources."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict | None]] = []  # (tag, math element it opens or None)
        self.math: list[dict] = []
        self.scripts: list[str] = []
        self.errors = 0

    def _current(self):
        return next((m for _, m in reversed(self.stack) if m is not None), None)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if "data-mjx-error" in attrs or tag == "mjx-merror" or attrs.get("data-mml-node") == "merror":
            self.errors += 1
        if tag in VOID:
            return
        current = self._current()
        opened = None
        if tag in ("span", "div") and "math" in (attrs.get("class") or "").split():
            opened = {"text": "", "containers": 0}
            self.math.append(opened)
        elif tag == "mjx-container" and current is not None:
            current["containers"] += 1
        self.stack.append((tag, opened))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        current = self._current()
        if current is not None and not any(t == "mjx-container" for t, _ in self.stack):
            current["text"] += data


def read_math(markup: str) -> _MathParser:
    parser = _MathParser()
    parser.feed(markup)
    parser.close()
    return parser


# --- the checks ---------------------------------------------------------------------


def expected_copy(text: str) -> list[str]:
    """The non-blank lines a copy button must copy: the code after the prompts, or every line without prompts."""
    lines = text.split("\n")
    prompted = [m.group(2) for m in map(PROMPT.match, lines) if m]
    return [line for line in (prompted or lines) if line.strip()]


def check_page(server: Server, browser: str, page: str, screenshots: Path | None) -> str:
    """Run every check on one page; its summary line, or CheckFailed with all its problems."""
    url = f"{server.origin}/{page}"
    problems = []
    static = read_math((server.root / page).read_text(encoding="utf-8"))

    # 1. The DOM after the scripts ran: formulas typeset by the local MathJax.
    first = len(server.log)
    dom, requests = chromium(browser, url, "--dump-dom")
    if "</html>" not in dom:
        raise CheckFailed(f"{page}: Chromium returned no DOM")
    typeset = read_math(dom)
    if len(typeset.math) != len(static.math):
        problems.append(f"{len(static.math)} math elements in the file, {len(typeset.math)} in the browser")
    untypeset = [m["text"].strip()[:70] for m in typeset.math if m["containers"] == 0]
    if untypeset:
        problems.append(f"{len(untypeset)} formulas not typeset (no mjx-container), e.g. {untypeset[0]!r}")
    raw = [m["text"].strip()[:70] for m in typeset.math if any(d in m["text"] for d in RAW_MATH)]
    if raw:
        problems.append(f"raw LaTeX left in {len(raw)} math elements, e.g. {raw[0]!r}")
    if typeset.errors:
        problems.append(f"MathJax reported {typeset.errors} TeX errors (merror)")
    mathjax = [s for s in typeset.scripts if "mathjax" in s.lower()]
    if static.math and not any(MATHJAX in s for s in mathjax):
        problems.append(f"MathJax is not loaded from {MATHJAX}: scripts {mathjax}")
    remote = [s for s in typeset.scripts if urlsplit(s).scheme and not s.startswith(server.origin)]
    if remote:
        problems.append(f"scripts from outside the site: {remote}")
    problems += _offline_problems(server, requests, first)

    # 2. The same page opened from the file system, as a reader of the built pages would.
    if static.math:
        local = read_math(chromium(browser, (server.root / page).as_uri(), "--dump-dom")[0])
        untypeset = sum(1 for m in local.math if m["containers"] == 0)
        if untypeset or len(local.math) != len(static.math):
            problems.append(f"opened as a file, {untypeset} of {len(static.math)} formulas are not typeset")

    # 3. The probe: copy buttons, and nothing cut off.
    first = len(server.log)
    probe, requests = chromium(browser, f"{server.origin}{PROBE}?page={page}", "--dump-dom")
    found = re.search(r'<pre id="result" data-done="1">(.*?)</pre>', probe, re.DOTALL)
    if found:
        result = json.loads(html.unescape(found.group(1)))
    else:
        result = {"errors": ["the probe (copy buttons, cut-off blocks) did not finish in Chromium's virtual time"]}
    problems += result["errors"]
    blocks = result.get("blocks", [])
    for number, block in enumerate(blocks, 1):
        where = f"code block {number} ({block['language']}, {block['text'].strip().splitlines()[0][:50]!r})"
        if not block["button"]:
            problems.append(f"{where}: no copy button")
        elif block["copied"] is None:
            problems.append(f"{where}: the copy button copied nothing")
        elif [line for line in block["copied"].split("\n") if line.strip()] != expected_copy(block["text"]):
            problems.append(f"{where}: the copy button copies {block['copied']!r}")
    for cut in result.get("cut", []):
        problems.append(f"at {cut['width']} px, {cut['element']} {cut['text']!r}: {cut['why']}")
    problems += _offline_problems(server, requests, first, ignore=(PROBE,))

    # 4. The screenshot.
    shot = ""
    if screenshots is not None:
        png = screenshots / (page.replace("/", "-").removesuffix(".html") + ".png")
        png.unlink(missing_ok=True)
        chromium(browser, url, f"--screenshot={png}")
        if not png.is_file() or png.stat().st_size < 1000:
            problems.append(f"no screenshot written to {png}")
        shot = f"; screenshot {png}"

    problems = list(dict.fromkeys(problems))  # the two runs may find the same
    if problems:
        raise CheckFailed(f"{page}:\n" + "\n".join(f"  - {p}" for p in problems))
    prompts = sum(1 for b in blocks if any(PROMPT.match(line) for line in b["text"].split("\n")))
    formulas = f"{len(typeset.math)} formulas typeset by MathJax {result['mathjax']}" if static.math else "no formulas"
    scrolling = ", ".join(f"{n} at {width} px" for width, n in result["scrolling"].items())
    return (
        f"ok  {page}: {formulas}; {len(blocks)} code blocks with copy buttons "
        f"({prompts} with prompts, copied without them); nothing cut off at "
        f"{' or '.join(map(str, WIDTHS))} px (code blocks scrolling sideways: {scrolling}); "
        f"nothing fetched from outside{shot}"
    )


def _offline_problems(server: Server, requests: list[dict], first: int, ignore=()) -> list[str]:
    problems = []
    outside = sorted(
        {r["url"] for r in requests if r.get("initiator") == server.origin and not r["url"].startswith(server.origin)}
    )
    if outside:
        problems.append(f"the page asked for URLs outside the site: {outside[:5]}")
    missing = sorted({p for p, code in server.log[first:] if code >= 400 and p not in ("/favicon.ico", *ignore)})
    if missing:
        problems.append(f"files the page asked for are missing from the site: {missing[:10]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", type=Path, help="the built HTML (sphinx -b html docs HTML_DIR)")
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="write a PNG of each page here")
    parser.add_argument("--page", action="append", help=f"a page to check (repeatable; default: {', '.join(PAGES)})")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM") or shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)

    root = args.html_dir.resolve()
    if not (root / "index.html").is_file():
        print(f"browser check: {root} holds no built HTML (no index.html)", file=sys.stderr)
        return 2
    browser = shutil.which(args.chromium)
    if browser is None:
        print(f"browser check: no Chromium at {args.chromium!r} (install chromium or pass --chromium)", file=sys.stderr)
        return 2
    pages = args.page or list(PAGES)
    absent = [p for p in pages if not (root / p).is_file()]
    if absent:
        print(f"browser check: pages not in {root}: {', '.join(absent)}", file=sys.stderr)
        return 1
    if args.screenshots is not None:
        args.screenshots.mkdir(parents=True, exist_ok=True)
        args.screenshots = args.screenshots.resolve()

    failures = []
    with Server(root) as server:
        for page in pages:
            try:
                print(check_page(server, browser, page, args.screenshots), flush=True)
            except CheckFailed as failure:
                print(f"FAIL {failure}", file=sys.stderr, flush=True)
                failures.append(page)
    if failures:
        print(f"browser check failed on {len(failures)} of {len(pages)} pages: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
