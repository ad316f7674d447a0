#include "sim/crypto.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>
#include <cstring>

namespace dc::sim {

namespace {
Signature fast_signature(ByteView pk, ByteView msg) {
    std::uint64_t h = hash_bytes(msg, hash_bytes(pk, 0x5349474e));
    Signature sig{};
    for (std::size_t w = 0; w < 8; ++w) {
        std::uint64_t v = mix64(h + w * 0x9e3779b97f4a7c15ULL);
        std::memcpy(sig.data() + 8 * w, &v, 8);
    }
    return sig;
}
}  // namespace

Signature FastCrypto::sign(const SecretKey& sk, ByteView msg) {
    ++signs;
    // A libsodium Ed25519 secret key is seed || public key.
    return fast_signature(ByteView(sk.data() + 32, 32), msg);
}

bool FastCrypto::verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    ++verifies;
    return fast_signature(pk, msg) == sig;
}

KxPublicKey FastCrypto::kx_public(const KxSecretKey& sk) {
    std::uint64_t h = hash_bytes(sk, 0x4b58);
    KxPublicKey pk{};
    for (std::size_t w = 0; w < 4; ++w) {
        std::uint64_t v = mix64(h + w * 0x9e3779b97f4a7c15ULL);
        std::memcpy(pk.data() + 8 * w, &v, 8);
    }
    return pk;
}

namespace {
constexpr std::size_t kFastSealOverhead = 48;
void seal_tag(ByteView msg, const KxPublicKey& to, std::uint8_t* out) {
    std::uint64_t h = hash_bytes(msg, hash_bytes(to, 0x5345414c));
    for (std::size_t w = 0; w < kFastSealOverhead / 8; ++w) {
        std::uint64_t v = mix64(h + w * 0x9e3779b97f4a7c15ULL);
        std::memcpy(out + 8 * w, &v, 8);
    }
}
}  // namespace

Bytes FastCrypto::seal(ByteView msg, const KxPublicKey& to) {
    ++seals;
    Bytes out(kFastSealOverhead + msg.size());
    seal_tag(msg, to, out.data());
    std::copy(msg.begin(), msg.end(), out.begin() + kFastSealOverhead);
    return out;
}

std::optional<Bytes> FastCrypto::open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) {
    ++opens;
    if (sealed.size() < kFastSealOverhead || kx_public(sk) != pk) return std::nullopt;
    ByteView msg = sealed.subspan(kFastSealOverhead);
    std::uint8_t tag[kFastSealOverhead];
    seal_tag(msg, pk, tag);
    if (std::memcmp(tag, sealed.data(), kFastSealOverhead) != 0) return std::nullopt;
    return Bytes(msg.begin(), msg.end());
}


void FastCrypto::random(std::span<std::uint8_t> out) { rng_.fill(out.data(), out.size()); }

Signature CountingCrypto::sign(const SecretKey& sk, ByteView msg) {
    ++signs;
    return core::real_crypto().sign(sk, msg);
}

bool CountingCrypto::verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    ++verifies;
    return core::real_crypto().verify(pk, msg, sig);
}

Bytes CountingCrypto::seal(ByteView msg, const KxPublicKey& to) {
    ++seals;
    return core::real_crypto().seal(msg, to);
}

std::optional<Bytes> CountingCrypto::open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) {
    ++opens;
    return core::real_crypto().open(sealed, pk, sk);
}

void CountingCrypto::random(std::span<std::uint8_t> out) { rng_.fill(out.data(), out.size()); }

std::unique_ptr<core::Crypto> make_crypto(CryptoKind kind, std::uint64_t seed) {
    if (kind == CryptoKind::fast) return std::make_unique<FastCrypto>(mix64(seed ^ 0x43525950ULL));
    return std::make_unique<CountingCrypto>(mix64(seed ^ 0x43525950ULL));
}

}  // namespace dc::sim
