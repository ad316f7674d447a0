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
// Anonymous sealed box (libsodium crypto_box_seal): only the holder of the secret
// key can open it; a fresh ephemeral sender key is used for every message.
Bytes seal(ByteView msg, const KxPublicKey& to);
std::optional<Bytes> open_sealed(ByteView sealed, const KxKeyPair& keys);
inline constexpr std::size_t kSealOverhead = 48;

// Ed25519 detached signature over msg.
Signature sign(const SecretKey& sk, ByteView msg);
bool verify(const PublicKey& pk, ByteView msg, const Signature& sig);
void random_bytes(std::span<std::uint8_t> out);
// Short human-readable fingerprint of a public key ("ab12 cd34 ef56 7890").
std::string fingerprint(const PublicKey& pk);
// Overwrites memory in a way the compiler may not optimise away.
void wipe(std::span<std::uint8_t> secret);

}  // namespace dc::crypto
