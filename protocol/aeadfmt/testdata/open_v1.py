#!/usr/bin/env python3
# Opens a tpmkeyd AEAD ciphertext (format 1), written from docs/PROTOCOL.md
# "Appendix: AEAD ciphertext" alone, with python3-cryptography.
# Input on stdin: JSON {"working_key", "ciphertext"} in hex, "context" a map.
# Output: the plaintext in hex, or exit 1 when it does not open.
import json, struct, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

v = json.load(sys.stdin)
wk = bytes.fromhex(v["working_key"])
ct = bytes.fromhex(v["ciphertext"])
if len(ct) < 1 + 16 + 4 + 32 + 12 + 32 + 16 or ct[0] != 1:
    sys.exit(1)
header = ct[:65]
salt, nonce = header[21:53], header[53:65]
okm = HKDF(hashes.SHA256(), 64, salt, b"tpmkeyd aead v1 subkey" + header).derive(wk)
import hmac as _h
if not _h.compare_digest(ct[65:97], okm[32:]):
    sys.exit(1)
ctx = v.get("context") or {}
aad = header + struct.pack(">I", len(ctx))
for k in sorted(ctx, key=lambda s: s.encode()):
    kb, vb = k.encode(), ctx[k].encode()
    aad += struct.pack(">I", len(kb)) + kb + struct.pack(">I", len(vb)) + vb
try:
    pt = AESGCM(okm[:32]).decrypt(nonce, ct[97:], aad)
except Exception:
    sys.exit(1)
print(pt.hex())
