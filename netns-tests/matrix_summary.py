#!/usr/bin/env python3
"""Prints the NAT matrix table from punch_pair.sh result lines and writes it as JSON.

    matrix_summary.py RESULTS.jsonl [--out netns-tests/out/matrix.json]

Every scenario of matrix.txt appears; one that left no result line failed before connecting.
Exit 1 if any scenario is missing or did not get its expected path with the data intact; 77 if
there are no results at all (the scenarios were skipped).
"""
import argparse
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))


def scenarios():
    with open(os.path.join(here, "matrix.txt")) as f:
        for line in f:
            fields = line.split()
            if fields and not fields[0].startswith("#"):
                yield {"scenario": fields[0], "a": fields[1], "b": fields[2], "expected": fields[3]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--out", default=os.path.join(here, "out", "matrix.json"))
    args = parser.parse_args()
    got = {}
    if os.path.exists(args.results):
        with open(args.results) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    got[row["scenario"]] = row
    if not got:
        print("matrix: no results (the lab scenarios were skipped, e.g. not root): nothing to summarise")
        return 77
    rows = []
    for s in scenarios():
        row = got.get(s["scenario"], dict(s, got="none", remote="", connect_ms=None, intact=False, ok=False))
        rows.append(row)
    print(f"{'scenario':<18} {'A':<9} {'B':<16} {'expected':<8} {'got':<7} {'family':<6} {'connect ms':>10} {'direct ms':>9}  data")
    for r in rows:
        ms = "-" if r["connect_ms"] is None else str(r["connect_ms"])
        direct = "-" if r.get("direct_ms") is None else str(r["direct_ms"])
        data = "intact" if r["intact"] else "MISSING/BROKEN"
        mark = "" if r["ok"] else "   <-- FAIL"
        family = r.get("family") or "-"
        print(f"{r['scenario']:<18} {r['a']:<9} {r['b']:<16} {r['expected']:<8} {r['got']:<7} {family:<6} {ms:>10} {direct:>9}  {data}{mark}")
    passed = sum(1 for r in rows if r["ok"])
    print(f"{passed} passed, {len(rows) - passed} failed")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {args.out}")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
