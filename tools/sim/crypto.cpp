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

namespace {
// n bytes of a stream keyed by seed, written to out.
void fast_stream(std::uint64_t seed, std::uint8_t* out, std::size_t n) {
    for (std::size_t w = 0; w * 8 < n; ++w) {
        const std::uint64_t v = mix64(seed + w * 0x9e3779b97f4a7c15ULL);
        std::memcpy(out + 8 * w, &v, std::min<std::size_t>(8, n - 8 * w));
    }
}

std::uint64_t fast_aead_key(const core::SymmetricKey& key, std::uint64_t counter) {
    return mix64(hash_bytes(key, 0x41454144) ^ mix64(counter));
}

void fast_tag(std::uint64_t k, ByteView ad, ByteView cipher, std::uint8_t* out) {
    const std::uint64_t h = hash_bytes(cipher, hash_bytes(ad, k));
    fast_stream(h, out, 16);
}
}  // namespace

std::optional<core::SymmetricKey> FastCrypto::agree(const KxSecretKey& sk, const KxPublicKey& pk) {
    ++agreements;
    const KxPublicKey own = kx_public(sk);
    const KxPublicKey& lo = std::min(own, pk);
    const KxPublicKey& hi = std::max(own, pk);
    core::SymmetricKey shared{};
    fast_stream(hash_bytes(hi, hash_bytes(lo, 0x4448)), shared.data(), shared.size());
    return shared;
}

void FastCrypto::aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                           const core::SymmetricKey& key) {
    ++aead_seals;
    const std::uint64_t k = fast_aead_key(key, counter);
    const std::size_t n = msg.size();
    Bytes stream(n);
    fast_stream(k, stream.data(), n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(msg[i] ^ stream[i]);
    fast_tag(k, ad, ByteView(out, n), out + n);
}

bool FastCrypto::aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                           const core::SymmetricKey& key) {
    ++aead_opens;
    if (sealed.size() < 16) return false;
    const std::uint64_t k = fast_aead_key(key, counter);
    const std::size_t n = sealed.size() - 16;
    std::uint8_t tag[16];
    fast_tag(k, ad, sealed.first(n), tag);
    if (std::memcmp(tag, sealed.data() + n, 16) != 0) return false;
    Bytes stream(n);
    fast_stream(k, stream.data(), n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(sealed[i] ^ stream[i]);
    return true;
}

void FastCrypto::hash(std::span<std::uint8_t> out, ByteView key, ByteView in) {
    ++hashes;
    fast_stream(hash_bytes(in, hash_bytes(key, 0x48415348 + out.size())), out.data(), out.size());
}

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

std::optional<core::SymmetricKey> CountingCrypto::agree(const KxSecretKey& sk, const KxPublicKey& pk) {
    ++agreements;
    return core::real_crypto().agree(sk, pk);
}

void CountingCrypto::aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                               const core::SymmetricKey& key) {
    ++aead_seals;
    core::real_crypto().aead_seal(out, msg, ad, counter, key);
}

bool CountingCrypto::aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                               const core::SymmetricKey& key) {
    ++aead_opens;
    return core::real_crypto().aead_open(out, sealed, ad, counter, key);
}

void CountingCrypto::hash(std::span<std::uint8_t> out, ByteView key, ByteView in) {
    ++hashes;
    core::real_crypto().hash(out, key, in);
}

std::unique_ptr<core::Crypto> make_crypto(CryptoKind kind, std::uint64_t seed) {
    if (kind == CryptoKind::fast) return std::make_unique<FastCrypto>(mix64(seed ^ 0x43525950ULL));
    return std::make_unique<CountingCrypto>(mix64(seed ^ 0x43525950ULL));
}

}  // namespace dc::sim
