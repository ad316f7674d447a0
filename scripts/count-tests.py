#!/usr/bin/env python3
"""Reads meson's testlog.json and prints 'N passed, N failed' counting doctest
test cases (a test program that died before its summary counts as one failure).
Exits non-zero when anything failed."""
import json
import re
import sys

summary = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
passed = failed = 0
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        t = json.loads(line)
        result = t.get("result")
        if result == "SKIP":
            continue
        m = None
        for m in summary.finditer(t.get("stdout") or ""):
            pass
        ok = result in ("OK", "EXPECTEDFAIL")
        if m:
            p, fl = int(m.group(2)), int(m.group(3))
            passed += p
            failed += fl
            if not ok and fl == 0:
                failed += 1  # passed its cases but failed anyway (sanitizer, exit status)
        elif ok:
            passed += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
