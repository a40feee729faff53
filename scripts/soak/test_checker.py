#!/usr/bin/env python3
"""Self-test of the soak checker (soak.py): synthetic streams, no hub. A checker that never
fails proves nothing, so each kind of fault it claims to catch is fed to it here.

    python3 scripts/soak/test_checker.py      (plain unittest; scripts/soak.sh runs it first)
"""
import argparse
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak  # noqa: E402

E1, E2 = "a1", "b2"  # epochs of hub lives 1 and 2


def make_run(retention=1000):
    a = argparse.Namespace(topics=1, latency_sample=1, retention_events=retention, drop_mean=30.0)
    return soak.Run(a)


def publish(run, epoch, life, n, first_p=1, refused=()):
    """The publisher's view: attempts first_p.., `n` appended as seqs 1..n of `epoch`."""
    tl = run.topics["soak-0"]
    p = first_p
    seq = 0
    while seq < n:
        tl.attempts = max(tl.attempts, p)
        if p in refused:
            tl.outcome[p] = ("refused", "connect")
        else:
            seq += 1
            tl.outcome[p] = ("ok", epoch, seq)
            tl.seqmap[(epoch, seq)] = p
            run.note_epoch("soak-0", epoch, life, "publisher")
            run.bump_head(tl, epoch, seq)
        p += 1
    run.life = max(run.life, life)
    return p


def sub(run, life=1):
    s = soak.Checker(run, 0, "ws", "soak-0")
    s.conn_life = life
    s.start_life = life
    run.subs.append(s)
    return s


def ev(s, epoch, seq, p):
    s.on_event(f"1.{epoch}.{seq}", json.dumps({"p": p, "t": 0.0}), 0.0)


def kinds(run):
    soak.account(run)
    soak.check_topics(run)
    return set(run.v.counts)


class Checker(unittest.TestCase):
    def test_clean_stream(self):
        run = make_run()
        publish(run, E1, 1, 5)
        s = sub(run)
        for q in range(1, 6):
            ev(s, E1, q, q)
        self.assertEqual(kinds(run), set())
        self.assertEqual(s.delivered, 5)

    def test_duplicate(self):
        run = make_run()
        publish(run, E1, 1, 3)
        s = sub(run)
        for q in (1, 2, 2, 3):
            ev(s, E1, q, q)
        self.assertIn("duplicate", kinds(run))
        self.assertEqual(s.duplicates, 1)

    def test_hole_then_late_event_is_out_of_order(self):
        run = make_run()
        publish(run, E1, 1, 4)
        s = sub(run)
        for q in (1, 3, 2, 4):
            ev(s, E1, q, q)
        k = kinds(run)
        self.assertIn("out of order", k)
        self.assertIn("unexplained missing", k)  # reported when the jump was seen
        self.assertEqual((s.out_of_order, s.missing, s.delivered), (1, 0, 4))

    def test_silent_skip(self):
        run = make_run()
        publish(run, E1, 1, 4)
        s = sub(run)
        for q in (1, 2, 4):
            ev(s, E1, q, q)
        self.assertIn("unexplained missing", kinds(run))
        self.assertEqual(s.missing, 1)

    def test_undelivered_tail_at_the_end(self):
        run = make_run()
        publish(run, E1, 1, 4)
        s = sub(run)
        for q in (1, 2):
            ev(s, E1, q, q)
        self.assertIn("not delivered by the end", kinds(run))

    def test_gap_with_the_right_count_needs_a_retention_reason(self):
        run = make_run(retention=2)
        publish(run, E1, 1, 6)
        s = sub(run)
        ev(s, E1, 1, 1)
        s.on_gap(3)
        for q in (5, 6):
            ev(s, E1, q, q)
        self.assertEqual(kinds(run), set())  # head 6 > retention 2: legitimate
        self.assertEqual((s.gaps, s.gap_events), (1, 3))
        run = make_run(retention=1000)
        publish(run, E1, 1, 6)
        s = sub(run)
        ev(s, E1, 1, 1)
        s.on_gap(3)
        for q in (5, 6):
            ev(s, E1, q, q)
        self.assertEqual(kinds(run), {"gap without a retention reason"})

    def test_gap_with_a_wrong_count(self):
        run = make_run(retention=2)
        publish(run, E1, 1, 6)
        s = sub(run)
        ev(s, E1, 1, 1)
        s.on_gap(2)
        for q in (5, 6):
            ev(s, E1, q, q)
        self.assertIn("unexplained missing", kinds(run))

    def test_reset_after_a_restart_and_lost_tail(self):
        run = make_run()
        publish(run, E1, 1, 5)
        p = publish(run, E2, 2, 3, first_p=6)
        s = sub(run)
        for q in (1, 2, 3):
            ev(s, E1, q, q)
        s.conn_life = 2
        s.on_reset()
        for q in (1, 2, 3):
            ev(s, E2, q, 5 + q)
        self.assertEqual(kinds(run), set())
        per = soak.account(run)
        self.assertEqual(per["ws"]["lost_at_restart"], 2)  # seqs 4, 5 of the first life
        self.assertEqual(p, 9)

    def test_reset_within_one_life(self):
        run = make_run()
        publish(run, E1, 1, 3)
        publish(run, E2, 1, 2, first_p=4)  # a second epoch in the same life
        s = sub(run)
        ev(s, E1, 1, 1)
        s.on_reset()
        ev(s, E2, 1, 4)
        k = kinds(run)
        self.assertIn("reset not after a hub restart", k)
        self.assertIn("two epochs in one hub life", k)

    def test_epoch_change_without_reset(self):
        run = make_run()
        publish(run, E1, 1, 2)
        publish(run, E2, 2, 2, first_p=3)
        s = sub(run)
        ev(s, E1, 1, 1)
        ev(s, E1, 2, 2)
        s.conn_life = 2
        ev(s, E2, 1, 3)
        ev(s, E2, 2, 4)
        self.assertEqual(kinds(run), {"epoch change without reset"})

    def test_reset_without_new_epoch(self):
        run = make_run()
        publish(run, E1, 1, 2)
        s = sub(run)
        ev(s, E1, 1, 1)
        s.on_reset()
        ev(s, E1, 2, 2)
        self.assertIn("reset without a new epoch", kinds(run))

    def test_refused_publish_delivered(self):
        run = make_run()
        publish(run, E1, 1, 2, refused=(2,))  # p=2 refused, p=1 and p=3 appended
        tl = run.topics["soak-0"]
        s = sub(run)
        ev(s, E1, 1, 1)
        ev(s, E1, 2, 2)  # carries the refused p=2 where p=3 was answered
        self.assertIn("id does not match the publisher's answer", kinds(run))
        self.assertEqual(tl.outcome[2][0], "refused")

    def test_refused_publish_appearing_where_nothing_was_answered(self):
        run = make_run()
        publish(run, E1, 1, 1)
        tl = run.topics["soak-0"]
        tl.attempts = 2
        tl.outcome[2] = ("refused", "connect")
        s = sub(run)
        ev(s, E1, 1, 1)
        ev(s, E1, 2, 2)  # a seq no publisher was answered, with the refused p
        self.assertIn("a refused publish was delivered", kinds(run))

    def test_unknown_outcome_may_appear(self):
        run = make_run()
        publish(run, E1, 1, 1)
        tl = run.topics["soak-0"]
        tl.attempts = 2
        tl.outcome[2] = ("unknown", "reset")
        s = sub(run)
        ev(s, E1, 1, 1)
        ev(s, E1, 2, 2)
        self.assertEqual(kinds(run), set())
        self.assertEqual(run.unknown_delivered, 1)

    def test_pending_answer_checked_later(self):
        run = make_run()
        tl = run.topics["soak-0"]
        tl.attempts = 1
        tl.outcome[1] = ("inflight",)
        s = sub(run)
        ev(s, E1, 1, 1)  # delivered before the publisher's answer is in
        self.assertEqual(len(run.pending), 1)
        tl.outcome[1] = ("ok", E1, 7)  # ... and the answer names another id
        tl.seqmap[(E1, 7)] = 1
        run.sweep_pending(final=True)
        self.assertIn("id does not match the publisher's answer", run.v.counts)

    def test_poll_position_and_sse_id_only_block(self):
        run = make_run(retention=2)
        publish(run, E1, 1, 5)
        s = sub(run)
        ev(s, E1, 1, 1)
        s.on_gap(3)
        s.on_position(f"1.{E1}.4")  # gap notice without events: the cursor moves past it
        ev(s, E1, 5, 5)
        self.assertEqual(kinds(run), set())
        s.on_position(f"1.{E1}.2")
        self.assertIn("cursor moved backwards", run.v.counts)


class Helpers(unittest.TestCase):
    def test_restart_schedule(self):
        self.assertEqual(soak.restart_times(120, 180), [60])
        self.assertEqual(soak.restart_times(1800, 180), [180 * k for k in range(1, 10)])
        self.assertEqual(soak.restart_times(120, 0), [])

    def test_durations(self):
        self.assertEqual(soak.parse_duration("2m"), 120)
        self.assertEqual(soak.parse_duration("120s"), 120)
        self.assertEqual(soak.parse_duration("90"), 90)
        self.assertEqual(soak.parse_duration("1h"), 3600)

    def test_fit(self):
        slope, icpt = soak.linear_fit([0, 1, 2, 3], [1, 3, 5, 7])
        self.assertAlmostEqual(slope, 2)
        self.assertAlmostEqual(icpt, 1)


if __name__ == "__main__":
    unittest.main()
