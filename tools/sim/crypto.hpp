// The crypto of simulated nodes: real libsodium, or a cheap stand-in for big
// runs; either way random() comes from the seed, so runs replay.
#pragma once

#include "sim/net.hpp"

#include <memory>

namespace dc::sim {

// A cheap stand-in for libsodium in big runs. The "signature" is a keyed hash
// of the message under the public key (the second half of a libsodium secret
// key), so verify() recomputes it from the public key and the message; a
// "sealed box" is the message behind 48 bytes (crypto_box_seal's overhead)
// holding a hash keyed by the recipient's key. It catches corruption and
// wrong keys, not forgery: the simulated network has no adversary.
// random() comes from the seed, so runs replay.
class FastCrypto final : public core::Crypto {
public:
    explicit FastCrypto(std::uint64_t seed) : rng_(seed) {}
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    KxPublicKey kx_public(const KxSecretKey& sk) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    std::uint64_t signs = 0;
    std::uint64_t verifies = 0;
    std::uint64_t seals = 0;
    std::uint64_t opens = 0;

private:
    Rng rng_;
};

// libsodium (core::real_crypto()), counted; random() comes from the seed. The
// sealed boxes still use libsodium's own ephemeral keys, so their bytes (not
// the run) differ from one run to the next.
class CountingCrypto final : public core::Crypto {
public:
    explicit CountingCrypto(std::uint64_t seed) : rng_(seed) {}
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    std::uint64_t signs = 0;
    std::uint64_t verifies = 0;
    std::uint64_t seals = 0;
    std::uint64_t opens = 0;

private:
    Rng rng_;
};

enum class CryptoKind { fast, real };

// The crypto of that kind, its random numbers from the seed.
std::unique_ptr<core::Crypto> make_crypto(CryptoKind kind, std::uint64_t seed);

}  // namespace dc::sim
