#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

using namespace dc;

TEST_CASE("signatures verify only for the right key and message") {
    REQUIRE(crypto::init());
    auto a = crypto::generate_identity();
    auto b = crypto::generate_identity();
    CHECK(a.pk != b.pk);
    Bytes msg{'h', 'i'};
    auto sig = crypto::sign(a.sk, msg);
    CHECK(crypto::verify(a.pk, msg, sig));
    CHECK_FALSE(crypto::verify(b.pk, msg, sig));
    msg[0] ^= 1;
    CHECK_FALSE(crypto::verify(a.pk, msg, sig));
}

TEST_CASE("fingerprints are short, stable and differ between keys") {
    REQUIRE(crypto::init());
    auto a = crypto::generate_identity();
    auto b = crypto::generate_identity();
    auto fa = crypto::fingerprint(a.pk);
    CHECK(fa.size() == 19);
    CHECK(fa == crypto::fingerprint(a.pk));
    CHECK(fa != crypto::fingerprint(b.pk));
}

TEST_CASE("a seed gives the same identity every time") {
    REQUIRE(crypto::init());
    std::array<std::uint8_t, 32> seed{};
    seed[0] = 42;
    auto a = crypto::identity_from_seed(seed);
    auto b = crypto::identity_from_seed(seed);
    CHECK(a.pk == b.pk);
    CHECK(a.sk == b.sk);
    seed[1] = 1;
    CHECK(crypto::identity_from_seed(seed).pk != a.pk);
}
