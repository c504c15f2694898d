"""Client for the countersign appliance's ``POST /v1/verify`` (standard library only).

Call :func:`verify` before running a container image and run the digest it returns
(``decision["pinned"]``, ``repo@sha256:...``), never the tag you asked about: the tag can move
between the check and the run, the digest cannot.

Fails closed: a transport error, a timeout, an error answer or a malformed answer raises; only a
well-formed decision is returned, and :func:`require_allowed` turns a denial into an exception.

Environment (used when the arguments are not given):
    COUNTERSIGN_URL          base URL, default http://127.0.0.1:8080
    COUNTERSIGN_TOKEN        verifier token, or
    COUNTERSIGN_TOKEN_FILE   a file holding it
"""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import time
import urllib.parse
from typing import Any, Dict, Mapping, Optional

__all__ = [
    "CountersignError",
    "CountersignUnavailable",
    "CountersignRequestError",
    "ImageDenied",
    "verify",
    "require_allowed",
    "DEFAULT_URL",
    "DEFAULT_TIMEOUT",
]

DEFAULT_URL = "http://127.0.0.1:8080"
#: Seconds for the whole exchange; under Mercure's 60 s budget for a signature check.
DEFAULT_TIMEOUT = 55.0
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")


class CountersignError(Exception):
    """Base class; ``code`` is a reason code such as ``THRESHOLD_NOT_MET`` or ``APPLIANCE_TIMEOUT``."""

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.status = status


class CountersignUnavailable(CountersignError):
    """No decision could be had: unreachable, timed out, or an answer that is not a decision."""


class CountersignRequestError(CountersignError):
    """The appliance answered with an error (``{code, message}``, HTTP 400/401/403/503...)."""


class ImageDenied(CountersignError):
    """The appliance denied the image; ``decision`` holds its full answer."""

    def __init__(self, decision: Mapping[str, Any]) -> None:
        super().__init__(
            str(decision.get("code") or "DENIED"),
            str(decision.get("explanation") or "denied"),
        )
        self.decision = decision


def _read_token(token: Optional[str]) -> str:
    if token is None:
        token = os.environ.get("COUNTERSIGN_TOKEN") or None
    if token is None:
        path = os.environ.get("COUNTERSIGN_TOKEN_FILE")
        if path:
            try:
                with open(path, "r", encoding="utf-8") as f:
                    token = f.read()
            except OSError as e:
                raise CountersignError("CONFIG_INVALID", f"cannot read COUNTERSIGN_TOKEN_FILE {path}: {e.strerror}")
    if token is None:
        raise CountersignError("CONFIG_INVALID", "no verifier token: pass token= or set COUNTERSIGN_TOKEN_FILE")
    token = token.strip()
    if not _TOKEN.match(token):
        raise CountersignError("CONFIG_INVALID", "the verifier token is empty or holds characters a token cannot")
    return token


def _check_decision(body: Any) -> Dict[str, Any]:
    def invalid(why: str) -> CountersignUnavailable:
        return CountersignUnavailable("APPLIANCE_RESPONSE_INVALID", why, 200)

    if not isinstance(body, dict):
        raise invalid("answer is not a JSON object")
    if not isinstance(body.get("allowed"), bool):
        raise invalid('"allowed" is not a boolean')
    if not isinstance(body.get("image"), str):
        raise invalid('"image" is not a string')
    if body["allowed"]:
        digest = body.get("digest")
        pinned = body.get("pinned")
        if not (isinstance(digest, str) and _DIGEST.match(digest)):
            raise invalid("an allow without a well-formed digest")
        if not (isinstance(pinned, str) and pinned.endswith("@" + digest)):
            raise invalid("an allow whose pinned reference does not name its digest")
    return body


def verify(
    image: str,
    policy: Optional[str] = None,
    context: Optional[Mapping[str, str]] = None,
    url: Optional[str] = None,
    token: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT,
    ssl_context: Optional[ssl.SSLContext] = None,
    require: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """Asks the appliance whether ``image`` may run and returns its decision.

    ``require`` adds requirements on top of the appliance's own policies, resolved only against
    trust the appliance already holds: ``keys`` (sha256 fingerprints of keys in its keys/),
    ``certificateIdentity`` or ``certificateIdentityRegexp``, ``certificateOidcIssuer`` or
    ``certificateOidcIssuerRegexp``, and ``trustRoot`` (e.g. a Mercure module's
    ``signature_certificate_identity`` and ``signature_certificate_oidc_issuer``).

    ``context`` may hold ``caller``, ``taskId`` and ``module`` (recorded in the audit entry; never
    patient data). A denial is returned (``decision["allowed"] is False``), not raised; errors are.
    No proxy is used and no redirect is followed, so the token goes to ``url`` and nowhere else.
    """
    base = urllib.parse.urlsplit(url or os.environ.get("COUNTERSIGN_URL") or DEFAULT_URL)
    if base.scheme not in ("http", "https") or not base.hostname:
        raise CountersignError("CONFIG_INVALID", f"not an http(s) URL: {url}")
    if base.username or base.password:
        raise CountersignError("CONFIG_INVALID", "the URL must not hold credentials")
    bearer = _read_token(token)
    request: Dict[str, Any] = {"image": image}
    if policy is not None:
        request["policy"] = policy
    if context:
        request["context"] = dict(context)
    if require:
        request["require"] = dict(require)
    payload = json.dumps(request).encode("utf-8")
    path = base.path.rstrip("/") + "/v1/verify"
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CountersignUnavailable("APPLIANCE_TIMEOUT", f"no answer from {base.netloc} within {timeout} s")
        return left

    if base.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            base.hostname, base.port, timeout=remaining(), context=ssl_context or ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=remaining())
    try:
        try:
            conn.request(
                "POST",
                path,
                body=payload,
                headers={
                    "Authorization": f"Bearer {bearer}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Connection": "close",
                },
            )
            if conn.sock is not None:
                conn.sock.settimeout(remaining())
            response = conn.getresponse()
            chunks = []
            size = 0
            while True:
                if conn.sock is not None:
                    conn.sock.settimeout(remaining())
                chunk = response.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise CountersignUnavailable("APPLIANCE_RESPONSE_INVALID", "answer too large")
                chunks.append(chunk)
        except TimeoutError as e:  # socket.timeout is TimeoutError since Python 3.10
            raise CountersignUnavailable(
                "APPLIANCE_TIMEOUT", f"no answer from {base.netloc} within {timeout} s"
            ) from e
        except (OSError, http.client.HTTPException) as e:
            raise CountersignUnavailable("APPLIANCE_UNREACHABLE", f"cannot reach {base.netloc}: {e}") from e
    finally:
        conn.close()
    status = response.status
    try:
        body = json.loads(b"".join(chunks).decode("utf-8"))
    except ValueError as e:
        raise CountersignUnavailable(
            "APPLIANCE_RESPONSE_INVALID", f"HTTP {status} with a body that is not JSON", status
        ) from e
    if status != 200:
        code = body.get("code") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        raise CountersignRequestError(
            code if isinstance(code, str) else f"HTTP_{status}",
            message if isinstance(message, str) else "",
            status,
        )
    return _check_decision(body)


def require_allowed(decision: Mapping[str, Any]) -> str:
    """Returns the pinned reference (``repo@sha256:...``) to run, or raises :class:`ImageDenied`."""
    if decision.get("allowed") is not True:
        raise ImageDenied(decision)
    pinned = decision.get("pinned")
    if not isinstance(pinned, str):
        raise CountersignUnavailable("APPLIANCE_RESPONSE_INVALID", "an allow without a pinned reference")
    return pinned
