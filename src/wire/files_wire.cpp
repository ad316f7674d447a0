// Messages of file transfers (see files_wire.hpp), declared once each in the tables
// below (schema.hpp says how); the limits that tie fields together (a hash for every
// chunk) are checked after the table's own.

#include "darkchat/files_wire.hpp"

#include "schema.hpp"

#include <string_view>
#include <tuple>

namespace dc::wire {

namespace schema {

template <>
struct Message<FileManifest> {
    static constexpr std::string_view name = "fileManifest";
    static constexpr auto fields = std::tuple{
        field(0, "id", &FileManifest::id, required),
        field(1, "name", &FileManifest::name, max_bytes(kMaxFileName), required),
        field(2, "size", &FileManifest::size, required),
        field(3, "media_type", &FileManifest::media_type, max_bytes(kMaxMediaType)),
        field(4, "chunk_size", &FileManifest::chunk_size, required),
        field(5, "chunk_hashes", &FileManifest::chunk_hashes, max_bytes(kMaxFileChunks * sizeof(FileHash)), required),
        field(6, "file_hash", &FileManifest::file_hash, required),
        field(7, "sender", &FileManifest::sender, required),
    };
};

template <>
struct Message<FileOffer> {
    static constexpr std::string_view name = "fileOffer";
    static constexpr auto fields = std::tuple{
        field(0, "manifest", &FileOffer::manifest, required),
        field(1, "key", &FileOffer::key, max_bytes(kMaxFileSealedKey), required),
        field(2, "group", &FileOffer::group),
    };
};

template <>
struct Message<FileAnswer> {
    static constexpr std::string_view name = "fileAnswer";
    static constexpr auto fields = std::tuple{
        field(0, "id", &FileAnswer::id, required),
        field(1, "accept", &FileAnswer::accept, required),
    };
};

template <>
struct Message<FileWant> {
    static constexpr std::string_view name = "fileWant";
    static constexpr auto fields = std::tuple{
        field(0, "id", &FileWant::id, required),
        field(1, "chunks", &FileWant::chunks, max_items(kMaxFileWant), required),
    };
};

template <>
struct Message<FileChunk> {
    static constexpr std::string_view name = "fileChunk";
    static constexpr auto fields = std::tuple{
        field(0, "id", &FileChunk::id, required),
        field(1, "index", &FileChunk::index, required),
        field(2, "data", &FileChunk::data, max_bytes(kMaxFileChunk + kFileChunkTag), required),
    };
};

template <>
struct Message<FileDone> {
    static constexpr std::string_view name = "fileDone";
    static constexpr auto fields = std::tuple{
        field(0, "id", &FileDone::id, required),
        field(1, "ok", &FileDone::ok, required),
    };
};

template <>
struct Message<FileCancel> {
    static constexpr std::string_view name = "fileCancel";
    static constexpr auto fields = std::tuple{
        field(0, "id", &FileCancel::id, required),
        field(1, "reason", &FileCancel::reason, if_set(&FileCancel::reason)),
    };
};

template <>
struct Record<FileSessionReply> {  // [session, reply]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&FileSessionReply::session), elem(&FileSessionReply::reply)};
};

template <>
struct Message<FileState> {
    static constexpr std::string_view name = "fileState";
    static constexpr auto fields = std::tuple{
        field(0, "manifest", &FileState::manifest, required),
        field(1, "key", &FileState::key, required),
        field(2, "side", &FileState::side, required),
        field(3, "phase", &FileState::phase, required),
        field(4, "peer", &FileState::peer, required),
        field(5, "path", &FileState::path, max_bytes(kMaxFilePath)),
        field(6, "final_path", &FileState::final_path, max_bytes(kMaxFilePath)),
        field(7, "have", &FileState::have, max_bytes(kMaxFileChunks / 8)),
        field(8, "sealed", &FileState::sealed, max_bytes(kMaxFileSealedKey)),
        field(9, "group", &FileState::group),
        field(10, "session", &FileState::session),
        field(11, "answered", &FileState::answered),
        field(12, "replies", &FileState::replies, max_items(kMaxOfferSessions), if_set(&FileState::replies)),
    };
};

template <>
struct Message<FileShare> {
    static constexpr std::string_view name = "fileShare";
    static constexpr auto fields = std::tuple{
        field(0, "group", &FileShare::group, required),
        field(1, "manifest", &FileShare::manifest, required),
    };
};

template <>
struct Message<FileAsk> {
    static constexpr std::string_view name = "fileAsk";
    static constexpr auto fields = std::tuple{
        field(0, "group", &FileAsk::group, required),
        field(1, "id", &FileAsk::id, required),
        field(2, "name", &FileAsk::name, max_bytes(kMaxFileName)),
    };
};

}  // namespace schema

using schema::decode_message;
using schema::encode_message;

std::uint64_t file_chunks(std::uint64_t size, std::uint32_t chunk_size) {
    if (chunk_size == 0) return 0;
    return size / chunk_size + (size % chunk_size != 0 ? 1 : 0);
}

Bytes encode_file(const FileMessage& m) { return schema::encode_indexed(m); }

Result<FileMessage> decode_file(ByteView b) { return schema::decode_indexed<FileMessage>(b, "file message"); }

Bytes encode_file_data(const PublicKey& from, ByteView message) {
    Bytes out(kFileDataPrefix + message.size());
    out[0] = kVersion;
    out[1] = static_cast<std::uint8_t>(MsgType::file_data);
    std::copy(from.begin(), from.end(), out.begin() + 2);
    std::copy(message.begin(), message.end(), out.begin() + kFileDataPrefix);
    return out;
}

Result<FileData> parse_file_data(ByteView b) {
    if (b.size() <= kFileDataPrefix || b[0] != kVersion || b[1] != static_cast<std::uint8_t>(MsgType::file_data))
        return err("fileData: bad layout");
    if (b.size() > kMaxFrame) return err("fileData: too large");
    FileData d;
    std::copy(b.begin() + 2, b.begin() + kFileDataPrefix, d.from.begin());
    d.message = b.subspan(kFileDataPrefix);
    return d;
}

Bytes encode(const FileManifest& m) { return encode_message(m); }

Result<FileManifest> decode_file_manifest(ByteView b, std::uint64_t max_size) {
    auto r = decode_message<FileManifest>(b);
    if (!r) return r;
    const FileManifest& m = *r;
    if (m.name.empty()) return err("fileManifest: empty name");
    for (char c : m.media_type)
        if (c <= ' ' || c > '~') return err("fileManifest: bad media_type");
    if (m.chunk_size < kMinFileChunk || m.chunk_size > kMaxFileChunk) return err("fileManifest: bad chunk_size");
    if (m.size > max_size || m.size > kMaxFileSize) return err("fileManifest: file too large");
    const std::uint64_t chunks = file_chunks(m.size, m.chunk_size);
    if (chunks > kMaxFileChunks) return err("fileManifest: too many chunks");
    if (m.chunk_hashes.size() != chunks * sizeof(FileHash)) return err("fileManifest: not one hash per chunk");
    return r;
}

Bytes encode(const FileState& s) { return encode_message(s); }
Result<FileState> decode_file_state(ByteView b) { return decode_message<FileState>(b); }

}  // namespace dc::wire
