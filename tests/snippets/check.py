#!/usr/bin/env python3
"""Runs the README's token-validation snippets against a live gptauth.

Started by run.sh with the venv's Python (PyJWT + cryptography installed). It

1. takes the ```python and ```js blocks verbatim from README.md's section
   "## Validate the token in your API" and writes them to temp modules, replacing only the
   issuer URL https://auth.example.com with the live server's issuer and the placeholder client
   ID with the CLI-made client's;
2. starts `gptauth serve` (fresh temp SQLite, free port, GPTAUTH_ACCESS_TOKEN_TTL=2), creates a
   client and a user with the CLI and gets a real access token through the plain-HTTP
   login -> authorize -> consent -> token flow;
3. feeds the Python snippet's `user_id` (in this process) and the Node snippet's `userId` (in a
   node worker, verify.mjs) the real token and forged ones, and checks what each accepts; then
   real tokens of another CLI client and of a dynamically registered one, which the pinned
   snippets must refuse;
4. stops the server and removes its temp dir, whatever happened.

The last line printed is "N passed, M failed"; the exit status is 0 only when M is 0.

Env: GPTAUTH_BIN (default: <repo>/target/debug/gptauth), README (default: <repo>/README.md).
"""
from __future__ import annotations

import base64
import ctypes
import html.parser
import http.cookiejar
import importlib.util
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("GPTAUTH_BIN") or os.path.join(ROOT, "target", "debug", "gptauth")
README = os.environ.get("README") or os.path.join(ROOT, "README.md")

SECTION = "## Validate the token in your API"
PLACEHOLDER = "https://auth.example.com"
CLIENT_PLACEHOLDER = "gpt_your_client_id"
TTL = 2  # seconds: short, so that the same token can be seen valid and then expired

REDIRECT_URI = "https://chat.openai.com/aip/g-abc/oauth/callback"
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
STATE = "s"

# Errors that mean "this token is out of date" / "could not reach the JWKS": a forged token must
# be refused for its forgery, not for one of these (which would also refuse a genuine token).
PY_EXPIRED = {"ExpiredSignatureError"}
PY_UNRELATED = PY_EXPIRED | {"PyJWKClientConnectionError", "URLError", "ConnectionError", "TimeoutError"}
JS_EXPIRED = {"ERR_JWT_EXPIRED"}
JS_UNRELATED = JS_EXPIRED | {"ERR_JWKS_TIMEOUT", None}  # None: no jose error code (fetch failed, TypeError…)


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# README extraction


def extract_snippets(text: str) -> dict[str, str]:
    """The fenced ```python and ```js blocks of SECTION, verbatim (exactly one of each)."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip() == SECTION]
    if len(starts) != 1:
        raise RuntimeError(f"README: expected exactly one heading {SECTION!r}, found {len(starts)}")
    end = len(lines)
    for i in range(starts[0] + 1, len(lines)):
        if re.match(r"#{1,2} ", lines[i]):
            end = i
            break
    blocks: dict[str, list[str]] = {}
    fence_lang, body = None, []
    for line in lines[starts[0] + 1:end]:
        if fence_lang is None:
            m = re.match(r"^```\s*([\w+-]*)\s*$", line)
            if m:
                fence_lang, body = m.group(1).lower(), []
        elif re.match(r"^```\s*$", line):
            blocks.setdefault(fence_lang, []).append("".join(body))
            fence_lang = None
        else:
            body.append(line)
    if fence_lang is not None:
        raise RuntimeError(f"README: unclosed ```{fence_lang} block in {SECTION!r}")
    out = {}
    for lang in ("python", "js"):
        found = blocks.get(lang, [])
        if len(found) != 1:
            raise RuntimeError(f"README: expected one ```{lang} block in {SECTION!r}, found {len(found)}")
        out[lang] = found[0]
    return out


def point_at(code: str, issuer: str, client_id: str, lang: str) -> str:
    """The snippet with only the placeholder issuer URL and client ID replaced by the live ones."""
    for placeholder in (PLACEHOLDER, CLIENT_PLACEHOLDER):
        if placeholder not in code:
            raise RuntimeError(f"README {lang} snippet does not mention {placeholder}")
    code = code.replace(PLACEHOLDER, issuer).replace(CLIENT_PLACEHOLDER, client_id)
    if "example.com" in code:
        raise RuntimeError(f"README {lang} snippet still names example.com after substitution")
    return code


# ---------------------------------------------------------------------------------------------
# Processes


def _die_with_parent() -> None:
    """In the child: get SIGKILL if this runner dies, so no server outlives it (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; stop() still kills the server normally
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gptauth serve` with its own temp dir, database and port; data made with the CLI."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="gptauth-snippets-")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", self.dir),
            "DATABASE_URL": f"sqlite://{os.path.join(self.dir, 'gptauth.db')}",
            "GPTAUTH_ISSUER": self.issuer,
            "GPTAUTH_BIND": f"127.0.0.1:{self.port}",
            "GPTAUTH_ACCESS_TOKEN_TTL": str(TTL),
            "RUST_LOG": "warn",
            "NO_COLOR": "1",
        }
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.dir, "server.log")

    def cli(self, *args: str, stdin: str | None = None) -> dict:
        # cwd is the temp dir, so that no .env of the repo or the caller is read.
        r = subprocess.run([BIN, *args], env=self.env, cwd=self.dir, input=stdin,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"gptauth {' '.join(args)} exited {r.returncode}\n{r.stdout}{r.stderr}")
        return json.loads(r.stdout)

    def start(self) -> None:
        self.client = self.cli("client", "create", "--name", "Snippet GPT",
                               "--redirect-uri", REDIRECT_URI, "--json")
        # Another builder's GPT on the same server: its tokens are not for the snippets' API.
        self.other_client = self.cli("client", "create", "--name", "Someone else's GPT",
                                     "--redirect-uri", REDIRECT_URI, "--json")
        self.user = self.cli("user", "create", "--email", EMAIL, "--password-stdin", "--json",
                             stdin=PASSWORD + "\n")
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BIN, "serve"], env=self.env, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        logf.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.issuer}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        why = f"exited {self.proc.returncode}" if self.proc.poll() is not None else "timed out"
        raise ServerStartError(f"gptauth serve did not become healthy on {self.issuer} ({why})\n{self.log()}",
                               port_taken=bool(re.search(r"address already in use|AddrInUse|os error 98", self.log(), re.I)))

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class ServerStartError(RuntimeError):
    def __init__(self, msg: str, port_taken: bool) -> None:
        super().__init__(msg)
        self.port_taken = port_taken


def start_server() -> Server:
    # The port is free when picked but could be taken before the server binds it: retry then.
    for attempt in range(3):
        server = Server()
        try:
            server.start()
            return server
        except ServerStartError as e:
            server.stop()
            if not e.port_taken or attempt == 2:
                raise
        except BaseException:
            server.stop()
            raise
    raise AssertionError("unreachable")


class NodeWorker:
    """verify.mjs running the README's Node snippet; requests and answers are JSON lines."""

    def __init__(self, module_path: str) -> None:
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "verify.mjs"), module_path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, preexec_fn=_die_with_parent)
        self.answers: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.answers.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr.append), daemon=True).start()
        first = self._next(timeout=20)
        if first != {"ready": True}:
            raise RuntimeError(f"node worker did not start: {first}\n{''.join(self.stderr)}")

    @staticmethod
    def _read(stream, sink) -> None:
        for line in stream:
            sink(line)
        sink(None)

    def _next(self, timeout: float):
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"node worker: no answer within {timeout}s\n{''.join(self.stderr)}") from None
        if line is None:
            time.sleep(0.1)  # let the stderr reader catch up
            raise RuntimeError(f"node worker exited ({self.proc.poll()})\n{''.join(self.stderr)}")
        return json.loads(line)

    def send(self, requests: dict[str, str]) -> None:
        """Sends {id: token}; answers are collected with collect()."""
        for rid, token in requests.items():
            self.proc.stdin.write(json.dumps({"id": rid, "authorization": f"Bearer {token}"}) + "\n")
        self.proc.stdin.flush()

    def collect(self, ids, timeout: float = 20) -> dict[str, dict]:
        want, got = set(ids), {}
        deadline = time.monotonic() + timeout
        while want - got.keys():
            answer = self._next(timeout=max(0.1, deadline - time.monotonic()))
            got[answer["id"]] = answer
        return got

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------
# The OAuth flow over plain HTTP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class _Forms(html.parser.HTMLParser):
    """Every <form>: its action and the name/value of its inputs and buttons (unescaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "fields": {}, "buttons": {}})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            kind = "buttons" if tag == "button" else "fields"
            self.forms[-1][kind].setdefault(a["name"], []).append(a.get("value") or "")


def forms_in(body: str) -> list[dict]:
    p = _Forms()
    p.feed(body)
    return p.forms


class Browser:
    """A cookie jar and no automatic redirects: enough to drive the login and consent pages."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect())

    def request(self, method: str, path: str, form: dict | None = None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(urllib.parse.urljoin(self.base, path), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode(errors="replace")


def expect(cond: bool, what: str, status=None, body: str = "") -> None:
    if not cond:
        raise RuntimeError(f"flow: {what} (status {status})\n{body[:2000]}")


def register_client(server: Server) -> dict:
    """A confidential client registered anonymously (RFC 7591), as anyone on the Internet can."""
    req = urllib.request.Request(f"{server.issuer}/oauth/register", method="POST", data=json.dumps({
        "client_name": "Anyone", "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "client_secret_post"}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        expect(r.status == 201, "POST /oauth/register", r.status)
        return json.load(r)


def authorization_code(server: Server, client: dict) -> str:
    b = Browser(server.issuer)
    client_id = client["client_id"]
    authorize = "/oauth/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": STATE})

    status, _, body = b.request("GET", "/login")
    expect(status == 200, "GET /login", status, body)
    login = [f for f in forms_in(body) if "csrf_token" in f["fields"]]
    expect(len(login) == 1, "one login form with a csrf_token", status, body)

    status, headers, body = b.request("POST", "/login", {
        "email": EMAIL, "password": PASSWORD,
        "csrf_token": login[0]["fields"]["csrf_token"][0], "next": authorize})
    expect(status == 303 and headers.get("Location") == authorize,
           f"POST /login should 303 to the authorize URL, got Location {headers.get('Location')!r}", status, body)

    status, headers, body = b.request("GET", authorize)
    consent_url = headers.get("Location") or ""
    expect(status == 302 and consent_url.startswith("/consent?"),
           f"authorize should 302 to /consent, got Location {consent_url!r}", status, body)

    status, _, body = b.request("GET", consent_url)
    expect(status == 200, "GET /consent", status, body)
    consent = [f for f in forms_in(body) if f["action"].startswith("/consent?")]
    expect(len(consent) == 1 and "csrf_token" in consent[0]["fields"], "one consent form", status, body)
    expect("allow" in consent[0]["buttons"].get("decision", []), "an allow button", status, body)

    status, headers, body = b.request("POST", consent[0]["action"], {
        "csrf_token": consent[0]["fields"]["csrf_token"][0], "decision": "allow"})
    back = headers.get("Location") or ""
    expect(status == 302 and back.startswith(REDIRECT_URI + "?"),
           f"consent should 302 to the redirect URI, got Location {back!r}", status, body)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)
    expect(q.get("state") == [STATE] and q.get("iss") == [server.issuer] and len(q.get("code", [])) == 1,
           f"callback query: {back!r}", status)
    return q["code"][0]


def token_request(server: Server, form: dict, client: dict) -> dict:
    b = Browser(server.issuer)
    status, _, body = b.request("POST", "/oauth/token", {
        **form, "client_id": client["client_id"], "client_secret": client["client_secret"]})
    expect(status == 200, f"POST /oauth/token ({form['grant_type']})", status, body)
    tokens = json.loads(body)
    expect(bool(tokens.get("access_token")) and bool(tokens.get("refresh_token")),
           "access_token and refresh_token in the token response", status, body)
    return tokens


# ---------------------------------------------------------------------------------------------
# Forged tokens


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def es256_sign(private_key, signing_input: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def forgeries(token: str, issuer: str) -> dict[str, str]:
    """Tokens that must all be refused, made from the real one."""
    import hmac
    import hashlib
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    h, p, sig = token.split(".")
    header, claims = json.loads(unb64url(h)), json.loads(unb64url(p))
    out = {}

    # Payload altered (someone else's sub, an hour more), the server's signature kept.
    altered = dict(claims, sub=str(uuid.uuid4()), exp=claims["exp"] + 3600)
    out["tampered"] = f"{h}.{b64url(json.dumps(altered, separators=(',', ':')).encode())}.{sig}"

    # Byte-for-byte the same header (alg, typ, kid) and claims, signed by a fresh P-256 key.
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    out["foreign"] = f"{h}.{p}.{es256_sign(foreign_key, f'{h}.{p}')}"

    # alg "none" (kid and typ kept), no signature.
    none_h = b64url(json.dumps(dict(header, alg="none"), separators=(",", ":")).encode())
    out["alg-none"] = f"{none_h}.{p}."

    # The real header and claims with the signature cut off.
    out["unsigned"] = f"{h}.{p}."

    # Algorithm confusion: HS256 keyed with the server's public key (PEM), as fetched from the JWKS.
    with urllib.request.urlopen(f"{issuer}/.well-known/jwks.json", timeout=10) as r:
        jwks = json.load(r)
    jwk = next(k for k in jwks["keys"] if k.get("kid") == header["kid"])
    pem = ECAlgorithm.from_jwk(json.dumps(jwk)).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_h = b64url(json.dumps(dict(header, alg="HS256"), separators=(",", ":")).encode())
    mac = hmac.new(pem, f"{hs_h}.{p}".encode(), hashlib.sha256).digest()
    out["hs256-confusion"] = f"{hs_h}.{p}.{b64url(mac)}"
    return out


# ---------------------------------------------------------------------------------------------
# Checks


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, name: str, detail: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        log(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")


def py_verify(module, token: str) -> dict:
    try:
        sub = module.user_id(f"Bearer {token}")
        return {"ok": True, "sub": sub}
    except Exception as e:  # noqa: BLE001 - any exception is a refusal; its kind is checked
        return {"ok": False, "error": type(e).__name__, "code": None, "message": str(e)}


def describe(r: dict) -> str:
    if r["ok"]:
        return f"accepted, sub={r['sub']!r}"
    code = f" [{r['code']}]" if r.get("code") else ""
    return f"{r['error']}{code}: {r['message']}"


def is_expiry(lang: str, r: dict) -> bool:
    return (not r["ok"]) and (r["error"] in PY_EXPIRED if lang == "python" else r.get("code") in JS_EXPIRED)


def is_unrelated(lang: str, r: dict) -> bool:
    return r["error"] in PY_UNRELATED if lang == "python" else r.get("code") in JS_UNRELATED


def run_batch(module, node: NodeWorker, tokens: dict[str, str]) -> dict[str, dict[str, dict]]:
    """Both snippets on every token; Node's share is sent first so both run at the same time."""
    node.send(tokens)
    py = {name: py_verify(module, tok) for name, tok in tokens.items()}
    js = node.collect(tokens.keys())
    return {"python": py, "js": js}


def main() -> int:
    results = Results()
    server = node = None
    workdir = tempfile.mkdtemp(prefix="gptauth-snippets-code-")
    t0 = time.monotonic()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
            raise RuntimeError(f"no gptauth binary at {BIN}")
        with open(README, encoding="utf-8") as f:
            snippets = extract_snippets(f.read())
        log(f"README: found the python ({len(snippets['python'].splitlines())} lines) and "
            f"js ({len(snippets['js'].splitlines())} lines) snippets in {SECTION!r}")

        server = start_server()
        user_id = server.user["id"]
        log(f"server: {server.issuer} (access-token TTL {TTL}s), user {user_id}")

        py_path = os.path.join(workdir, "readme_snippet.py")
        js_path = os.path.join(workdir, "readme_snippet.mjs")
        with open(py_path, "w", encoding="utf-8") as f:
            f.write(point_at(snippets["python"], server.issuer, server.client["client_id"], "python"))
        with open(js_path, "w", encoding="utf-8") as f:
            f.write(point_at(snippets["js"], server.issuer, server.client["client_id"], "js"))
        # The snippet imports "jose": resolve it from this folder's node_modules.
        os.symlink(os.path.join(HERE, "node_modules"), os.path.join(workdir, "node_modules"))

        spec = importlib.util.spec_from_file_location("readme_snippet", py_path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "user_id", None)):
            raise RuntimeError("the README's Python snippet defines no function user_id")
        node = NodeWorker(js_path)

        # Get a token just after a second boundary (iat is whole seconds), so that it has nearly
        # the full TTL left, and check it at once. Should the machine stall long enough for the
        # real token to expire before it is checked, get a fresh one (refresh grant) and redo.
        code = authorization_code(server, server.client)
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        for attempt in range(3):
            time.sleep(1.02 - time.time() % 1)
            tokens = token_request(server, grant, server.client)
            access = tokens["access_token"]
            batch = {"real": access, **forgeries(access, server.issuer)}
            got = run_batch(module, node, batch)
            if not any(is_expiry(lang, got[lang]["real"]) for lang in got):
                break
            log(f"note: the real token expired before it was checked (attempt {attempt + 1}); retrying")
            grant = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}

        header = json.loads(unb64url(access.split(".")[0]))
        claims = json.loads(unb64url(access.split(".")[1]))
        log(f"token: header {json.dumps(header)}; iss={claims.get('iss')} aud={claims.get('aud')} "
            f"sub={claims.get('sub')} exp-iat={claims.get('exp', 0) - claims.get('iat', 0)}s")
        if header.get("alg") != "ES256" or header.get("typ") != "at+jwt" or not header.get("kid"):
            raise RuntimeError(f"unexpected access-token header {header}")
        if claims.get("sub") != user_id:
            raise RuntimeError(f"the token's sub {claims.get('sub')} is not the user's id {user_id}")

        for lang in ("python", "js"):
            r = got[lang]["real"]
            results.check(r["ok"] and r["sub"] == user_id, f"{lang}: real token accepted, sub is the user's id",
                          describe(r))
            for name in batch:
                if name == "real":
                    continue
                r = got[lang][name]
                ok = not r["ok"] and not is_unrelated(lang, r)
                results.check(ok, f"{lang}: {name} token rejected", describe(r)
                              + ("" if r["ok"] or ok else "  <- refused for an unrelated reason"))

        # Genuine tokens of other clients of the same server: one an operator made (aud is the
        # issuer: refused by the client_id pin) and one anyone registered (aud is its client_id).
        for name, client in (("other-client", server.other_client), ("registered-client", register_client(server))):
            grant = {"grant_type": "authorization_code", "code": authorization_code(server, client),
                     "redirect_uri": REDIRECT_URI}
            for attempt in range(3):
                time.sleep(1.02 - time.time() % 1)
                foreign = token_request(server, grant, client)
                got = run_batch(module, node, {name: foreign["access_token"]})
                if not any(is_expiry(lang, got[lang][name]) for lang in got):
                    break
                log(f"note: the {name} token expired before it was checked (attempt {attempt + 1}); retrying")
                grant = {"grant_type": "refresh_token", "refresh_token": foreign["refresh_token"]}
            aud = json.loads(unb64url(foreign["access_token"].split(".")[1])).get("aud")
            for lang in ("python", "js"):
                r = got[lang][name]
                ok = not r["ok"] and not is_unrelated(lang, r)
                results.check(ok, f"{lang}: {name} token rejected (aud={aud})", describe(r)
                              + ("" if r["ok"] or ok else "  <- refused for an unrelated reason"))

        # The same real token once it has expired (+1 s): refused, and for being expired.
        wait = claims["exp"] + 1 - time.time()
        if wait > 0:
            log(f"waiting {wait:.1f}s for the token to expire")
            time.sleep(wait)
        got = run_batch(module, node, {"expired": access})
        for lang in ("python", "js"):
            r = got[lang]["expired"]
            results.check(is_expiry(lang, r), f"{lang}: expired token rejected", describe(r))
    except BaseException as e:  # noqa: BLE001 - a setup failure counts as a failed check
        if isinstance(e, KeyboardInterrupt) or (isinstance(e, SystemExit) and e.code):
            results.check(False, "run", f"interrupted ({e!r})")
        else:
            results.check(False, "setup", f"{type(e).__name__}: {e}")
            traceback.print_exc()
    finally:
        if node is not None:
            node.stop()
        if server is not None:
            if results.failed and server.log().strip():
                log(f"--- server log ---\n{server.log().rstrip()}\n---")
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    log(f"({time.monotonic() - t0:.1f}s)")
    log(f"{results.passed} passed, {results.failed} failed")
    return 0 if results.failed == 0 and results.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
