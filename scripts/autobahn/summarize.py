#!/usr/bin/env python3
"""Gate on an Autobahn|Testsuite report: `wstest` exits 0 whatever happens, this does not.

    summarize.py reports/autobahn/server/index.json --spec reports/autobahn/server/spec.json
    summarize.py INDEX --cases '1.*,2.*' --exclude '12.*,13.*' [--agent NAME]
    summarize.py INDEX --expect 301

Reads index.json ({agent: {case_id: {behavior, behaviorClose, remoteCloseCode, duration, ...}}}).
A case passes when `behavior` is OK, INFORMATIONAL or NON-STRICT (NON-STRICT is listed as a
warning; --strict makes it a failure), or UNIMPLEMENTED for a case matched by
--allow-unimplemented, and `behaviorClose` is OK or INFORMATIONAL (or UNIMPLEMENTED alongside an
allowed UNIMPLEMENTED). Anything else fails: FAILED, WRONG CODE, UNCLEAN, FAILED BY CLIENT,
NO_CLOSE, unknown verdicts, and every expected case missing from the index (an unreachable testee
gives `{}`). The expected cases come from --spec (its "cases"/"exclude-cases"), from
--cases/--exclude, or a bare count from --expect; the case list is resolved with Autobahn's own
CaseSet (Python 2, from the Autobahn virtualenv), so "1.*" means exactly what wstest runs.

Prints each failing case, the warnings, per-section counts and run time, and the closing line
`N passed, N failed`. Exit status: 0 if nothing failed, 1 otherwise, 2 on a usage error.
"""
import argparse
import fnmatch
import json
import os
import subprocess
import sys
from collections import OrderedDict

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PY2 = os.environ.get("AUTOBAHN_PYTHON",
                             os.path.join(os.environ.get("AUTOBAHN_VENV", os.path.join(REPO, ".venv-autobahn")),
                                          "bin", "python"))
PASS = {"OK", "INFORMATIONAL", "NON-STRICT"}
CLOSE_PASS = {"OK", "INFORMATIONAL"}

RESOLVE = r"""
import json, sys
from autobahntestsuite import case
from autobahntestsuite.caseset import CaseSet
cs = CaseSet(case.CaseSetname, case.CaseBasename, case.Cases, case.CaseCategories, case.CaseSubCategories)
spec = json.loads(sys.argv[1])
print(json.dumps(cs.parseSpecCases(spec)))
"""


def split_patterns(s):
    return [p.strip() for p in (s or "").split(",") if p.strip()]


def case_key(case_id):
    return tuple(int(x) if x.isdigit() else x for x in case_id.split("."))


def matches(case_id, patterns):
    # Autobahn's patterns: '*' is any run of characters, '.' is literal.
    return any(fnmatch.fnmatchcase(case_id, p) for p in patterns)


def resolve_cases(cases, exclude, py2):
    if not os.path.exists(py2):
        sys.exit(f"summarize: cannot resolve case patterns: {py2} not found (run scripts/setup.sh or pass --expect N)")
    out = subprocess.run([py2, "-c", RESOLVE, json.dumps({"cases": cases, "exclude-cases": exclude})],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description="Gate on an Autobahn index.json",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("index", help="index.json, or the report directory holding it")
    ap.add_argument("--agent", help="agent to check (default: the only agent in the index)")
    ap.add_argument("--spec", help="wstest spec file: expected cases are its cases minus exclude-cases")
    ap.add_argument("--cases", help="comma-separated case patterns that were run, e.g. '1.*,2.*'")
    ap.add_argument("--exclude", default="", help="comma-separated case patterns excluded from --cases")
    ap.add_argument("--expect", type=int, help="expected number of cases (when patterns are not given)")
    ap.add_argument("--allow-unimplemented", default="", metavar="PATTERNS",
                    help="comma-separated case patterns allowed to be UNIMPLEMENTED, e.g. '12.*,13.*'")
    ap.add_argument("--strict", action="store_true", help="NON-STRICT fails instead of warning")
    ap.add_argument("--label", help="one word put before the closing line, e.g. 'server' -> 'server: N passed, N failed'")
    ap.add_argument("--wstest-python", default=DEFAULT_PY2, help="python of the Autobahn virtualenv")
    args = ap.parse_args()

    expected = None
    if args.spec:
        with open(args.spec) as f:
            spec = json.load(f)
        expected = resolve_cases(spec.get("cases", ["*"]), spec.get("exclude-cases", []), args.wstest_python)
    elif args.cases:
        expected = resolve_cases(split_patterns(args.cases), split_patterns(args.exclude), args.wstest_python)
    elif args.expect is None:
        ap.error("say what was expected: --spec, --cases or --expect")
    expect_n = len(expected) if expected is not None else args.expect
    if expect_n == 0:
        ap.error("the expected case list is empty: check the patterns")

    path = os.path.join(args.index, "index.json") if os.path.isdir(args.index) else args.index
    failures, warnings = [], []
    try:
        with open(path) as f:
            index = json.load(f, object_pairs_hook=OrderedDict)
    except (OSError, ValueError) as e:
        index = None
        failures.append(f"cannot read {path}: {e} (the testee never asked for /updateReports, or wstest died)")
    results = {}
    if index is not None:
        if not isinstance(index, dict):
            failures.append(f"{path}: not a JSON object")
        elif not index:
            failures.append(f"{path} is empty ({{}}): the testee was unreachable or ran no case")
        elif args.agent:
            if args.agent not in index:
                failures.append(f"agent {args.agent!r} not in {path} (agents: {', '.join(index)})")
            else:
                results = index[args.agent]
        elif len(index) > 1:
            failures.append(f"{path} holds several agents ({', '.join(index)}): pick one with --agent")
        else:
            results = next(iter(index.values()))
    agent = args.agent or (next(iter(index)) if isinstance(index, dict) and len(index) == 1 else "?")

    allow_unimpl = split_patterns(args.allow_unimplemented)
    passed = failed = 0
    sections = OrderedDict()  # "1" -> [passed, failed, ms]
    for case_id in sorted(results, key=case_key):
        r = results[case_id]
        beh, close = r.get("behavior"), r.get("behaviorClose")
        ms = r.get("duration") or 0
        unimpl_ok = matches(case_id, allow_unimpl)
        ok_beh = beh in PASS and not (args.strict and beh == "NON-STRICT") or (beh == "UNIMPLEMENTED" and unimpl_ok)
        ok_close = close in CLOSE_PASS or (close == "UNIMPLEMENTED" and unimpl_ok)
        unexpected = expected is not None and case_id not in expected
        sec = sections.setdefault(case_id.split(".")[0], [0, 0, 0])
        sec[2] += ms
        detail = f"behavior={beh} close={close} remoteCloseCode={r.get('remoteCloseCode')} ({ms} ms)"
        if ok_beh and ok_close and not unexpected:
            passed += 1
            sec[0] += 1
            if beh == "NON-STRICT":
                warnings.append(f"NON-STRICT {case_id}: {detail}")
        else:
            failed += 1
            sec[1] += 1
            why = "not in the expected case list" if unexpected else detail
            failures.append(f"{case_id}: {why}")

    if expected is not None:
        missing = [c for c in expected if c not in results]
    else:
        missing = [f"{expect_n - len(results)} case(s)"] if len(results) < expect_n else []
        if len(results) > expect_n:
            failures.append(f"{len(results)} cases in the index, more than the {expect_n} expected")
            failed += 1
    if missing:
        shown = ", ".join(missing[:20]) + (f" ... ({len(missing)} in all)" if len(missing) > 20 else "")
        failures.append(f"missing from the index: {shown}")
        failed += len(missing) if expected is not None else expect_n - len(results)

    print(f"Autobahn report {path} (agent {agent}): {len(results)} of {expect_n} expected cases present")
    for s, (p, f_, ms) in sections.items():
        print(f"  section {s:>2}: {p} ok, {f_} failed, {ms / 1000:.1f} s")
    for w in warnings:
        print(f"WARN {w}")
    for f_ in failures:
        print(f"FAIL {f_}")
    if failures and failed == 0:
        failed = 1  # a structural failure (unreadable index, ambiguous agent) is never a pass
    prefix = f"{args.label}: " if args.label else ""
    print(f"{prefix}{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
