"""Requests paired with their replies: by the protocols' ids, or by a JSON field."""

from __future__ import annotations

from helpers.factories import text_frame

from wsinspect.inspector.core.pairing import Pairing, field_pair_id, percentile


def test_a_reply_finds_its_request_and_the_latency_is_kept() -> None:
    pairing = Pairing()
    first = text_frame("a", direction="received", at=10.0)
    second = text_frame("b", direction="received", at=10.5)
    reply = text_frame("c", at=10.25)
    pairing.take(first, "request", "1")
    pairing.take(second, "request", "2")
    pairing.take(reply, "reply", "1")
    pairing.take(text_frame("d", at=11.0), "reply", "9")  # answers nothing seen
    pairing.take(text_frame("e", at=11.0), None, None)
    assert pairing.partner(reply) is first
    assert pairing.partner(first) is reply
    assert pairing.partner(second) is None
    assert pairing.is_waiting(second)
    assert not pairing.is_waiting(first)
    assert pairing.latencies == [0.25]
    assert pairing.taken == 5
    assert pairing.summary() == "p50 250 ms · p95 250 ms · 1 unanswered of 2 requests"


def test_an_error_reply_pairs_too_and_a_repeated_id_replaces_the_waiting_request() -> None:
    pairing = Pairing()
    old, new = text_frame("a", direction="received", at=1.0), text_frame("b", direction="received", at=2.0)
    pairing.take(old, "request", "7")
    pairing.take(new, "request", "7")
    error = text_frame("oops", at=2.004)
    pairing.take(error, "error", "7")
    assert pairing.partner(error) is new
    assert pairing.summary() == "p50 4.0 ms · p95 4.0 ms · 0 unanswered of 2 requests"
    assert Pairing().summary() == ""


def test_percentiles_by_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert percentile([3.0], 95) == 3.0


def test_a_json_field_pairs_by_direction() -> None:
    asked = text_frame('{"meta": {"req": 5}, "op": "get"}', direction="received")
    answered = text_frame('{"meta": {"req": 5}, "ok": true}')
    assert field_pair_id(asked, None, ("meta", "req")) == ("request", "5")
    assert field_pair_id(answered, None, ("meta", "req")) == ("reply", "5")
    assert field_pair_id(answered, {"meta": {"req": "x"}}, ("meta", "req")) == ("reply", "x")  # the decoded tree
    assert field_pair_id(answered, None, ("missing",)) == (None, None)
    assert field_pair_id(text_frame("not json"), None, ("req",)) == (None, None)
    assert field_pair_id(text_frame("{broken"), None, ("req",)) == (None, None)
    assert field_pair_id(text_frame('{"req": {"deep": 1}}'), None, ("req",)) == (None, None)  # not a value
