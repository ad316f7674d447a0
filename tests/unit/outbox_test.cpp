// The outbox alone: retries backing off, pacing, order, acknowledgements, time passed in.
#include "core/outbox.hpp"

#include <doctest/doctest.h>

using namespace dc;
using core::OutEntry;

namespace {

core::Config config() {
    core::Config c;
    c.retry_initial = 1000;
    c.retry_max = 8000;
    c.chat_send_rate = 10;  // one every 100 ms
    c.chat_send_burst = 2;
    c.chat_channel_rate = 100;  // one every 10 ms
    c.chat_channel_burst = 4;
    return c;
}

MessageId id_of(int n) {
    MessageId m{};
    m[0] = static_cast<std::uint8_t>(n);
    m[1] = static_cast<std::uint8_t>(255 - n);  // ids do not sort like the order of writing
    return m;
}

// Message n of our stream to target, written at time `sent`.
OutEntry& add(core::Outbox& o, int n, const std::string& target, TimeMs sent, bool* behind_out = nullptr) {
    wire::ChatMessage m;
    m.id = id_of(n);
    m.from = "me";
    m.to = target;
    m.sent = sent;
    m.seq = static_cast<std::uint64_t>(n);
    m.session[0] = 1;
    bool behind = false;
    auto& e = o.add(OutboxRecord{m.id, target, {}, sent}, m, sent, behind);
    if (behind_out) *behind_out = behind;
    return e;
}

int sends = 0;
auto count_send = [](const OutEntry&) { ++sends; };

}  // namespace

TEST_CASE("each try backs off, doubling up to retry_max") {
    auto cfg = config();
    core::Outbox o(cfg);
    auto& e = add(o, 1, "bob", 0);
    std::vector<TimeMs> gaps;
    TimeMs t = 0;
    for (int i = 0; i < 6; ++i) {
        REQUIRE(o.try_send(e, t, false, count_send));
        gaps.push_back(e.next_try - t);
        t = e.next_try;
    }
    CHECK(gaps == std::vector<TimeMs>{1000, 2000, 4000, 8000, 8000, 8000});
    CHECK(e.tried);
}

TEST_CASE("the pacer lets a burst go, then one per interval, and says when the next may") {
    auto cfg = config();
    core::Outbox o(cfg);
    sends = 0;
    auto& a = add(o, 1, "bob", 0);
    auto& b = add(o, 2, "bob", 0);
    auto& c = add(o, 3, "bob", 0);
    CHECK(o.pace_budget(0) == 2 + 4 + 1);  // both pacers' bursts, and one to learn when
    CHECK(o.try_send(a, 0, false, count_send));
    CHECK(o.try_send(b, 0, false, count_send));
    CHECK_FALSE(o.try_send(c, 0, false, count_send));
    CHECK(sends == 2);
    CHECK_FALSE(c.tried);
    CHECK(o.pace_ready() == 100);
    CHECK(o.pace_budget(50) == 4 + 1);  // half a signed token, the channel burst
    CHECK(o.try_send(c, 100, false, count_send));
    CHECK(sends == 3);
}

TEST_CASE("chat on channels has its own pacer: a larger burst and rate, the signed one untouched") {
    auto cfg = config();
    core::Outbox o(cfg);
    sends = 0;
    std::vector<OutEntry*> v;
    for (int i = 1; i <= 6; ++i) v.push_back(&add(o, i, "bob", 0));
    for (int i = 0; i < 4; ++i) CHECK(o.try_send(*v[static_cast<std::size_t>(i)], 0, true, count_send));
    CHECK_FALSE(o.try_send(*v[4], 0, true, count_send));  // its burst is spent ...
    CHECK(o.pace_ready() == 10);                          // ... until its next token
    CHECK(o.try_send(*v[4], 0, false, count_send));       // the signed pacer's burst is whole
    CHECK(o.try_send(*v[5], 10, true, count_send));
    CHECK(sends == 6);
}

TEST_CASE("a message waits behind older ones of its target not tried yet") {
    auto cfg = config();
    core::Outbox o(cfg);
    bool behind = true;
    add(o, 1, "bob", 0, &behind);
    CHECK_FALSE(behind);
    add(o, 2, "bob", 1, &behind);
    CHECK(behind);
    add(o, 3, "carol", 2, &behind);
    CHECK_FALSE(behind);
    CHECK(o.waiting_for("bob") == 2);
    CHECK(o.contains(id_of(3), "carol"));
}

TEST_CASE("a flush makes a target's entries due now, oldest first, retries starting over") {
    auto cfg = config();
    core::Outbox o(cfg);
    for (int n = 5; n >= 1; --n) add(o, n, "bob", n * 10);
    add(o, 9, "carol", 0);
    for (auto* e : o.in_order([](auto&, auto&) { return true; })) {
        e->gap = 8000;
        e->next_try = 50000;
    }
    auto due = o.flush("bob", 700);
    REQUIRE(due.size() == 5);
    for (std::size_t i = 0; i < due.size(); ++i) {
        CHECK(due[i]->msg.seq == i + 1);
        CHECK(due[i]->next_try == 700);
        CHECK(due[i]->gap == 1000);
    }
    auto first_two = o.in_order([](auto& k, auto&) { return k.second == "bob"; }, 2);
    REQUIRE(first_two.size() == 2);
    CHECK(first_two[1]->msg.seq == 2);
}

TEST_CASE("the base of a stream is its lowest number still unacknowledged") {
    auto cfg = config();
    core::Outbox o(cfg);
    add(o, 3, "bob", 0);
    add(o, 4, "bob", 1);
    auto& e = add(o, 5, "bob", 2);
    CHECK(o.base_of(e) == 3);
    o.erase(id_of(3), "bob");
    CHECK(o.base_of(e) == 4);
}

TEST_CASE("a held message waits long; the one the receiver wants goes now, not twice in a row") {
    auto cfg = config();
    core::Outbox o(cfg);
    auto& first = add(o, 1, "bob", 0);
    auto& held = add(o, 2, "bob", 0);
    held.next_try = 500;
    o.held(held, 1000);
    CHECK(held.gap == 8000);
    CHECK(held.next_try == 9000);
    first.next_try = 20000;
    first.gap = 8000;
    CHECK(o.wanted(held, 1, 1000) == &first);
    CHECK(first.next_try == 1000);
    CHECK(first.gap == 1000);
    CHECK(o.wanted(held, 1, 1050) == nullptr);  // just resent
    CHECK(o.wanted(held, 1, 1100) == &first);
    CHECK(o.wanted(held, 7, 5000) == nullptr);  // not ours
}

TEST_CASE("entries restored after a restart are all due at the start") {
    auto cfg = config();
    core::Outbox o(cfg);
    wire::ChatMessage m;
    m.id = id_of(1);
    m.to = "bob";
    o.restore(OutboxRecord{m.id, "bob", {}, 0}, m);
    o.all_due(4242);
    REQUIRE(o.find(m.id, "bob"));
    CHECK(o.find(m.id, "bob")->next_try == 4242);
    CHECK(o.find(m.id, "bob")->gap == 1000);
    CHECK(o.size() == 1);
}

TEST_CASE("the first retry waits a timeout taken from the measured round trip, and only first tries measure it") {
    auto cfg = config();
    cfg.retry_floor = 50;
    core::Outbox o(cfg);
    auto& a = add(o, 1, "bob", 0);
    REQUIRE(o.try_send(a, 0, false, count_send));
    CHECK(a.next_try == 1000);  // nothing measured yet: retry_initial
    o.acked(a, 20);             // 20 ms: srtt 20, variation 10, timeout 20 + 4 x 10
    o.erase(a.rec.id, "bob");
    CHECK(o.retry_timeout("bob") == 60);
    CHECK(o.retry_timeout("carol") == 1000);  // per recipient
    auto& b = add(o, 2, "bob", 100);
    REQUIRE(o.try_send(b, 200, false, count_send));
    CHECK(b.next_try == 260);
    // Its retry is acked late: which copy does the ack answer? Not measured.
    REQUIRE(o.try_send(b, 260, false, count_send));
    o.acked(b, 900);
    CHECK(o.retry_timeout("bob") == 60);
    o.erase(b.rec.id, "bob");
    // Messages `from` .. `to` - 1, each acked `rtt` after its first try.
    auto acked_after = [&](int from, int to, TimeMs rtt) {
        for (int i = from; i < to; ++i) {
            TimeMs t = 1000 * i;
            auto& e = add(o, i, "bob", t);
            REQUIRE(o.try_send(e, t, false, count_send));
            o.acked(e, t + rtt);
            o.erase(e.rec.id, "bob");
        }
    };
    // Steady 20 ms round trips: the variation shrinks, down to the floor.
    acked_after(3, 40, 20);
    CHECK(o.retry_timeout("bob") == 50);
    // A slower path (300 ms) pulls it up, never past retry_max.
    acked_after(40, 45, 300);
    CHECK(o.retry_timeout("bob") > 300);
    CHECK(o.retry_timeout("bob") <= cfg.retry_max);
}
