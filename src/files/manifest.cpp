// Manifests: made from the file's bytes in order, signed by the sender, opened within
// the receiver's limits.

#include "darkchat/files.hpp"

#include <algorithm>
#include <string_view>

namespace dc::files {

namespace {

constexpr std::string_view kManifestContext = "darkchat file manifest";

Bytes signed_bytes(ByteView body) {
    Bytes msg(kManifestContext.size() + body.size());
    std::copy(kManifestContext.begin(), kManifestContext.end(), msg.begin());
    std::copy(body.begin(), body.end(), msg.begin() + static_cast<std::ptrdiff_t>(kManifestContext.size()));
    return msg;
}

}  // namespace

Hash hash_of(Crypto& crypto, ByteView bytes) {
    auto h = crypto.hasher();
    h->update(bytes);
    return h->finish();
}

Hash whole_hash(Crypto& crypto, ByteView chunk_hashes) { return hash_of(crypto, chunk_hashes); }

std::uint32_t chunk_size_for(std::uint64_t size) {
    constexpr std::uint32_t normal = 256 * 1024;
    return wire::file_chunks(size, normal) > wire::kMaxFileChunks ? wire::kMaxFileChunk : normal;
}

ManifestBuilder::ManifestBuilder(Crypto& crypto, std::string name, std::uint64_t size, std::string media_type,
                                 std::uint32_t chunk_size)
    : crypto_(crypto) {
    m_.name = std::move(name);
    m_.size = size;
    m_.media_type = std::move(media_type);
    m_.chunk_size = chunk_size;
}

Result<void> ManifestBuilder::add(ByteView chunk) {
    if (m_.chunk_size == 0) return err("manifest: chunk size 0");
    const std::uint64_t left = m_.size - seen_;
    const std::uint64_t want = std::min<std::uint64_t>(left, m_.chunk_size);
    if (want == 0) return err("manifest: more chunks than the size holds");
    if (chunk.size() != want) return err("manifest: a chunk of the wrong length");
    auto h = crypto_.hasher();
    h->update(chunk);
    const Hash hash = h->finish();
    m_.chunk_hashes.insert(m_.chunk_hashes.end(), hash.begin(), hash.end());
    seen_ += chunk.size();
    return {};
}

Result<wire::SignedBlob> ManifestBuilder::finish(const Self& self) {
    if (seen_ != m_.size) return err("manifest: fewer bytes than the size");
    m_.file_hash = whole_hash(crypto_, m_.chunk_hashes);
    m_.sender = self.pk;
    crypto_.random(m_.id);
    const Bytes body = wire::encode(m_);
    if (auto check = wire::decode_file_manifest(body); !check) return err(check.error());
    return sign_manifest(crypto_, self.sk, m_);
}

wire::SignedBlob sign_manifest(Crypto& crypto, const SecretKey& sk, const Manifest& m) {
    wire::SignedBlob blob;
    blob.body = wire::encode(m);
    blob.sig = crypto.sign(sk, signed_bytes(blob.body));
    return blob;
}

Result<Manifest> open_manifest(Crypto& crypto, const wire::SignedBlob& blob, std::uint64_t max_size) {
    auto m = wire::decode_file_manifest(blob.body, max_size);
    if (!m) return m;
    if (!crypto.verify(m->sender, signed_bytes(blob.body), blob.sig)) return err("fileManifest: bad signature");
    if (whole_hash(crypto, m->chunk_hashes) != m->file_hash)
        return err("fileManifest: the whole hash is not the hash of the chunk hashes");
    return m;
}

}  // namespace dc::files
