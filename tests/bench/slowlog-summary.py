#!/usr/bin/env python3
"""Where a MariaDB server's statement time went: a slow log written with
long_query_time=0, summed per statement shape (numbers replaced by N).

Usage: slowlog-summary.py SLOW_LOG [TOP]
Prints, per shape: how many ran, total and mean time, share of all time,
mean rows examined. The log's own writing slows the server down; compare
shares, not absolute figures, with runs without it."""
import collections
import re
import sys

HEAD = re.compile(r"# Query_time: ([\d.]+)\s+Lock_time: [\d.]+\s+Rows_sent: \d+\s+Rows_examined: (\d+)")


def main():
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 14
    shapes = collections.defaultdict(lambda: [0, 0.0, 0])
    pending = None
    with open(sys.argv[1], errors="replace") as f:
        for line in f:
            m = HEAD.match(line)
            if m:
                pending = (float(m.group(1)), int(m.group(2)))
            elif pending and not line.startswith(("#", "SET timestamp", "use ")) and line.strip():
                s = shapes[re.sub(r"\d+", "N", line.strip())[:80]]
                s[0] += 1
                s[1] += pending[0]
                s[2] += pending[1]
                pending = None
    total = sum(s[1] for s in shapes.values()) or 1
    print(f"{'count':>7} {'total ms':>9} {'mean us':>9} {'share':>6} {'rows ex':>7}  statement")
    for text, (n, t, ex) in sorted(shapes.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"{n:7d} {t * 1e3:9.1f} {t / n * 1e6:9.1f} {100 * t / total:5.1f}% {ex // n:7d}  {text}")


if __name__ == "__main__":
    main()
