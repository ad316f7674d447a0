// The file part's cryptography on libsodium (through dc_crypto).

#include "darkchat/crypto.hpp"
#include "darkchat/files.hpp"

namespace dc::files {

namespace {

class SodiumHasher final : public Hasher {
public:
    void update(ByteView in) override { h_.update(in); }
    Hash finish() override {
        Hash out{};
        h_.final(out);
        return out;
    }

private:
    crypto::Blake2b h_{sizeof(Hash)};
};

}  // namespace

Signature SodiumCrypto::sign(const SecretKey& sk, ByteView msg) { return crypto::sign(sk, msg); }
bool SodiumCrypto::verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    return crypto::verify(pk, msg, sig);
}
Bytes SodiumCrypto::seal(ByteView msg, const KxPublicKey& to) { return crypto::seal(msg, to); }
std::optional<Bytes> SodiumCrypto::open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) {
    return crypto::open_sealed(sealed, crypto::KxKeyPair{pk, sk});
}
void SodiumCrypto::random(std::span<std::uint8_t> out) { crypto::random_bytes(out); }
void SodiumCrypto::aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                             const FileKey& key) {
    crypto::aead_seal(out, msg, ad, counter, key);
}
bool SodiumCrypto::aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                             const FileKey& key) {
    return crypto::aead_open(out, sealed, ad, counter, key);
}
std::unique_ptr<Hasher> SodiumCrypto::hasher() { return std::make_unique<SodiumHasher>(); }

}  // namespace dc::files
