#!/usr/bin/env python3
"""Reads meson's testlog.json files and prints 'N passed, N failed', counting
doctest test cases (a test program that died before its summary counts as one
failure). Exits non-zero when anything failed."""
import json
import re
import sys

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")


def count(path):
    passed = failed = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            result = t.get("result")
            if result == "SKIP":
                continue
            m = None
            for m in SUMMARY.finditer(t.get("stdout") or ""):
                pass
            ok = result in ("OK", "EXPECTEDFAIL")
            if m:
                passed += int(m.group(2))
                failed += int(m.group(3))
                if not ok and int(m.group(3)) == 0:
                    failed += 1  # its cases passed, yet it failed (sanitizer, exit status)
            elif ok:
                passed += 1
            else:
                failed += 1
    return passed, failed


def main():
    passed = failed = 0
    for path in sys.argv[1:]:
        p, f = count(path)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
