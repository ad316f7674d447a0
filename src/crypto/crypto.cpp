#include "darkchat/crypto.hpp"

#include <sodium.h>

#include <cstdio>

namespace dc::crypto {

Result<void> init() {
    if (sodium_init() < 0) return err("libsodium could not be initialised");
    return {};
}

KeyPair generate_identity() {
    KeyPair kp;
    crypto_sign_ed25519_keypair(kp.pk.data(), kp.sk.data());
    return kp;
}

KeyPair identity_from_seed(std::span<const std::uint8_t, 32> seed) {
    KeyPair kp;
    crypto_sign_ed25519_seed_keypair(kp.pk.data(), kp.sk.data(), seed.data());
    return kp;
}

KxPublicKey kx_public(const KxSecretKey& sk) {
    KxPublicKey pk{};
    crypto_scalarmult_curve25519_base(pk.data(), sk.data());
    return pk;
}

Bytes seal(ByteView msg, const KxPublicKey& to) {
    static_assert(kSealOverhead == crypto_box_SEALBYTES);
    Bytes out(msg.size() + crypto_box_SEALBYTES);
    crypto_box_seal(out.data(), msg.data(), msg.size(), to.data());
    return out;
}

std::optional<Bytes> open_sealed(ByteView sealed, const KxKeyPair& keys) {
    if (sealed.size() < crypto_box_SEALBYTES) return std::nullopt;
    Bytes out(sealed.size() - crypto_box_SEALBYTES);
    if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), keys.pk.data(), keys.sk.data()) != 0)
        return std::nullopt;
    return out;
}

Signature sign(const SecretKey& sk, ByteView msg) {
    Signature sig{};
    crypto_sign_ed25519_detached(sig.data(), nullptr, msg.data(), msg.size(), sk.data());
    return sig;
}

bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    return crypto_sign_ed25519_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
}

void random_bytes(std::span<std::uint8_t> out) { randombytes_buf(out.data(), out.size()); }

std::string fingerprint(const PublicKey& pk) {
    // The first 8 bytes of BLAKE2b(pk), as four groups of four hex digits.
    std::uint8_t h[16];
    crypto_generichash(h, sizeof h, pk.data(), pk.size(), nullptr, 0);
    std::string s;
    char buf[8];
    for (int i = 0; i < 8; i += 2) {
        if (!s.empty()) s += ' ';
        std::snprintf(buf, sizeof buf, "%02x%02x", h[i], h[i + 1]);
        s += buf;
    }
    return s;
}

void wipe(std::span<std::uint8_t> secret) { sodium_memzero(secret.data(), secret.size()); }

}  // namespace dc::crypto
