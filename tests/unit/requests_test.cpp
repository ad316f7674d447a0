// Our outstanding requests alone: challenges remembered, answers counted once
// per session, expiry and the bound, time passed in.
#include "core/requests.hpp"

#include <doctest/doctest.h>

using namespace dc;
using core::PendingKind;
using core::Requests;

namespace {
SessionId session(std::uint8_t b) {
    SessionId s{};
    s.fill(b);
    return s;
}
}  // namespace

TEST_CASE("an answer counts only for a challenge we hold, once per session") {
    Requests r;
    CHECK(r.add(PendingKind::ping, 77, 1000) == 77);
    CHECK(r.find(78) == nullptr);
    auto* p = r.find(77);
    REQUIRE(p);
    CHECK(p->kind == PendingKind::ping);
    CHECK(p->first_answer("bob", session(1)));
    CHECK_FALSE(p->first_answer("bob", session(1)));
    CHECK(p->first_answer("bob", session(2)));
    CHECK(p->first_answer("carol", session(1)));
    CHECK_FALSE(r.find(77)->first_answer("carol", session(1)));
}

TEST_CASE("a request is forgotten once its lifetime is over") {
    Requests r;
    r.add(PendingKind::user_list, 1, 1000);
    r.add(PendingKind::probe, 2, 5000);
    r.expire(1000 + Requests::kLifetime - 1);
    CHECK(r.find(1));
    r.expire(1000 + Requests::kLifetime);
    CHECK(r.find(1) == nullptr);
    CHECK(r.find(2));
    CHECK(r.size() == 1);
}

TEST_CASE("at the bound, expired requests go first, then the lowest challenge") {
    Requests r;
    for (std::uint64_t n = 1; n <= Requests::kMaxPending; ++n) r.add(PendingKind::probe, n, n == 5 ? 0 : 100000);
    CHECK(r.size() == Requests::kMaxPending);
    // Challenge 5 is past its lifetime by now: it makes the room.
    r.add(PendingKind::ping, 5000, Requests::kLifetime + 1);
    CHECK(r.size() == Requests::kMaxPending);
    CHECK(r.find(5) == nullptr);
    CHECK(r.find(1));
    // Nothing has expired: the lowest challenge makes the room.
    r.add(PendingKind::ping, 6000, Requests::kLifetime + 2);
    CHECK(r.size() == Requests::kMaxPending);
    CHECK(r.find(1) == nullptr);
    CHECK(r.find(2));
    CHECK(r.find(6000));
}
