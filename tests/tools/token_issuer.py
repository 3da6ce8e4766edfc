"""A token issuer for the distribution registry's `auth: token:` mode, as
Docker Hub, GHCR and Harbor run one: `GET REALM?service=S&scope=...` with
Basic credentials answers {"token": JWT, "access_token": JWT}.

The JWT is ES256-signed; its `x5c` header carries the issuer's self-signed
certificate, the one the registry trusts through `rootcertbundle`.  Claims:
iss, sub, aud (= service), exp, nbf, iat, jti and `access`, the scopes
granted.  Wrong or missing credentials get 401, like the real services.
Needs Debian's python3-jwt and python3-cryptography (run /usr/bin/python3).
"""
import base64
import datetime
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ISSUER = "minbase-test-issuer"
SERVICE = "minbase-test-registry"


class TokenIssuer:
    def __init__(self, workdir, users, refresh_tokens=None):
        """users: {name: password}; refresh_tokens: {token: name}, for the
        OAuth2 form POST docker sends with an identitytoken.  Writes the
        certificate to WORKDIR/issuer.pem."""
        self.users = dict(users)
        self.refresh = dict(refresh_tokens or {})
        self.requests = []  # (user or None, [scopes]) per token request
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.utcnow()
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = Path(workdir) / "issuer.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        self.pem_key = self.key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                issuer.handle(self)

            def do_POST(self):
                issuer.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.realm = "http://127.0.0.1:%d/token" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def user_of(self, req):
        h = req.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None, False
        try:
            user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        except ValueError:
            return None, True
        return (user, True) if self.users.get(user) == pw else (None, True)

    def handle(self, req):
        u = urlparse(req.path)
        if u.path != "/token":
            req.send_response(404)
            req.end_headers()
            return
        q = parse_qs(u.query)
        if req.command == "POST":
            n = int(req.headers.get("Content-Length") or 0)
            q = parse_qs(req.rfile.read(n).decode())
            user = None
            if q.get("grant_type") == ["refresh_token"]:
                user = self.refresh.get(q.get("refresh_token", [""])[0])
            scopes = " ".join(q.get("scope", [])).split()
        else:
            user, _ = self.user_of(req)
            scopes = q.get("scope", [])
        self.requests.append((user, scopes))
        if user is None:
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED",
                                           "message": "authentication required"}]}).encode()
            req.send_response(401)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)
            return
        access = []
        for s in scopes:
            parts = s.split(":")
            if len(parts) >= 3 and parts[0] == "repository":
                access.append({"type": "repository", "name": ":".join(parts[1:-1]),
                               "actions": parts[-1].split(",")})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user, "aud": q.get("service", [SERVICE])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        tok = jwt.encode(claims, self.pem_key, algorithm="ES256", headers={"x5c": [self.x5c]})
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
