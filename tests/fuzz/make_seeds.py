#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/NAME/)
from the contract's examples. Run from anywhere; rewrites the files.
The JWT seeds use the fuzz targets' own throwaway secret and the unit
tests' throwaway RSA key (signed with openssl)."""
import base64, hashlib, hmac, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
KEYS = os.path.join(TOP, "tests", "unit", "data")
SECRET = b"fuzz-secret-0123456789abcdef0123456789"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs256(header, payload, key=SECRET):
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    p = b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


def rs256(payload):
    h = b64(b'{"alg":"RS256","typ":"JWT"}')
    p = b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign",
                          os.path.join(KEYS, "rsa-private.pem")],
                         input=f"{h}.{p}".encode(), capture_output=True, check=True).stdout
    return f"{h}.{p}.{b64(sig)}"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


ACCESS = {"token_type": "access", "exp": 4102444800, "iat": 1737819000,
          "jti": "4f1c0d2b9a8e4e6f8b7a6c5d4e3f2a1b", "user_id": 42, "iss": "chat", "aud": "web"}


def jwt_seeds():
    hdr = {"alg": "HS256", "typ": "JWT"}
    write("jwt", "raw-hs-valid", b"\x00\x00" + hs256(hdr, ACCESS).encode())
    write("jwt", "raw-hs-refresh", b"\x00\x01" + hs256(hdr, dict(ACCESS, token_type="refresh")).encode())
    write("jwt", "raw-hs-none", b"\x00\x00" + (b64(b'{"alg":"none"}') + "." + b64(json.dumps(ACCESS).encode()) + ".").encode())
    write("jwt", "raw-rs-valid", b"\x01\x00" + rs256(ACCESS).encode())
    write("jwt", "raw-garbage", b"\x02\x00a.b.c")
    s = json.dumps
    write("jwt", "st-access", b"\x03\x00" + (s(hdr) + "\n" + s(ACCESS)).encode())
    write("jwt", "st-sub", b"\x03\x00" + (s(hdr) + "\n" + s({"sub": "7", "exp": 4102444800, "iss": "chat", "aud": ["x", "web"]})).encode())
    write("jwt", "st-expired", b"\x03\x00" + (s(hdr) + "\n" + s(dict(ACCESS, exp=1000))).encode())
    write("jwt", "st-nbf", b"\x03\x00" + (s(hdr) + "\n" + s(dict(ACCESS, nbf=4102444000))).encode())
    write("jwt", "st-refresh", b"\x03\x01" + (s(hdr) + "\n" + s(dict(ACCESS, token_type="refresh"))).encode())
    write("jwt", "st-float-exp", b"\x03\x00" + (s(hdr) + "\n" + s(dict(ACCESS, exp=4102444800.5))).encode())
    write("jwt", "st-confusion", b"\x04\x00" + (s(hdr) + "\n" + s(ACCESS)).encode())
    write("jwt", "st-none", b"\x05\x00" + (s({"alg": "none"}) + "\n" + s(ACCESS)).encode())


def config_seeds():
    with open(os.path.join(TOP, "deploy", "chat.conf"), "rb") as f:
        write("config", "deploy-chat.conf", f.read())
    write("config", "small.conf", "[database]\nsocket = /tmp/x.sock\n[auth]\njwt_secret = abc\n"
          "jwt_leeway = 30\nallow_anonymous = yes\n[relay]\nallowed_origins = http://a, http://b\n"
          "max_frame_size = 65536\n[api]\ncors_origins = http://a\ncors_origins = http://c\n"
          "[log]\nlevel = debug\n")
    write("config", "errors.conf", "key outside\n[nosuch]\nx=1\n[relay]\nport = 99999\nport = abc\n"
          "[auth]\njwt_algorithm = none\n  indented = 1\n;comment\n#comment\n")
    write("config", "set-lines", "auth.jwt_secret=s\nrelay.port=8001\nrelay.allowed_origins=http://x\n"
          "bad\n=1\nrelay.=2\n.x=3\n")


def http(method, uri, body=b"", ctype="application/json", cl="", auth="", origin="", addr=""):
    if isinstance(body, str):
        body = body.encode()
    return "\n".join([method, uri, ctype, cl, auth, origin, addr]).encode() + b"\n" + body


def http_seeds():
    cred = json.dumps({"username": "alice", "password": "correct horse battery"})
    write("http", "register", http("POST", "/api/auth/register/", cred))
    write("http", "token", http("POST", "/api/auth/token/", cred))
    write("http", "refresh", http("POST", "/api/auth/token/refresh/", json.dumps({"refresh": "x.y.z"})))
    write("http", "me", http("GET", "/api/auth/me/", auth="A"))
    write("http", "me-refresh", http("GET", "/api/auth/me/", auth="R"))
    write("http", "me-bad", http("GET", "/api/auth/me", auth="Bearer a.b.c"))
    write("http", "root", http("GET", "/api/chat/"))
    write("http", "health", http("GET", "/api/chat/health/"))
    write("http", "rooms", http("GET", "/api/chat/rooms/", auth="A", origin="http://allowed.example"))
    write("http", "rooms-evil-origin", http("GET", "/api/chat/rooms/", auth="A", origin="http://evil.example"))
    write("http", "rooms-create", http("POST", "/api/chat/rooms/", json.dumps({"name": "general", "description": "d", "is_private": True}), auth="A"))
    write("http", "room-get", http("GET", "/api/chat/rooms/7/", auth="A"))
    write("http", "room-patch", http("PATCH", "/api/chat/rooms/7", json.dumps({"name": "n"}), auth="A"))
    write("http", "room-delete", http("DELETE", "/api/chat/rooms/7/", auth="A"))
    write("http", "room-join", http("POST", "/api/chat/rooms/12/join/", auth="A"))
    write("http", "room-leave", http("POST", "/api/chat/rooms/12/leave/", auth="A"))
    write("http", "members", http("GET", "/api/chat/rooms/3/members/", auth="A"))
    write("http", "members-add", http("POST", "/api/chat/rooms/3/members/", json.dumps({"user_id": 5}), auth="A"))
    write("http", "messages", http("GET", "/api/chat/rooms/1/messages/?limit=20&before=100&after=3", auth="A"))
    write("http", "messages-post", http("POST", "/api/chat/rooms/1/messages/", json.dumps({"content": "hi 你好", "message_type": "text", "client_id": "6f1c7a52-2b8e-4a57-9d0e-4c1b2f3a4d5e"}), auth="A"))
    write("http", "message-get", http("GET", "/api/chat/messages/123/", auth="A"))
    write("http", "message-patch", http("PATCH", "/api/chat/messages/123/", json.dumps({"content": "edited"}), auth="A"))
    write("http", "message-read", http("POST", "/api/chat/messages/123/read/", auth="A"))
    write("http", "message-reads", http("GET", "/api/chat/messages/123/reads/", auth="A"))
    write("http", "unread", http("GET", "/api/chat/unread/", auth="A"))
    write("http", "options", http("OPTIONS", "/api/chat/rooms/", origin="http://allowed.example"))
    write("http", "method-405", http("PUT", "/api/chat/rooms/1/", auth="A"))
    write("http", "cgi-split", http("GET", "!/api/chat/rooms/1/messages/?limit=5&token=secret123", auth="A"))
    write("http", "deep", http("POST", "/api/chat/rooms/", "[" * 100 + "]" * 100, auth="A"))
    write("http", "too-big", http("POST", "/api/chat/rooms/", "{}", cl="99999999", auth="A"))
    write("http", "bad-type", http("POST", "/api/chat/rooms/", "{}", ctype="text/plain", auth="A"))
    write("http", "token-in-query", http("GET", "/api/chat/?token=abc.def.ghi&access=x;refresh=y#frag"))


def frames_seeds():
    s = lambda o: json.dumps(o, ensure_ascii=False)
    write("frames", "chat", s({"type": "chat_message", "content": "你好，世界", "message_type": "text"}))
    write("frames", "chat-cid", s({"type": "chat_message", "content": "hi", "client_id": "6f1c7a52-2b8e-4a57-9d0e-4c1b2f3a4d5e"}))
    write("frames", "chat-image", s({"type": "chat_message", "content": "https://x/y.png", "message_type": "image"}))
    write("frames", "chat-bad-type", s({"type": "chat_message", "content": "x", "message_type": "video"}))
    write("frames", "chat-empty", s({"type": "chat_message", "content": ""}))
    write("frames", "chat-long", s({"type": "chat_message", "content": "é" * 4001}))
    write("frames", "typing", s({"type": "typing", "is_typing": True}))
    write("frames", "typing-bad", s({"type": "typing", "is_typing": "yes"}))
    write("frames", "join", s({"type": "user_join"}))
    write("frames", "leave", s({"type": "user_leave"}))
    write("frames", "sync", s({"type": "sync", "last_id": 42}))
    write("frames", "unknown", s({"type": "dance"}))
    write("frames", "no-type", s({"content": "x"}))
    write("frames", "array", "[1,2,3]")
    write("frames", "number", "42")
    write("frames", "trailing", '{"type":"user_join"} x')
    write("frames", "deep", "[" * 100 + "]" * 100)
    write("frames", "bad-utf8", b'{"type":"chat_message","content":"\xff"}')
    write("frames", "nul-escape", '{"type":"chat_message","content":"a\\u0000b"}')


if __name__ == "__main__":
    jwt_seeds()
    config_seeds()
    http_seeds()
    frames_seeds()
    for t in ("jwt", "config", "http", "frames"):
        os.makedirs(os.path.join(HERE, "regressions", t), exist_ok=True)
    print("seeds written", file=sys.stderr)
