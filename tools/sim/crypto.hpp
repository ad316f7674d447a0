// The crypto of simulated nodes: real libsodium, or a cheap stand-in for big
// runs; either way random() comes from the seed, so runs replay.
#pragma once

#include "sim/net.hpp"

#include <memory>

namespace dc::sim {

// What a simulated node's crypto did, for the figures of a run.
struct CryptoCounts {
    std::uint64_t signs = 0;
    std::uint64_t verifies = 0;
    std::uint64_t seals = 0;
    std::uint64_t opens = 0;
    std::uint64_t agreements = 0;  // X25519 (channel handshakes)
    std::uint64_t aead_seals = 0;  // channel packets sealed
    std::uint64_t aead_opens = 0;  // channel packets opened (or tried)
    std::uint64_t hashes = 0;      // key derivations' hashes
};

// A cheap stand-in for libsodium in big runs. The "signature" is a keyed hash
// of the message under the public key (the second half of a libsodium secret
// key), so verify() recomputes it from the public key and the message; a
// "sealed box" is the message behind 48 bytes (crypto_box_seal's overhead)
// holding a hash keyed by the recipient's key. It catches corruption and
// wrong keys, not forgery: the simulated network has no adversary.
// An agreement is a hash of both public keys (the own one made from the secret), so
// both sides get the same value and any other key gives another; the AEAD XORs a
// keystream made from the key and counter and appends a 16-byte keyed hash of the
// prefix, counter and ciphertext, so a wrong key, counter or any flipped bit fails.
// random() comes from the seed, so runs replay.
class FastCrypto final : public core::Crypto, public CryptoCounts {
public:
    explicit FastCrypto(std::uint64_t seed) : rng_(seed) {}
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    KxPublicKey kx_public(const KxSecretKey& sk) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    std::optional<core::SymmetricKey> agree(const KxSecretKey& sk, const KxPublicKey& pk) override;
    void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                   const core::SymmetricKey& key) override;
    bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                   const core::SymmetricKey& key) override;
    void hash(std::span<std::uint8_t> out, ByteView key, ByteView in) override;

private:
    Rng rng_;
};

// libsodium (core::real_crypto()), counted; random() comes from the seed. The
// sealed boxes still use libsodium's own ephemeral keys, so their bytes (not
// the run) differ from one run to the next.
class CountingCrypto final : public core::Crypto, public CryptoCounts {
public:
    explicit CountingCrypto(std::uint64_t seed) : rng_(seed) {}
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    std::optional<core::SymmetricKey> agree(const KxSecretKey& sk, const KxPublicKey& pk) override;
    void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                   const core::SymmetricKey& key) override;
    bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                   const core::SymmetricKey& key) override;
    void hash(std::span<std::uint8_t> out, ByteView key, ByteView in) override;

private:
    Rng rng_;
};

enum class CryptoKind { fast, real };

// The crypto of that kind, its random numbers from the seed.
std::unique_ptr<core::Crypto> make_crypto(CryptoKind kind, std::uint64_t seed);

}  // namespace dc::sim
