// Packet budgets alone: the token bucket and its per-sender maps, time passed in.
#include "core/budgets.hpp"

#include <doctest/doctest.h>

using dc::core::BucketMap;
using dc::core::SenderBudgets;
using dc::core::TokenBucket;

TEST_CASE("a fresh bucket starts full, whatever the time of its first use, zero included") {
    for (dc::TimeMs start : {0, 5, 100000}) {
        TokenBucket b;
        CHECK(b.fresh());
        int taken = 0;
        while (b.take(start, 10, 4)) ++taken;
        CHECK(taken == 4);
        CHECK_FALSE(b.fresh());
    }
}

TEST_CASE("a bucket spent at time zero stays spent at time zero") {
    TokenBucket b;
    for (int i = 0; i < 3; ++i) CHECK(b.take(0, 1000, 3));
    CHECK_FALSE(b.take(0, 1000, 3));
}

TEST_CASE("a bucket refills at its rate and never above its burst") {
    TokenBucket b;
    CHECK(b.take(1000, 10, 2));  // 10 a second: one every 100 ms
    CHECK(b.take(1000, 10, 2));
    CHECK_FALSE(b.take(1050, 10, 2));
    CHECK(b.take(1160, 10, 2));
    b.refill(1000000, 10, 2);
    CHECK(b.tokens() == doctest::Approx(2));
}

TEST_CASE("a clock that steps back adds nothing and takes nothing") {
    TokenBucket b;
    CHECK(b.take(5000, 10, 3));
    b.refill(1000, 10, 3);
    CHECK(b.tokens() == doctest::Approx(2));
    CHECK(b.take(1000, 10, 3));
    CHECK(b.take(1000, 10, 3));
    CHECK_FALSE(b.take(1000, 10, 3));
}

TEST_CASE("until_next says when the next whole token is there") {
    TokenBucket b;
    CHECK(b.take(0, 4, 1));  // 4 a second: one every 250 ms
    CHECK(b.until_next(4) == 250);
    b.refill(100, 4, 1);
    CHECK(b.until_next(4) == 150);
    b.refill(250, 4, 1);
    CHECK(b.until_next(4) == 1);  // there already: at least a millisecond
}

TEST_CASE("senders have budgets of their own, and a new sender past the bound clears them all") {
    BucketMap<int> m(2);
    CHECK(m.take(1, 0, 1, 1));
    CHECK_FALSE(m.take(1, 0, 1, 1));
    CHECK(m.take(2, 0, 1, 1));  // another sender is not held back by the first
    CHECK(m.size() == 2);
    CHECK_FALSE(m.take(2, 0, 1, 1));  // a known sender at the bound clears nothing
    CHECK(m.size() == 2);
    CHECK(m.take(3, 0, 1, 1));  // a third clears the map
    CHECK(m.size() == 1);
    CHECK(m.take(1, 0, 1, 1));  // and sender 1 starts full again
}

TEST_CASE("a known session's datagrams and frames spend separate budgets; strangers share one") {
    SenderBudgets b;
    dc::SessionId s{};
    s[0] = 1;
    CHECK(b.known(0, "alice", s, false, 1, 1));
    CHECK_FALSE(b.known(0, "alice", s, false, 1, 1));
    CHECK(b.known(0, "alice", s, true, 1, 1));  // TCP: its own budget
    CHECK(b.known(0, "bob", s, false, 1, 1));
    CHECK(b.strangers(0, 1, 2));
    CHECK(b.strangers(0, 1, 2));
    CHECK_FALSE(b.strangers(0, 1, 2));
    CHECK(b.strangers(1000, 1, 2));
}
