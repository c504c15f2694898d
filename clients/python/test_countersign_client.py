"""Tests for countersign_client against a stdlib fake appliance: python3 -m unittest (in this folder)."""

import http.server
import json
import os
import socket
import tempfile
import threading
import time
import unittest

import countersign_client as cc

DIGEST = "sha256:" + "ab" * 32
IMAGE = "registry.hospital.example/vendor/algo:1.4"


class FakeAppliance:
    """Answers POST /v1/verify with whatever ``answer(request)`` returns: (status, body) or None to hang."""

    def __init__(self, answer):
        self.requests = []
        self.release = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                result = answer(body)
                if result is None:
                    fake.release.wait(10)
                    return
                status, payload = result
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers_for(status)).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def headers_for(status):
    return {"Location": "http://127.0.0.1:9/elsewhere"} if 300 <= status < 400 else {}


def allow(body):
    return 200, {
        "allowed": True,
        "code": None,
        "explanation": "policy radiology-prod: 2 of 3 signers satisfied",
        "image": body["image"],
        "digest": DIGEST,
        "pinned": "registry.hospital.example/vendor/algo@" + DIGEST,
        "policies": [{"name": "radiology-prod"}],
    }


class VerifyTest(unittest.TestCase):
    def start(self, answer):
        fake = FakeAppliance(answer)
        self.addCleanup(fake.close)
        return fake

    def test_allowed_returns_decision_and_pinned_reference(self):
        fake = self.start(allow)
        decision = cc.verify(IMAGE, policy="radiology-prod", context={"caller": "mercure", "module": "algo"},
                             url=fake.url, token="tok")
        self.assertTrue(decision["allowed"])
        self.assertEqual(cc.require_allowed(decision), "registry.hospital.example/vendor/algo@" + DIGEST)
        self.assertEqual(fake.requests[0]["path"], "/v1/verify")
        self.assertEqual(fake.requests[0]["auth"], "Bearer tok")
        self.assertEqual(fake.requests[0]["body"], {
            "image": IMAGE, "policy": "radiology-prod", "context": {"caller": "mercure", "module": "algo"}})

    def test_require_is_sent_as_given(self):
        fake = self.start(allow)
        need = {"certificateIdentity": "release@vendor.example", "certificateOidcIssuer": "https://sso.example"}
        cc.verify(IMAGE, require=need, url=fake.url, token="tok")
        self.assertEqual(fake.requests[0]["body"], {"image": IMAGE, "require": need})

    def test_denied_is_returned_and_require_allowed_raises_with_the_code(self):
        fake = self.start(lambda b: (200, {"allowed": False, "code": "NO_SIGNATURES", "explanation": "none found",
                                           "image": b["image"], "digest": DIGEST, "pinned": None}))
        decision = cc.verify(IMAGE, url=fake.url, token="tok")
        self.assertFalse(decision["allowed"])
        with self.assertRaises(cc.ImageDenied) as caught:
            cc.require_allowed(decision)
        self.assertEqual(caught.exception.code, "NO_SIGNATURES")

    def test_error_answer_raises_request_error_with_code_and_status(self):
        fake = self.start(lambda b: (401, {"code": "UNAUTHENTICATED", "message": "unknown token"}))
        with self.assertRaises(cc.CountersignRequestError) as caught:
            cc.verify(IMAGE, url=fake.url, token="tok")
        self.assertEqual((caught.exception.code, caught.exception.status), ("UNAUTHENTICATED", 401))

    def test_redirect_is_not_followed(self):
        fake = self.start(lambda b: (307, {"code": "MOVED", "message": "elsewhere"}))
        with self.assertRaises(cc.CountersignRequestError) as caught:
            cc.verify(IMAGE, url=fake.url, token="tok")
        self.assertEqual(caught.exception.status, 307)
        self.assertEqual(len(fake.requests), 1)

    def test_allow_without_digest_raises_unavailable(self):
        fake = self.start(lambda b: (200, {"allowed": True, "code": None, "explanation": "", "image": b["image"],
                                           "digest": "sha256:short", "pinned": "x@sha256:short"}))
        with self.assertRaises(cc.CountersignUnavailable) as caught:
            cc.verify(IMAGE, url=fake.url, token="tok")
        self.assertEqual(caught.exception.code, "APPLIANCE_RESPONSE_INVALID")

    def test_body_that_is_not_json_raises_unavailable(self):
        fake = self.start(lambda b: (200, b"<html>proxy error</html>"))
        with self.assertRaises(cc.CountersignUnavailable) as caught:
            cc.verify(IMAGE, url=fake.url, token="tok")
        self.assertEqual(caught.exception.code, "APPLIANCE_RESPONSE_INVALID")

    def test_appliance_down_raises_unreachable(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with self.assertRaises(cc.CountersignUnavailable) as caught:
            cc.verify(IMAGE, url=f"http://127.0.0.1:{port}", token="tok")
        self.assertEqual(caught.exception.code, "APPLIANCE_UNREACHABLE")

    def test_appliance_that_never_answers_times_out(self):
        fake = self.start(lambda b: None)
        started = time.monotonic()
        with self.assertRaises(cc.CountersignUnavailable) as caught:
            cc.verify(IMAGE, url=fake.url, token="tok", timeout=0.3)
        self.assertEqual(caught.exception.code, "APPLIANCE_TIMEOUT")
        self.assertLess(time.monotonic() - started, 5)

    def test_token_from_file_named_in_environment(self):
        fake = self.start(allow)
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("file-token\n")
        self.addCleanup(os.unlink, f.name)
        saved = {k: os.environ.pop(k, None) for k in ("COUNTERSIGN_TOKEN", "COUNTERSIGN_TOKEN_FILE")}
        self.addCleanup(lambda: [os.environ.__setitem__(k, v) for k, v in saved.items() if v is not None])
        os.environ["COUNTERSIGN_TOKEN_FILE"] = f.name
        cc.verify(IMAGE, url=fake.url)
        self.assertEqual(fake.requests[0]["auth"], "Bearer file-token")

    def test_missing_token_raises_config_error_before_any_request(self):
        fake = self.start(allow)
        saved = {k: os.environ.pop(k, None) for k in ("COUNTERSIGN_TOKEN", "COUNTERSIGN_TOKEN_FILE")}
        self.addCleanup(lambda: [os.environ.__setitem__(k, v) for k, v in saved.items() if v is not None])
        with self.assertRaises(cc.CountersignError) as caught:
            cc.verify(IMAGE, url=fake.url)
        self.assertEqual(caught.exception.code, "CONFIG_INVALID")
        self.assertEqual(fake.requests, [])


if __name__ == "__main__":
    unittest.main()
