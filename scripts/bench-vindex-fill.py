#!/usr/bin/env python3
"""Fills a bintrail log with PyPI-shaped entries for scripts/bench-vindex.sh (issue 16).

Usage: bench-vindex-fill.py LOG_URL TOKEN_FILE ENTRIES PROJECTS OUT_DIR

Draws each entry's project from a Zipf-Mandelbrot law over PROJECTS names (project p has
weight 1/(p + 100)): with 10,000,000 entries over 500,000 projects this gives a largest
project of about 12,000 files, a median of about 5 and tens of thousands of projects with one
or two files -- many small projects and a few with thousands of files, as on PyPI, without
the single 700,000-file project a plain 1/(p + 1) law would make. Files alternate between an
sdist and a wheel of one version; one in three carries a Trusted Publisher.

Sends POST /admin/bulk/append requests of 50,000 lines, three in flight, and stops with
exit 1 when any line is not logged. Writes OUT_DIR/projects (every project with a file, one
name a line, for `bintrail loadgen --scenario vindex-lookup --projects`) and
OUT_DIR/stats.json (the size distribution, the typical and the largest project).
"""

import bisect
import concurrent.futures
import itertools
import json
import random
import sys
import urllib.request

CHUNK = 50_000
OFFSET = 100


def main() -> int:
    url, token_file, entries, projects, out = sys.argv[1:6]
    entries, projects = int(entries), int(projects)
    token = open(token_file).read().strip()
    rng = random.Random(16)
    cum = list(itertools.accumulate(1.0 / (p + OFFSET) for p in range(projects)))
    total = cum[-1]
    counts = [0] * projects
    publisher = "https://token.actions.githubusercontent.com"

    def chunk(n: int) -> bytes:
        lines = []
        for _ in range(n):
            p = bisect.bisect(cum, rng.random() * total)
            k = counts[p]
            counts[p] = k + 1
            version = f"1.{k // 2}"
            if k % 2 == 0:
                name = f"bench-{p}-{version}.tar.gz"
            else:
                name = f"bench_{p}-{version}-py3-none-any.whl"
            digest = f"{rng.getrandbits(256):064x}"
            line = f'{{"filename":"{name}","checksum":"sha256:{digest}"'
            if k % 3 == 0:
                line += (
                    f',"publisher":{{"issuer":"{publisher}","subject":'
                    f'"https://github.com/bench/{p}/.github/workflows/release.yml@refs/tags/v{version}"}}'
                )
            lines.append(line + "}\n")
        return "".join(lines).encode()

    def post(body: bytes) -> int:
        request = urllib.request.Request(
            url.rstrip("/") + "/admin/bulk/append",
            data=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/x-ndjson",
            },
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            text = answer.read().decode()
        if '"type":"complete"' not in text:
            raise RuntimeError("a bulk answer ended without its complete record")
        return text.count('"status":"logged"')

    logged = 0
    sent = 0
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        pending = set()
        while sent < entries or pending:
            while sent < entries and len(pending) < 3:
                n = min(CHUNK, entries - sent)
                pending.add(pool.submit(post, chunk(n)))
                sent += n
            done, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for f in done:
                logged += f.result()
            print(f"bench-vindex-fill: {logged} logged", file=sys.stderr, flush=True)
    if logged != entries:
        print(f"bench-vindex-fill: {entries - logged} lines not logged", file=sys.stderr)
        return 1

    with open(f"{out}/projects", "w") as names:
        for p, c in enumerate(counts):
            if c:
                names.write(f"bench-{p}\n")
    sizes = sorted(c for c in counts if c)
    median = sizes[len(sizes) // 2]
    typical = next(p for p, c in enumerate(counts) if c == median)
    largest = max(range(projects), key=lambda p: counts[p])
    stats = {
        "entries": entries,
        "projects": len(sizes),
        "one_file": sum(1 for c in sizes if c == 1),
        "median": median,
        "p90": sizes[len(sizes) * 9 // 10],
        "p99": sizes[len(sizes) * 99 // 100],
        "max": sizes[-1],
        "over_1000": sum(1 for c in sizes if c >= 1000),
        "typical": f"bench-{typical}",
        "largest": f"bench-{largest}",
    }
    with open(f"{out}/stats.json", "w") as f:
        json.dump(stats, f)
    print(json.dumps(stats), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
