#include "darkchat/crypto.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>

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

std::optional<KxPublicKey> kx_of_identity(const PublicKey& pk) {
    KxPublicKey out{};
    if (crypto_sign_ed25519_pk_to_curve25519(out.data(), pk.data()) != 0) return std::nullopt;
    return out;
}

KxSecretKey kx_secret_of_identity(const SecretKey& sk) {
    KxSecretKey out{};
    crypto_sign_ed25519_sk_to_curve25519(out.data(), sk.data());
    return out;
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

std::optional<std::array<std::uint8_t, 32>> x25519(const KxSecretKey& sk, const KxPublicKey& pk) {
    std::array<std::uint8_t, 32> shared{};
    // libsodium refuses (and returns -1 for) a result that is all zero.
    if (crypto_scalarmult_curve25519(shared.data(), sk.data(), pk.data()) != 0) return std::nullopt;
    return shared;
}

namespace {
void aead_nonce(std::uint8_t (&nonce)[crypto_aead_chacha20poly1305_ietf_NPUBBYTES], std::uint64_t counter) {
    static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12);
    for (int i = 0; i < 4; ++i) nonce[i] = 0;
    for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(counter >> (8 * i));
}
}  // namespace

void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
               const std::array<std::uint8_t, 32>& key) {
    static_assert(kAeadTag == crypto_aead_chacha20poly1305_ietf_ABYTES);
    static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == 32);
    std::uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    aead_nonce(nonce, counter);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, nullptr, msg.data(), msg.size(), ad.data(), ad.size(), nullptr,
                                              nonce, key.data());
}

bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
               const std::array<std::uint8_t, 32>& key) {
    if (sealed.size() < kAeadTag) return false;
    std::uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    aead_nonce(nonce, counter);
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, nullptr, nullptr, sealed.data(), sealed.size(), ad.data(),
                                                     ad.size(), nonce, key.data()) == 0;
}

void keyed_hash(std::span<std::uint8_t> out, ByteView key, ByteView in) {
    crypto_generichash(out.data(), out.size(), in.data(), in.size(), key.empty() ? nullptr : key.data(), key.size());
}

static_assert(sizeof(crypto_generichash_state) <= 384 && alignof(crypto_generichash_state) <= 64);

Blake2b::Blake2b(std::size_t out_len) : out_len_(out_len) {
    crypto_generichash_init(reinterpret_cast<crypto_generichash_state*>(state_.data()), nullptr, 0, out_len_);
}
void Blake2b::update(ByteView in) {
    crypto_generichash_update(reinterpret_cast<crypto_generichash_state*>(state_.data()), in.data(), in.size());
}
void Blake2b::final(std::span<std::uint8_t> out) {
    crypto_generichash_final(reinterpret_cast<crypto_generichash_state*>(state_.data()), out.data(), out.size());
    sodium_memzero(state_.data(), state_.size());
}

Signature sign(const SecretKey& sk, ByteView msg) {
    Signature sig{};
    crypto_sign_ed25519_detached(sig.data(), nullptr, msg.data(), msg.size(), sk.data());
    return sig;
}

bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    return crypto_sign_ed25519_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
}

// Small draws (message ids, nonces, short-lived keys) come from a pool the
// kernel fills a block at a time, so that a message costs no system call of
// its own. What is handed out is wiped from the pool; the pool is per thread.
void random_bytes(std::span<std::uint8_t> out) {
    constexpr std::size_t kPool = 1024;
    struct Pool {
        std::array<std::uint8_t, kPool> bytes{};
        std::size_t used = kPool;
        ~Pool() { sodium_memzero(bytes.data(), bytes.size()); }
    };
    thread_local Pool pool;
    if (out.size() > kPool / 8) {
        randombytes_buf(out.data(), out.size());
        return;
    }
    if (kPool - pool.used < out.size()) {
        randombytes_buf(pool.bytes.data(), pool.bytes.size());
        pool.used = 0;
    }
    std::memcpy(out.data(), pool.bytes.data() + pool.used, out.size());
    sodium_memzero(pool.bytes.data() + pool.used, out.size());
    pool.used += out.size();
}

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

namespace {

// A key derived from a passphrase lives in guarded memory that sodium_free wipes.
struct SodiumFree {
    void operator()(std::uint8_t* p) const { sodium_free(p); }
};
using SecretBuffer = std::unique_ptr<std::uint8_t[], SodiumFree>;

constexpr std::uint8_t kSealedFormat = 1;
constexpr std::size_t kHeaderBytes = 1 + 1 + 8 + 8 + crypto_pwhash_SALTBYTES + crypto_secretbox_NONCEBYTES;
static_assert(kSealedSecretOverhead == kHeaderBytes + crypto_secretbox_MACBYTES);
static_assert(crypto_pwhash_SALTBYTES == 16 && crypto_secretbox_NONCEBYTES == 24);
// Bounds beyond libsodium's own, so that a damaged blob cannot make darkchat
// hash for hours or ask for more memory than any machine gives it.
constexpr std::uint64_t kMaxOpslimit = 64;
constexpr std::uint64_t kMaxMemlimit = std::uint64_t{4} << 30;

struct SealedParts {
    int alg = 0;
    PwhashLimits limits;
    const std::uint8_t* salt = nullptr;
    const std::uint8_t* nonce = nullptr;
    ByteView box;
};

void put_u64(std::uint8_t* out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<std::uint8_t>(v & 0xff);
}

std::uint64_t get_u64(const std::uint8_t* in) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
    return v;
}

bool limits_in_range(int alg, PwhashLimits l) {
    std::uint64_t ops_min = 0, mem_min = 0, mem_max = kMaxMemlimit;
    if (alg == crypto_pwhash_ALG_ARGON2ID13) {
        ops_min = crypto_pwhash_argon2id_OPSLIMIT_MIN;
        mem_min = crypto_pwhash_argon2id_MEMLIMIT_MIN;
        mem_max = std::min<std::uint64_t>(mem_max, crypto_pwhash_argon2id_MEMLIMIT_MAX);
    } else if (alg == crypto_pwhash_ALG_ARGON2I13) {
        ops_min = crypto_pwhash_argon2i_OPSLIMIT_MIN;
        mem_min = crypto_pwhash_argon2i_MEMLIMIT_MIN;
        mem_max = std::min<std::uint64_t>(mem_max, crypto_pwhash_argon2i_MEMLIMIT_MAX);
    } else {
        return false;
    }
    return l.opslimit >= ops_min && l.opslimit <= kMaxOpslimit && l.memlimit >= mem_min && l.memlimit <= mem_max;
}

Result<SealedParts> parse_sealed(ByteView blob) {
    if (blob.size() < kSealedSecretOverhead) return err("the sealed secret is truncated");
    const std::uint8_t* p = blob.data();
    if (p[0] != kSealedFormat) {
        return err("the sealed secret is in format " + std::to_string(p[0]) + ", not " +
                   std::to_string(kSealedFormat) + " (sealed by a newer darkchat?)");
    }
    SealedParts parts;
    parts.alg = p[1];
    if (parts.alg != crypto_pwhash_ALG_ARGON2ID13 && parts.alg != crypto_pwhash_ALG_ARGON2I13) {
        return err("the sealed secret names an unknown key derivation (algorithm " + std::to_string(parts.alg) + ")");
    }
    parts.limits.opslimit = get_u64(p + 2);
    parts.limits.memlimit = get_u64(p + 10);
    if (!limits_in_range(parts.alg, parts.limits)) return err("the sealed secret's key derivation limits are out of range");
    parts.salt = p + 18;
    parts.nonce = parts.salt + crypto_pwhash_SALTBYTES;
    parts.box = blob.subspan(kHeaderBytes);
    return parts;
}

// The secretbox key for a passphrase, or null when memory runs out.
SecretBuffer derive_key(std::string_view passphrase, const std::uint8_t* salt, int alg, PwhashLimits l) {
    SecretBuffer key(static_cast<std::uint8_t*>(sodium_malloc(crypto_secretbox_KEYBYTES)));
    if (!key) return key;
    const char* pw = passphrase.data() != nullptr ? passphrase.data() : "";
    if (crypto_pwhash(key.get(), crypto_secretbox_KEYBYTES, pw, passphrase.size(), salt, l.opslimit,
                      static_cast<std::size_t>(l.memlimit), alg) != 0) {
        key.reset();
    }
    return key;
}

}  // namespace

PwhashLimits interactive_limits() {
    return {crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE};
}

Result<Bytes> seal_secret(ByteView secret, std::string_view passphrase) {
    return seal_secret(secret, passphrase, interactive_limits());
}

Result<Bytes> seal_secret(ByteView secret, std::string_view passphrase, PwhashLimits limits) {
    constexpr int alg = crypto_pwhash_ALG_ARGON2ID13;
    if (!limits_in_range(alg, limits)) return err("key derivation limits out of range");
    Bytes out(kSealedSecretOverhead + secret.size());
    out[0] = kSealedFormat;
    out[1] = static_cast<std::uint8_t>(alg);
    put_u64(&out[2], limits.opslimit);
    put_u64(&out[10], limits.memlimit);
    std::uint8_t* salt = &out[18];
    std::uint8_t* nonce = salt + crypto_pwhash_SALTBYTES;
    randombytes_buf(salt, crypto_pwhash_SALTBYTES);
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    SecretBuffer key = derive_key(passphrase, salt, alg, limits);
    if (!key) return err("out of memory deriving a key from the passphrase");
    crypto_secretbox_easy(&out[kHeaderBytes], secret.data(), secret.size(), nonce, key.get());
    return out;
}

std::optional<Bytes> open_secret(ByteView blob, std::string_view passphrase) {
    auto parts = parse_sealed(blob);
    if (!parts) return std::nullopt;
    SecretBuffer key = derive_key(passphrase, parts->salt, parts->alg, parts->limits);
    if (!key) return std::nullopt;
    Bytes secret(parts->box.size() - crypto_secretbox_MACBYTES);
    if (crypto_secretbox_open_easy(secret.data(), parts->box.data(), parts->box.size(), parts->nonce, key.get()) != 0) {
        wipe(secret);
        return std::nullopt;
    }
    return secret;
}

Result<PwhashLimits> sealed_secret_limits(ByteView blob) {
    auto parts = parse_sealed(blob);
    if (!parts) return err(parts.error());
    return parts->limits;
}

}  // namespace dc::crypto
