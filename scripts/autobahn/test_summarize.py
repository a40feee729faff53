#!/usr/bin/env python3
"""Self-test of the Autobahn gate: summarize.py must fail on every bad verdict and on short indexes.

    python3 scripts/autobahn/test_summarize.py     (plain unittest; no testee needed)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARIZE = os.path.join(HERE, "summarize.py")
HAVE_VENV = os.path.exists(os.path.join(os.path.dirname(os.path.dirname(HERE)), ".venv-autobahn", "bin", "python"))


def case(behavior="OK", close="OK", code=1000):
    return {"behavior": behavior, "behaviorClose": close, "remoteCloseCode": code, "duration": 3,
            "reportfile": "x.json"}


class Summarize(unittest.TestCase):
    def run_on(self, index, *args):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(index, f)
        try:
            p = subprocess.run([sys.executable, SUMMARIZE, f.name, *args], capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        return p.returncode, p.stdout

    def test_all_ok_passes(self):
        rc, out = self.run_on({"a": {"1.1.1": case(), "1.1.2": case("INFORMATIONAL", "INFORMATIONAL")}}, "--expect", "2")
        self.assertEqual(rc, 0, out)
        self.assertIn("\n2 passed, 0 failed\n", out)

    def test_each_bad_verdict_fails(self):
        for beh, close in [("FAILED", "OK"), ("WRONG CODE", "OK"), ("OK", "WRONG CODE"), ("OK", "UNCLEAN"),
                           ("OK", "FAILED BY CLIENT"), ("NO_CLOSE", "OK"), ("UNIMPLEMENTED", "UNIMPLEMENTED"),
                           ("SOMETHING NEW", "OK"), (None, None)]:
            rc, out = self.run_on({"a": {"1.1.1": case(), "5.1": case(beh, close)}}, "--expect", "2")
            self.assertEqual(rc, 1, (beh, close, out))
            self.assertIn("1 passed, 1 failed", out)
            self.assertIn("FAIL 5.1:", out)

    def test_non_strict_warns_or_fails_with_strict(self):
        idx = {"a": {"6.4.1": case("NON-STRICT")}}
        rc, out = self.run_on(idx, "--expect", "1")
        self.assertEqual(rc, 0, out)
        self.assertIn("WARN NON-STRICT 6.4.1", out)
        rc, out = self.run_on(idx, "--expect", "1", "--strict")
        self.assertEqual(rc, 1, out)

    def test_unimplemented_only_where_allowed(self):
        idx = {"a": {"12.1.1": case("UNIMPLEMENTED", "UNIMPLEMENTED"), "1.1.1": case("UNIMPLEMENTED", "UNIMPLEMENTED")}}
        rc, out = self.run_on(idx, "--expect", "2", "--allow-unimplemented", "12.*,13.*")
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL 1.1.1:", out)
        self.assertNotIn("FAIL 12.1.1", out)

    def test_empty_short_and_unreadable_fail(self):
        self.assertEqual(self.run_on({}, "--expect", "1")[0], 1)
        rc, out = self.run_on({"a": {"1.1.1": case()}}, "--expect", "3")
        self.assertEqual(rc, 1, out)
        self.assertIn("1 passed, 2 failed", out)
        p = subprocess.run([sys.executable, SUMMARIZE, "/nonexistent/index.json", "--expect", "1"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p.stdout)

    def test_agent_selection(self):
        idx = {"a": {"1.1.1": case()}, "b": {"1.1.1": case("FAILED")}}
        self.assertEqual(self.run_on(idx, "--expect", "1")[0], 1)  # ambiguous
        self.assertEqual(self.run_on(idx, "--expect", "1", "--agent", "a")[0], 0)
        self.assertEqual(self.run_on(idx, "--expect", "1", "--agent", "b")[0], 1)
        self.assertEqual(self.run_on(idx, "--expect", "1", "--agent", "c")[0], 1)

    def test_expectation_required(self):
        self.assertEqual(self.run_on({"a": {"1.1.1": case()}})[0], 2)

    @unittest.skipUnless(HAVE_VENV, "needs the Autobahn virtualenv (scripts/setup.sh)")
    def test_case_patterns_resolved_by_autobahn(self):
        full = {"a": {f"1.1.{i}": case() for i in range(1, 9)}}
        self.assertEqual(self.run_on(full, "--cases", "1.1.*")[0], 0)
        short = {"a": {f"1.1.{i}": case() for i in range(1, 8)}}
        rc, out = self.run_on(short, "--cases", "1.1.*")
        self.assertEqual(rc, 1, out)
        self.assertIn("missing from the index: 1.1.8", out)
        extra = {"a": dict(full["a"], **{"2.1": case()})}
        rc, out = self.run_on(extra, "--cases", "1.1.*")
        self.assertEqual(rc, 1, out)
        self.assertIn("2.1: not in the expected case list", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
