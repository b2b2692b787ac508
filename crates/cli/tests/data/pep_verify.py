"""An independent verifier of the draft PEP's proof answers, standard library only.

Reads a JSON list on stdin, each item {"info": <tlog-info object>, "answer": <proof
answer object>, "file": <path of the downloaded distribution>}, and follows the draft's
"Verification Algorithm" for each: the file's SHA-256 and name against the entry; the
checkpoint's Ed25519 signature (C2SP signed-note) under the key from tlog-info; the
RFC 6962 inclusion of the entry's leaf in the checkpoint's tree, using the Merkle path
inside the base64 c2sp.org/tlog-proof@v1. Prints "ok <filename>" per item and exits 0,
or prints the first failure and exits 1.

Nothing here comes from bintrail: Ed25519 is written from RFC 8032's equations, the
tree algorithm from RFC 9162 section 2.1.3.2, the note format from c2sp.org/signed-note.
"""

import base64
import hashlib
import json
import sys

# --- Ed25519 verification (RFC 8032, section 5.1), on extended coordinates. ---
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def scalar_mult(s, point):
    result = (0, 1, 1, 0)
    while s:
        if s & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        s >>= 1
    return result


def decode_point(data):
    if len(data) != 32:
        raise ValueError("point is not 32 bytes")
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        raise ValueError("non-canonical point")
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        raise ValueError("not a curve point")
    if x == 0 and sign:
        raise ValueError("bad sign")
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE = decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))


def same_point(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def ed25519_verify(public, message, signature):
    if len(signature) != 64:
        return False
    try:
        a = decode_point(public)
        r = decode_point(signature[:32])
    except ValueError:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return same_point(scalar_mult(s, BASE), point_add(r, scalar_mult(h, a)))


# --- C2SP signed note and checkpoint. ---
def verify_note(note, name, public):
    text, sep, sigs = note.partition(b"\n\n")
    if not sep:
        raise ValueError("note has no signature block")
    text += b"\n"
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    for line in sigs.decode().splitlines():
        if not line.startswith("\u2014 "):
            raise ValueError("bad signature line %r" % line)
        who, blob = line[2:].split(" ")
        raw = base64.b64decode(blob)
        if who == name and raw[:4] == key_id and ed25519_verify(public, text, raw[4:]):
            lines = text.decode().split("\n")
            return lines[0], int(lines[1]), base64.b64decode(lines[2])
    raise ValueError("no valid signature by %s" % name)


# --- RFC 9162 inclusion. ---
def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check(item):
    info, answer, path = item["info"], item["answer"], item["file"]
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    entry = answer["entry"]
    filename = path.rsplit("/", 1)[-1]
    # Steps 1 and 2: the entry is this file.
    if entry["filename"] != filename or entry["checksum"] != "sha256:" + digest:
        raise ValueError("entry %r is not the file %s (sha256 %s)" % (entry, filename, digest))
    if answer["version"] != 1 or info["log_signature_algorithm"] != "ed25519":
        raise ValueError("unexpected version or algorithm")
    # Step 3: the checkpoint, signed by the log key from tlog-info.
    public = base64.b64decode(info["log_key"])
    checkpoint = base64.b64decode(answer["checkpoint"])
    origin, size, root = verify_note(checkpoint, answer["log_origin"], public)
    if origin != answer["log_origin"]:
        raise ValueError("origin mismatch")
    # Step 4: the entry's leaf is in that tree.
    proof = base64.b64decode(answer["inclusion_proof"])
    head, _, embedded = proof.partition(b"\n\n")
    if embedded != checkpoint:
        raise ValueError("the tlog-proof embeds another checkpoint")
    lines = head.decode().split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise ValueError("not a tlog-proof")
    rest = lines[1:]
    text = "pypi-transparency/v1\n%s\n%s" % (entry["checksum"], entry["filename"])
    if "publisher" in entry:
        text += "\npublisher %s %s" % (entry["publisher"]["issuer"], entry["publisher"]["subject"])
    if rest and rest[0].startswith("extra "):
        if base64.b64decode(rest[0][6:]) != text.encode():
            raise ValueError("extra data is not the entry")
        rest = rest[1:]
    index = int(rest[0].split(" ")[1])
    if index != answer["entry_index"]:
        raise ValueError("index mismatch")
    path_hashes = [base64.b64decode(h) for h in rest[1:]]
    leaf = hashlib.sha256(b"\x00" + text.encode()).digest()
    if not verify_inclusion(leaf, index, size, path_hashes, root):
        raise ValueError("inclusion proof does not verify")
    return filename


def main():
    items = json.load(sys.stdin)
    for item in items:
        try:
            print("ok", check(item))
        except Exception as err:  # noqa: BLE001 - any failure is a verification failure
            print("FAIL", item.get("file"), err)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
