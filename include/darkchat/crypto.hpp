// Identities and signatures (libsodium). Only src/crypto includes <sodium.h>.
#pragma once

#include "darkchat/types.hpp"

namespace dc::crypto {

// Must be called once before anything else here; safe to call repeatedly.
Result<void> init();

struct KeyPair {
    PublicKey pk{};
    SecretKey sk{};
};

KeyPair generate_identity();
// The same key pair for the same 32-byte seed (simulations, tests).
KeyPair identity_from_seed(std::span<const std::uint8_t, 32> seed);
struct KxKeyPair {
    KxPublicKey pk{};
    KxSecretKey sk{};
};
// The X25519 public key of a secret key (any 32 random bytes make a secret key).
KxPublicKey kx_public(const KxSecretKey& sk);
// The X25519 key pair of an Ed25519 identity (libsodium's birational map), so that a
// peer can seal to us knowing only our identity key (file transfer keys,
// darkchat-protocol(7), FILES). none: pk is not a valid Ed25519 point.
std::optional<KxPublicKey> kx_of_identity(const PublicKey& pk);
KxSecretKey kx_secret_of_identity(const SecretKey& sk);
// Anonymous sealed box (libsodium crypto_box_seal): only the holder of the secret
// key can open it; a fresh ephemeral sender key is used for every message.
Bytes seal(ByteView msg, const KxPublicKey& to);
std::optional<Bytes> open_sealed(ByteView sealed, const KxKeyPair& keys);
inline constexpr std::size_t kSealOverhead = 48;

// Session channels (core/channel.hpp).
// X25519: the shared secret of sk and pk; none when pk is a low-order point (the
// result would be all zero, known to anyone).
std::optional<std::array<std::uint8_t, 32>> x25519(const KxSecretKey& sk, const KxPublicKey& pk);
// ChaCha20-Poly1305 (IETF) with a 96-bit nonce made of four zero bytes and the counter
// (little endian). seal writes msg.size() + kAeadTag bytes to out; open writes
// sealed.size() - kAeadTag bytes and fails on a wrong key, counter or any changed bit
// of sealed or ad. out may be the same memory as the input.
inline constexpr std::size_t kAeadTag = 16;
void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
               const std::array<std::uint8_t, 32>& key);
bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
               const std::array<std::uint8_t, 32>& key);
// BLAKE2b of in under key (0 to 64 bytes), out.size() from 16 to 64 bytes.
void keyed_hash(std::span<std::uint8_t> out, ByteView key, ByteView in);

// BLAKE2b over input given in pieces (a file read chunk by chunk); final() gives the
// same bytes as keyed_hash with an empty key over the whole input. out_len from 16 to 64.
class Blake2b {
public:
    explicit Blake2b(std::size_t out_len = 32);
    void update(ByteView in);
    // out.size() is the out_len given at construction; the hash is done with after it.
    void final(std::span<std::uint8_t> out);

private:
    alignas(64) std::array<std::uint8_t, 384> state_{};  // libsodium's crypto_generichash_state
    std::size_t out_len_;
};

// Ed25519 detached signature over msg.
Signature sign(const SecretKey& sk, ByteView msg);
bool verify(const PublicKey& pk, ByteView msg, const Signature& sig);
void random_bytes(std::span<std::uint8_t> out);
// Short human-readable fingerprint of a public key ("ab12 cd34 ef56 7890").
std::string fingerprint(const PublicKey& pk);
// Overwrites memory in a way the compiler may not optimise away.
void wipe(std::span<std::uint8_t> secret);

// Secrets at rest, sealed with a passphrase. crypto_pwhash (Argon2id) derives a
// key from the passphrase and a random salt; crypto_secretbox (XSalsa20-Poly1305)
// seals the secret under that key with a random nonce. The blob records the
// algorithm and limits it was made with, so later versions may raise them and
// still open old blobs:
//
//   format 1 (1 byte) | algorithm (1) | opslimit (8, big endian) |
//   memlimit (8, big endian) | salt (16) | nonce (24) | secretbox (secret + 16)
struct PwhashLimits {
    std::uint64_t opslimit = 0;  // passes over the memory
    std::uint64_t memlimit = 0;  // bytes
};
// Argon2id's interactive limits (2 passes over 64 MiB), the default.
PwhashLimits interactive_limits();
inline constexpr std::size_t kSealedSecretOverhead = 74;

// Fails only when the limits are out of range (at most 64 passes and 4 GiB) or
// memory runs out.
Result<Bytes> seal_secret(ByteView secret, std::string_view passphrase);
Result<Bytes> seal_secret(ByteView secret, std::string_view passphrase, PwhashLimits limits);
// The secret, or nothing when the passphrase is wrong or the blob was altered.
// The caller wipes the secret when done with it.
std::optional<Bytes> open_secret(ByteView blob, std::string_view passphrase);
// The limits a blob was sealed with, or why no passphrase can open it (damaged,
// or sealed by a newer darkchat). Cheap: derives no key.
Result<PwhashLimits> sealed_secret_limits(ByteView blob);

}  // namespace dc::crypto
