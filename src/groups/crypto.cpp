// The group machine's cryptography on libsodium (through dc_crypto).

#include "darkchat/crypto.hpp"
#include "darkchat/groups.hpp"

namespace dc::groups {

Signature SodiumCrypto::sign(const SecretKey& sk, ByteView msg) { return crypto::sign(sk, msg); }
bool SodiumCrypto::verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    return crypto::verify(pk, msg, sig);
}
KxPublicKey SodiumCrypto::kx_public(const KxSecretKey& sk) { return crypto::kx_public(sk); }
Bytes SodiumCrypto::seal(ByteView msg, const KxPublicKey& to) { return crypto::seal(msg, to); }
std::optional<Bytes> SodiumCrypto::open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) {
    return crypto::open_sealed(sealed, crypto::KxKeyPair{pk, sk});
}
void SodiumCrypto::random(std::span<std::uint8_t> out) { crypto::random_bytes(out); }
void SodiumCrypto::aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                             const GroupKey& key) {
    crypto::aead_seal(out, msg, ad, counter, key);
}
bool SodiumCrypto::aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                             const GroupKey& key) {
    return crypto::aead_open(out, sealed, ad, counter, key);
}
void SodiumCrypto::hash(std::span<std::uint8_t> out, ByteView key, ByteView in) { crypto::keyed_hash(out, key, in); }

}  // namespace dc::groups
