// Key trust alone: pinning on first use, other keys remembered, \trust.
#include "core/trust.hpp"

#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

using namespace dc;

namespace {
PublicKey key(std::uint8_t b) {
    PublicKey k{};
    k.fill(b);
    return k;
}
}  // namespace

TEST_CASE("an unpinned name takes any key; a pinned one only its own, and remembers the other") {
    core::Trust t;
    CHECK(t.key_ok(nullptr, "alice", key(1), 0));
    PublicKey pinned = key(1);
    CHECK(t.key_ok(&pinned, "alice", key(1), 0));
    CHECK(t.other_key("alice") == nullptr);
    CHECK_FALSE(t.key_ok(&pinned, "alice", key(2), 10));
    REQUIRE(t.other_key("alice"));
    CHECK(*t.other_key("alice") == key(2));
    CHECK_FALSE(t.key_ok(&pinned, "alice", key(3), 20));
    CHECK(*t.other_key("alice") == key(3));  // the newest other key
}

TEST_CASE("an untrusted key warns once, and each of its messages is shown once") {
    core::Trust t;
    MessageId m1{}, m2{};
    m1[0] = 1;
    m2[0] = 2;
    auto a = t.untrusted_message("alice", key(2), m1, 0);
    CHECK(a.warn);
    CHECK(a.show);
    auto b = t.untrusted_message("alice", key(2), m1, 5);
    CHECK_FALSE(b.warn);
    CHECK_FALSE(b.show);
    auto c = t.untrusted_message("alice", key(2), m2, 6);
    CHECK_FALSE(c.warn);
    CHECK(c.show);
    auto d = t.untrusted_message("alice", key(3), MessageId{}, 7);  // yet another key warns again
    CHECK(d.warn);
}

TEST_CASE("\\trust takes the other key only with its fingerprint, spaces or not, and only once") {
    core::Trust t;
    CHECK_FALSE(t.accept("alice", "whatever", true));  // nothing seen
    PublicKey pinned = key(1);
    CHECK_FALSE(t.key_ok(&pinned, "alice", key(2), 0));
    auto fp = crypto::fingerprint(key(2));
    CHECK_FALSE(t.accept("alice", fp, false));  // a user we do not know
    auto wrong = t.accept("alice", crypto::fingerprint(key(3)), true);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().find("not the fingerprint") != std::string::npos);
    std::string squeezed = fp;
    std::erase(squeezed, ' ');
    auto ok = t.accept("alice", squeezed, true);
    REQUIRE(ok);
    CHECK(*ok == key(2));
    CHECK(t.other_key("alice") == nullptr);
    CHECK_FALSE(t.accept("alice", fp, true));
}

TEST_CASE("other keys are remembered for a bounded number of names, the stalest forgotten first") {
    core::Trust t;
    PublicKey pinned = key(1);
    for (int i = 0; i < 300; ++i) CHECK_FALSE(t.key_ok(&pinned, "u" + std::to_string(i), key(2), i));
    CHECK(t.other_key("u0") == nullptr);
    CHECK(t.other_key("u299") != nullptr);
}
