#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <set>

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

TEST_CASE("random draws never repeat, across refills of the pool and for large draws") {
    REQUIRE(dc::crypto::init().ok());
    std::set<std::array<std::uint8_t, 16>> ids;
    for (int i = 0; i < 1000; ++i) {  // many times the pool
        std::array<std::uint8_t, 16> id{};
        dc::crypto::random_bytes(id);
        CHECK(ids.insert(id).second);
    }
    std::array<std::uint8_t, 5000> big{}, big2{};  // past the pool: straight from the kernel
    dc::crypto::random_bytes(big);
    dc::crypto::random_bytes(big2);
    CHECK(big != big2);
    CHECK(std::count(big.begin(), big.end(), 0) < 100);
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

namespace {

// Small limits keep the tests fast; the format is the same as with the defaults.
constexpr crypto::PwhashLimits kFast{1, 64 * 1024};

Bytes secret_bytes() {
    Bytes s(64);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return s;
}

Bytes seal_ok(ByteView secret, std::string_view passphrase, crypto::PwhashLimits limits = kFast) {
    auto r = crypto::seal_secret(secret, passphrase, limits);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error()));
    return std::move(r).value();
}

}  // namespace

TEST_CASE("a sealed secret opens with its passphrase and with no other") {
    REQUIRE(crypto::init());
    Bytes secret = secret_bytes();
    Bytes blob = seal_ok(secret, "correct horse");
    CHECK(blob.size() == secret.size() + crypto::kSealedSecretOverhead);
    CHECK(std::search(blob.begin(), blob.end(), secret.begin(), secret.begin() + 16) == blob.end());

    auto opened = crypto::open_secret(blob, "correct horse");
    REQUIRE(opened.has_value());
    CHECK(*opened == secret);
    CHECK_FALSE(crypto::open_secret(blob, "correct horsE").has_value());
    CHECK_FALSE(crypto::open_secret(blob, "").has_value());
    CHECK_FALSE(crypto::open_secret(blob, "correct horse ").has_value());

    // The empty passphrase and the empty secret are values like any other.
    Bytes empty_pw = seal_ok(secret, "");
    CHECK(crypto::open_secret(empty_pw, "") == std::optional<Bytes>(secret));
    Bytes nothing = seal_ok(Bytes{}, "pw");
    CHECK(nothing.size() == crypto::kSealedSecretOverhead);
    auto none = crypto::open_secret(nothing, "pw");
    REQUIRE(none.has_value());
    CHECK(none->empty());
}

TEST_CASE("sealing twice gives different blobs (random salt and nonce)") {
    REQUIRE(crypto::init());
    Bytes secret = secret_bytes();
    Bytes a = seal_ok(secret, "pw");
    Bytes b = seal_ok(secret, "pw");
    CHECK(a != b);
    CHECK(!std::equal(a.begin() + 18, a.begin() + 34, b.begin() + 18));  // salts differ
    CHECK(!std::equal(a.begin() + 34, a.begin() + 58, b.begin() + 34));  // nonces differ
    CHECK(crypto::open_secret(a, "pw") == std::optional<Bytes>(secret));
    CHECK(crypto::open_secret(b, "pw") == std::optional<Bytes>(secret));
}

TEST_CASE("a sealed secret records its format, algorithm and limits") {
    REQUIRE(crypto::init());
    Bytes secret = secret_bytes();

    SUBCASE("the defaults are Argon2id's interactive limits") {
        auto d = crypto::interactive_limits();
        CHECK(d.opslimit == 2);
        CHECK(d.memlimit == 64u * 1024 * 1024);
        auto r = crypto::seal_secret(secret, "pw");
        REQUIRE(r.ok());
        const Bytes& blob = *r;
        CHECK(blob[0] == 1);  // format
        CHECK(blob[1] == 2);  // crypto_pwhash_ALG_ARGON2ID13
        auto limits = crypto::sealed_secret_limits(blob);
        REQUIRE(limits.ok());
        CHECK(limits->opslimit == d.opslimit);
        CHECK(limits->memlimit == d.memlimit);
        CHECK(crypto::open_secret(blob, "pw") == std::optional<Bytes>(secret));
    }
    SUBCASE("other limits are stored big endian and used to open") {
        Bytes blob = seal_ok(secret, "pw", {3, 128 * 1024});
        CHECK(Bytes(blob.begin() + 2, blob.begin() + 10) == Bytes{0, 0, 0, 0, 0, 0, 0, 3});
        CHECK(Bytes(blob.begin() + 10, blob.begin() + 18) == Bytes{0, 0, 0, 0, 0, 2, 0, 0});
        auto limits = crypto::sealed_secret_limits(blob);
        REQUIRE(limits.ok());
        CHECK(limits->opslimit == 3);
        CHECK(limits->memlimit == 128 * 1024);
        CHECK(crypto::open_secret(blob, "pw") == std::optional<Bytes>(secret));
        // The limits are part of what the passphrase is checked against.
        blob[9] = 2;
        CHECK(crypto::sealed_secret_limits(blob).ok());
        CHECK_FALSE(crypto::open_secret(blob, "pw").has_value());
    }
    SUBCASE("limits out of range are refused when sealing") {
        auto zero = crypto::seal_secret(secret, "pw", {0, 64 * 1024});
        REQUIRE_FALSE(zero.ok());
        CHECK(zero.error() == "key derivation limits out of range");
        CHECK_FALSE(crypto::seal_secret(secret, "pw", {65, 64 * 1024}).ok());
        CHECK_FALSE(crypto::seal_secret(secret, "pw", {1, 1024}).ok());
        CHECK_FALSE(crypto::seal_secret(secret, "pw", {1, (std::uint64_t{4} << 30) + 1}).ok());
    }
}

TEST_CASE("an altered or damaged sealed secret does not open") {
    REQUIRE(crypto::init());
    Bytes secret = secret_bytes();
    const Bytes blob = seal_ok(secret, "pw");

    // Any flipped bit in the salt, nonce or box makes it fail authentication.
    for (std::size_t i : {std::size_t{18}, std::size_t{40}, std::size_t{60}, blob.size() - 1}) {
        Bytes bad = blob;
        bad[i] ^= 0x01;
        CHECK(crypto::sealed_secret_limits(bad).ok());
        CHECK_FALSE(crypto::open_secret(bad, "pw").has_value());
    }

    Bytes truncated(blob.begin(), blob.begin() + crypto::kSealedSecretOverhead - 1);
    auto t = crypto::sealed_secret_limits(truncated);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error() == "the sealed secret is truncated");
    CHECK_FALSE(crypto::open_secret(truncated, "pw").has_value());
    CHECK_FALSE(crypto::open_secret(Bytes{}, "pw").has_value());

    Bytes newer = blob;
    newer[0] = 2;
    auto n = crypto::sealed_secret_limits(newer);
    REQUIRE_FALSE(n.ok());
    CHECK(n.error() == "the sealed secret is in format 2, not 1 (sealed by a newer darkchat?)");
    CHECK_FALSE(crypto::open_secret(newer, "pw").has_value());

    Bytes unknown_alg = blob;
    unknown_alg[1] = 9;
    auto u = crypto::sealed_secret_limits(unknown_alg);
    REQUIRE_FALSE(u.ok());
    CHECK(u.error() == "the sealed secret names an unknown key derivation (algorithm 9)");

    // A damaged limit must not make opening take hours or gigabytes.
    Bytes huge = blob;
    huge[2] = 0x80;
    auto h = crypto::sealed_secret_limits(huge);
    REQUIRE_FALSE(h.ok());
    CHECK(h.error() == "the sealed secret's key derivation limits are out of range");
    CHECK_FALSE(crypto::open_secret(huge, "pw").has_value());
}

TEST_CASE("BLAKE2b given in pieces equals BLAKE2b of the whole, and differs when one byte does") {
    REQUIRE(crypto::init());
    Bytes data(10000);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    std::array<std::uint8_t, 32> whole{};
    crypto::keyed_hash(whole, {}, data);

    crypto::Blake2b pieces;
    const ByteView v(data);
    pieces.update(v.subspan(0, 1));
    pieces.update(v.subspan(1, 4095));
    pieces.update(v.subspan(4096, 0));
    pieces.update(v.subspan(4096));
    std::array<std::uint8_t, 32> got{};
    pieces.final(got);
    CHECK(got == whole);

    data[5000] ^= 1;
    crypto::Blake2b changed;
    changed.update(data);
    std::array<std::uint8_t, 32> other{};
    changed.final(other);
    CHECK(other != whole);
}
