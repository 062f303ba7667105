#!/usr/bin/python3
"""Decrypt a tpmkeyd stream envelope, written from docs/FORMATS.md only.

usage: stream_decrypt.py DATA_KEY_HEX [KEY=VALUE ...] < stream > plaintext

DATA_KEY_HEX is the unwrapped 32-byte data key (the plaintext of the
header's wrapped_key, which only the daemon can unwrap); the KEY=VALUE
arguments are the encryption context. Exits 0 when the whole stream
verified, 1 (with a line on stderr) when it does not. Uses Debian's
python3-cryptography (38.0.4): AESGCM and HKDF.
"""

import hashlib
import hmac
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"TPMKSTR"
TAG = 16


class Refused(Exception):
    pass


def read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise Refused("header cut short")
    return b


def context_digest(ctx):
    enc = struct.pack(">I", len(ctx))
    for k in sorted(ctx, key=lambda s: s.encode()):
        for s in (k.encode(), ctx[k].encode()):
            enc += struct.pack(">I", len(s)) + s
    return hashlib.sha256(enc).digest()


def hkdf(key, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def decrypt(f, out, data_key, ctx):
    first = read_exact(f, 8)
    if first[:7] != MAGIC:
        raise Refused("not a tpmkeyd stream")
    if first[7] != 1:
        raise Refused("unsupported version %d" % first[7])
    rest = read_exact(f, 111)
    seg_size, = struct.unpack(">I", rest[0:4])
    salt, prefix = rest[4:36], rest[36:43]
    ctx_digest, commitment = rest[43:75], rest[75:107]
    wlen, = struct.unpack(">I", rest[107:111])
    if not 1024 <= seg_size <= 4194304:
        raise Refused("segment size out of range")
    if not 1 <= wlen <= 4096:
        raise Refused("wrapped key length out of range")
    wrapped = read_exact(f, wlen)
    header = first + rest + wrapped
    aad = hashlib.sha256(header).digest()
    if not hmac.compare_digest(ctx_digest, context_digest(ctx)):
        raise Refused("wrong encryption context")
    if len(data_key) != 32:
        raise Refused("data key must be 32 bytes")
    if not hmac.compare_digest(hkdf(data_key, salt, b"tpmkeyd stream v1 key commitment"), commitment):
        raise Refused("data key does not match the key commitment")
    gcm = AESGCM(hkdf(data_key, salt, b"tpmkeyd stream v1 segment key"))
    index = 0
    seg = f.read(seg_size + TAG)
    while True:
        if len(seg) == seg_size + TAG:
            nxt = f.read(seg_size + TAG)
            final = len(nxt) == 0
        else:
            nxt, final = b"", True
        if final and len(seg) < TAG:
            raise Refused("truncated: the final segment is missing")
        if index >= 1 << 32:
            raise Refused("too many segments")
        nonce = prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")
        try:
            pt = gcm.decrypt(nonce, seg, aad)
        except InvalidTag:
            raise Refused("segment %d does not authenticate" % index)
        out.write(pt)
        if final:
            return
        index += 1
        seg = nxt


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    ctx = {}
    for kv in argv[2:]:
        k, sep, v = kv.partition("=")
        if not sep:
            print("context pair %r lacks '='" % kv, file=sys.stderr)
            return 2
        ctx[k] = v
    try:
        decrypt(sys.stdin.buffer, sys.stdout.buffer, bytes.fromhex(argv[1]), ctx)
    except Refused as e:
        print("stream_decrypt: %s" % e, file=sys.stderr)
        return 1
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
