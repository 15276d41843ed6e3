"""Fixtures for the Python suite: a live gptauth (own port, own temporary SQLite database, a user
made with the CLI) and a headless "person" that signs in and consents through its HTML forms."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
GPTAUTH_BIN = os.environ.get("GPTAUTH_BIN") or str(ROOT / "target" / "debug" / "gptauth")
USER_EMAIL = "katherine@example.com"
USER_PASSWORD = "orbital mechanics by hand 1962"
USER_NAME = "Katherine Johnson"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gptauth:
    issuer: str
    env: dict
    process: subprocess.Popen
    log_path: Path
    user: dict = field(default_factory=dict)

    def cli(self, *args: str, stdin: str = "") -> dict:
        done = subprocess.run(
            [GPTAUTH_BIN, *args, "--json"], env=self.env, input=stdin,
            capture_output=True, text=True, timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"gptauth {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return json.loads(done.stdout)

    def create_client(self, name: str, redirect_uri: str) -> dict:
        return self.cli("client", "create", "--name", name, "--redirect-uri", redirect_uri)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _start(workdir: Path) -> Gptauth:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DATABASE_URL": f"sqlite://{workdir / 'gptauth.db'}",
        "GPTAUTH_ISSUER": issuer,
        "GPTAUTH_BIND": f"127.0.0.1:{port}",
        "RUST_LOG": os.environ.get("GPTAUTH_LOG", "warn"),
        "NO_COLOR": "1",
    }
    log_path = workdir / "gptauth.log"
    server = Gptauth(issuer=issuer, env=env, process=None, log_path=log_path)  # type: ignore[arg-type]
    server.user = server.cli(
        "user", "create", "--email", USER_EMAIL, "--name", USER_NAME, "--password-stdin",
        stdin=USER_PASSWORD + "\n",
    )
    with open(log_path, "wb") as log:
        server.process = subprocess.Popen(
            [GPTAUTH_BIN, "serve"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if requests.get(f"{issuer}/healthz", timeout=1).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.05)
    _stop(server)
    raise RuntimeError(f"gptauth serve did not answer /healthz on {issuer}:\n{server.log()}")


def _stop(server: Gptauth) -> None:
    if server.process and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def gptauth():
    workdir = Path(tempfile.mkdtemp(prefix="gptauth-authlib-"))
    server = None
    try:
        for attempt in range(3):  # the picked port may be taken before the server binds it
            try:
                server = _start(Path(tempfile.mkdtemp(dir=workdir)))
                break
            except RuntimeError as e:
                if attempt == 2 or "Address already in use" not in str(e):
                    raise
        yield server
    finally:
        if server:
            _stop(server)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Shows gptauth's log under a failing test."""
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("gptauth") if hasattr(item, "funcargs") else None
    if report.failed and server is not None and server.log().strip():
        report.sections.append(("gptauth log", server.log()))


class _Forms(HTMLParser):
    """Every <form> with its <input>s and named <button>s (attribute values unescaped)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._open = {"action": a.get("action", ""), "method": a.get("method", "get").upper(),
                          "inputs": [], "buttons": []}
            self.forms.append(self._open)
        elif self._open is not None and tag == "input" and a.get("name"):
            self._open["inputs"].append((a["name"], a.get("value", "")))
        elif self._open is not None and tag == "button" and a.get("name"):
            self._open["buttons"].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


class Person:
    """Signs in and consents on gptauth's pages with a cookie jar, as a browser user would, and
    stops at the first redirect that leaves gptauth: the client's callback."""

    def __init__(self, email: str = USER_EMAIL, password: str = USER_PASSWORD):
        self.http = requests.Session()
        self.email, self.password = email, password
        self.pages: list[str] = []
        self.posted: list[tuple[str, list[str]]] = []

    def authorize(self, url: str, max_steps: int = 12) -> str:
        home = urlsplit(url)[:2]
        method, data = "GET", None
        for _ in range(max_steps):
            res = self.http.request(method, url, data=data, allow_redirects=False,
                                    headers={"Accept": "text/html"}, timeout=30)
            if res.is_redirect:
                nxt = urljoin(url, res.headers["Location"])
                if urlsplit(nxt)[:2] != home:
                    return nxt
                method, url, data = "GET", nxt, None
                continue
            if res.status_code != 200:
                raise AssertionError(f"gptauth answered {res.status_code} at {method} {url}: {res.text[:600]}")
            method, url, data = self._fill(res.text, url)
        raise AssertionError(f"no redirect back to the client after {max_steps} steps")

    def _fill(self, html: str, page: str):
        parser = _Forms()
        parser.feed(html)
        for form in parser.forms:
            names = [n for n, _ in form["inputs"]]
            action = urljoin(page, form["action"] or page)
            if "password" in names:
                self.pages.append("login")
                fields = [(n, self.email if n == "email" else self.password if n == "password" else v)
                          for n, v in form["inputs"]]
            else:
                allow = [b for b in form["buttons"] if b[1].lower() == "allow"]
                if not allow:
                    continue
                self.pages.append("consent")
                fields = form["inputs"] + allow[:1]
            self.posted.append((self.pages[-1], [n for n, _ in fields]))
            return form["method"], action, fields
        raise AssertionError(f"no login or consent form on {page}: {html[:600]}")
