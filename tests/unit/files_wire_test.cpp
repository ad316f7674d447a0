// The messages of file transfers (darkchat/files_wire.hpp) and their manifest: every
// message's round trip, the limits a manifest is held to on decode, the stored state, a
// signed manifest that is changed or whose whole hash is not its chunk hashes', and
// malformed input.

#include <doctest/doctest.h>

#include "darkchat/crypto.hpp"
#include "darkchat/files.hpp"

using namespace dc;
using namespace dc::wire;

namespace {

FileManifest manifest(std::uint64_t size, std::uint32_t chunk) {
    FileManifest m;
    m.id[0] = 1;
    m.name = "holiday.png";
    m.size = size;
    m.media_type = "image/png";
    m.chunk_size = chunk;
    m.chunk_hashes.assign(file_chunks(size, chunk) * 32, 0xab);
    m.file_hash[3] = 4;
    m.sender[0] = 9;
    return m;
}

}  // namespace

TEST_CASE("every file message survives encode and decode, and its first byte names its type") {
    FileIdBytes id{};
    id[5] = 5;
    const SignedBlob blob{encode(manifest(5000, 1024)), Signature{7}};
    const FileMessage all[] = {
        FileOffer{blob, Bytes(80, 3)},
        FileAnswer{id, true},
        FileWant{id, {0, 7, 4000000000u}},
        FileChunk{id, 12, Bytes(1040, 9)},
        FileDone{id, false},
        FileCancel{id},
        FileCancel{id, static_cast<std::uint8_t>(CancelReason::unreadable)},
        FileShare{FileGroupBytes{4}, blob},
        FileAsk{FileGroupBytes{4}, id, {}},
        FileAsk{FileGroupBytes{4}, {}, "photo.jpg"},
        FileOffer{blob, Bytes(80, 3), FileGroupBytes{4}},
    };
    for (const auto& m : all) {
        const Bytes b = encode_file(m);
        CHECK(b[0] == m.index());
        auto back = decode_file(b);
        REQUIRE(back);
        CHECK(*back == m);
        CHECK(encode_file(*back) == b);
    }
}

TEST_CASE("a manifest is held to its limits on decode") {
    const auto ok = manifest(10 * 1024 + 1, 1024);
    REQUIRE(decode_file_manifest(encode(ok)));
    CHECK(*decode_file_manifest(encode(ok)) == ok);
    CHECK(file_chunks(10 * 1024 + 1, 1024) == 11);
    CHECK(file_chunks(0, 1024) == 0);
    CHECK(decode_file_manifest(encode(manifest(0, 1024))));

    auto m = ok;
    m.name = "";
    CHECK(!decode_file_manifest(encode(m)));
    m.name = std::string(kMaxFileName, 'n');
    CHECK(decode_file_manifest(encode(m)));
    m.name += "n";
    CHECK(!decode_file_manifest(encode(m)));

    m = ok;
    m.chunk_hashes.resize(m.chunk_hashes.size() - 32);  // one hash short
    CHECK(!decode_file_manifest(encode(m)));
    m.chunk_hashes.resize(m.chunk_hashes.size() + 64);  // one too many
    CHECK(!decode_file_manifest(encode(m)));

    for (std::uint32_t chunk : {0u, kMinFileChunk - 1, kMaxFileChunk + 1}) {
        m = ok;
        m.chunk_size = chunk;
        m.chunk_hashes.assign(chunk ? file_chunks(m.size, chunk) * 32 : 0, 1);
        CHECK(!decode_file_manifest(encode(m)));
    }

    // The size: the caller's limit, and the hard one of kMaxFileChunks chunks.
    m = manifest(100000, 4096);
    CHECK(decode_file_manifest(encode(m), 100000));
    CHECK(!decode_file_manifest(encode(m), 99999));
    m = manifest(std::uint64_t{kMaxFileChunks} * kMinFileChunk, kMinFileChunk);
    CHECK(decode_file_manifest(encode(m)));
    m.size += 1;  // one chunk more than allowed, with its hash
    m.chunk_hashes.resize(m.chunk_hashes.size() + 32);
    CHECK(!decode_file_manifest(encode(m)));
    m = manifest(0, kMaxFileChunk);
    m.size = kMaxFileSize + 1;
    CHECK(!decode_file_manifest(encode(m)));

    m = ok;
    m.media_type = "image/png; x=\x01";
    CHECK(!decode_file_manifest(encode(m)));
    m.media_type = std::string(kMaxMediaType + 1, 'a');
    CHECK(!decode_file_manifest(encode(m)));
}

TEST_CASE("a signed manifest opens only unchanged and only under its sender's key") {
    REQUIRE(crypto::init());
    files::SodiumCrypto c;
    const auto kp = crypto::generate_identity();
    auto m = manifest(3000, 1024);
    m.sender = kp.pk;
    m.file_hash = files::whole_hash(c, m.chunk_hashes);
    CHECK(!files::open_manifest(c, files::sign_manifest(c, kp.sk, manifest(3000, 1024)), kMaxFileSize));
    const SignedBlob blob = files::sign_manifest(c, kp.sk, m);
    auto opened = files::open_manifest(c, blob, kMaxFileSize);
    REQUIRE(opened);
    CHECK(*opened == m);
    CHECK(!files::open_manifest(c, blob, 2999));
    for (std::size_t i = 0; i < blob.body.size(); i += 7) {
        SignedBlob changed = blob;
        changed.body[i] ^= 0x01;
        CHECK(!files::open_manifest(c, changed, kMaxFileSize));
    }
    auto other = m;
    other.sender = crypto::generate_identity().pk;
    CHECK(!files::open_manifest(c, files::sign_manifest(c, kp.sk, other), kMaxFileSize));
}

TEST_CASE("a manifest built chunk by chunk names each chunk's hash and the whole file's") {
    REQUIRE(crypto::init());
    files::SodiumCrypto c;
    const auto kp = crypto::generate_identity();
    files::Self self{kp.pk, kp.sk, {}, {}};
    Bytes data(2500);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i);
    files::ManifestBuilder b(c, "x.bin", data.size(), "application/octet-stream", 1024);
    CHECK(!b.add(ByteView(data).first(1000)));  // not a whole chunk
    REQUIRE(b.add(ByteView(data).subspan(0, 1024)));
    CHECK(!b.finish(self));  // bytes missing
    REQUIRE(b.add(ByteView(data).subspan(1024, 1024)));
    REQUIRE(b.add(ByteView(data).subspan(2048)));
    CHECK(!b.add(ByteView(data).first(1)));  // past the size
    auto blob = b.finish(self);
    REQUIRE(blob);
    auto m = files::open_manifest(c, *blob, kMaxFileSize);
    REQUIRE(m);
    CHECK(m->chunk_hashes.size() == 3 * 32);
    FileHash whole{};
    crypto::keyed_hash(whole, {}, m->chunk_hashes);  // the hash of the chunk hashes
    CHECK(m->file_hash == whole);
    FileHash last{};
    crypto::keyed_hash(last, {}, ByteView(data).subspan(2048));
    CHECK(std::equal(last.begin(), last.end(), m->chunk_hashes.begin() + 64));
    CHECK(files::chunk_size_for(1000) == 256 * 1024);
    CHECK(files::chunk_size_for(std::uint64_t{5} << 30) == kMaxFileChunk);
}

TEST_CASE("what a side stores of a transfer survives encode and decode") {
    FileState s;
    s.manifest = SignedBlob{encode(manifest(9000, 1024)), Signature{2}};
    s.key[0] = 1;
    s.side = 1;
    s.phase = 1;
    s.peer[1] = 2;
    s.path = "downloads/x.part";
    s.final_path = "downloads/x";
    s.have = Bytes{0x0f, 0x01};
    s.sealed = Bytes(80, 6);
    s.session = SessionId{1, 2, 3, 4, 5, 6, 7, 8};
    s.answered = true;
    s.replies = {{SessionId{9}, static_cast<std::uint8_t>(Reply::received)}, {SessionId{8}, 0}};
    auto back = decode_file_state(encode(s));
    REQUIRE(back);
    CHECK(*back == s);
    // At most kMaxOfferSessions sessions' answers.
    s.replies.assign(kMaxOfferSessions, FileSessionReply{});
    CHECK(decode_file_state(encode(s)));
    s.replies.push_back({});
    CHECK(!decode_file_state(encode(s)));
    s.replies.clear();
    s.have.assign(kMaxFileChunks / 8 + 1, 0);
    CHECK(!decode_file_state(encode(s)));
}

TEST_CASE("malformed file messages do not decode") {
    CHECK(!decode_file(Bytes{}));
    CHECK(!decode_file(Bytes{6, 0x80}));                         // no such type
    CHECK(!decode_file(Bytes{5, 0x80}));                         // fileCancel without its id
    CHECK(!decode_file(Bytes{5, 0x81, 0x00, 0x01}));             // an id that is not 16 bytes
    CHECK(!decode_file(Bytes{2, 0x82, 0x00, 0xc4, 0x10}));       // truncated
    CHECK(!decode_file(Bytes{2, 0x81, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff}));  // a huge list claimed
    FileWant w;
    w.chunks.assign(kMaxFileWant + 1, 1);
    CHECK(!decode_file(encode_file(w)));
    FileChunk c;
    c.data.assign(kMaxFileChunk + kFileChunkTag + 1, 0);
    CHECK(!decode_file(encode_file(c)));
    FileOffer o;
    o.key.assign(kMaxFileSealedKey + 1, 0);
    CHECK(!decode_file(encode_file(o)));
}
