// This session's short-lived sealing keys alone: rotation, the previous key
// kept for one period, telling a session our new key once, time passed in.
#include "core/sealing_keys.hpp"

#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

using namespace dc;
using core::SealingKeys;

namespace {
// Real X25519; random bytes from a counter, so keys differ and the test replays.
struct CounterCrypto final : core::Crypto {
    std::uint8_t next = 1;
    Signature sign(const SecretKey&, ByteView) override { return {}; }
    bool verify(const PublicKey&, ByteView, const Signature&) override { return false; }
    void random(std::span<std::uint8_t> out) override {
        for (auto& b : out) b = next;
        ++next;
    }
};
SessionId session(std::uint8_t b) {
    SessionId s{};
    s.fill(b);
    return s;
}
}  // namespace

TEST_CASE("a rotation keeps the key before for one period, then forgets it") {
    CounterCrypto cr;
    SealingKeys k(cr);
    k.rotate(0, 1000);
    auto first = k.current();
    CHECK(first.pk == crypto::kx_public(first.sk));
    CHECK(k.find(first.pk) == &k.current());
    CHECK_FALSE(k.due(999));
    CHECK(k.due(1000));
    CHECK(k.next_rotation() == 1000);

    k.rotate(1000, 1000);
    auto second = k.current();
    CHECK(second.pk != first.pk);
    REQUIRE(k.find(first.pk));
    CHECK(k.find(first.pk)->sk == first.sk);  // still opens what was sealed to it
    CHECK(k.find(second.pk) == &k.current());

    k.rotate(2000, 1000);
    CHECK(k.find(first.pk) == nullptr);
    CHECK(k.find(second.pk));
    CHECK(k.find(KxPublicKey{}) == nullptr);
}

TEST_CASE("a session that used an old key is told our current one once per key") {
    CounterCrypto cr;
    SealingKeys k(cr);
    k.rotate(0, 1000);
    CHECK(k.tell(session(1)));
    CHECK_FALSE(k.tell(session(1)));
    CHECK(k.tell(session(2)));
    k.rotate(1000, 1000);
    CHECK(k.tell(session(1)));  // a new key is news again
    CHECK_FALSE(k.tell(session(1)));
}
