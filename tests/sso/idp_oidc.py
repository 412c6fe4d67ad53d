"""Starts the real OpenID provider (tests/sso/oidc_provider/server.mjs, npm oidc-provider) on a
free loopback port and drives its login and consent pages with a real HTTP client."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
CLIENT_ID = "quorum"
CLIENT_SECRET = "quorum-test-client-secret"
REDIRECT_URI = "http://testserver/sso/oidc/callback/"


@dataclass
class OidcProvider:
    issuer: str
    process: subprocess.Popen
    accounts_file: Path

    def set_accounts(self, accounts: dict[str, dict]) -> None:
        self.accounts_file.write_text(json.dumps(accounts))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def provider_start(tmp_dir: Path, *, jwks: dict | None = None) -> OidcProvider:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("run `make test` (or `npm ci` in tests/sso/oidc_provider) to install oidc-provider")
    accounts_file = tmp_dir / "accounts.json"
    accounts_file.write_text("{}")
    env = {
        **os.environ,
        "CLIENTS": json.dumps(
            [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": [REDIRECT_URI],
                    "token_endpoint_auth_method": "client_secret_post",
                }
            ]
        ),
        "ACCOUNTS_FILE": str(accounts_file),
        "JWKS": json.dumps(jwks) if jwks else "",
    }
    process = subprocess.Popen(
        ["node", "server.mjs"], cwd=PROVIDER_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError("the OpenID provider did not start")
    return OidcProvider(issuer=json.loads(line)["issuer"], process=process, accounts_file=accounts_file)


def _form_action_and_fields(html: str, base: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action, html[:500]
    fields = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    return urljoin(base, action.group(1)), fields


def provider_sign_in(authorize_url: str, login: str) -> str:
    """Follow the provider's login and consent pages as ``login``; returns the redirect back to
    Quorum's callback (its path and query)."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        url = authorize_url
        for _ in range(12):
            answer = browser.get(url) if url else None
            if answer.status_code in (302, 303):
                location = urljoin(url, answer.headers["location"])
                if location.startswith(REDIRECT_URI):
                    parts = urlsplit(location)
                    return f"{parts.path}?{parts.query}"
                url = location
                continue
            html = answer.text
            action, fields = _form_action_and_fields(html, url)
            if 'name="login"' in html:
                fields.update({"login": login, "password": "any"})
            answer = browser.post(action, data=fields)
            assert answer.status_code in (302, 303), answer.text[:500]
            url = urljoin(action, answer.headers["location"])
            if url.startswith(REDIRECT_URI):
                parts = urlsplit(url)
                return f"{parts.path}?{parts.query}"
    raise AssertionError("the provider never redirected back to Quorum")
