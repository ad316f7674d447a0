// Messages of file transfers (darkchat-protocol(7), FILES): one byte naming the type,
// then a msgpack map with small integer keys, like the group messages (field i of the
// struct is key i; unknown keys are skipped). The manifest is a signed body of its own,
// decoded apart under limits the caller may lower (the largest file it takes). What one
// side stores of a transfer is encoded the same way.
#pragma once

#include "darkchat/wire.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace dc::wire {

using FileIdBytes = std::array<std::uint8_t, 16>;
using FileHash = std::array<std::uint8_t, 32>;  // BLAKE2b-256
using FileKeyBytes = std::array<std::uint8_t, 32>;
using FileGroupBytes = std::array<std::uint8_t, 16>;  // a conversation group's id (groups_wire.hpp)

inline constexpr std::size_t kMaxFileName = 255;            // bytes of a name as offered
inline constexpr std::size_t kMaxMediaType = 64;            // bytes of a media type ("image/png")
inline constexpr std::uint32_t kMinFileChunk = 1024;        // smallest chunk size
inline constexpr std::uint32_t kMaxFileChunk = 512 * 1024;  // largest chunk size
inline constexpr std::size_t kMaxFileChunks = 16384;        // chunks of one file
inline constexpr std::uint64_t kMaxFileSize = std::uint64_t{kMaxFileChunk} * kMaxFileChunks;  // 8 GiB
inline constexpr std::size_t kMaxFileSealedKey = 128;       // a transfer key sealed to one receiver
inline constexpr std::size_t kMaxFileWant = 64;             // chunks asked for in one fileWant
inline constexpr std::size_t kFileChunkTag = 16;            // AEAD tag on every chunk
inline constexpr std::size_t kMaxFilePath = 4096;           // bytes of a local path in a stored state
inline constexpr std::size_t kMaxOfferSessions = 16;        // sessions (devices) an offer to a contact keeps answers of

// The manifest: what the sender signs over "darkchat file manifest" || body. The chunk
// hashes are BLAKE2b-256 of each plaintext chunk, one after the other in one byte string
// (32 bytes a chunk); file_hash, the whole file's hash, is BLAKE2b-256 of chunk_hashes
// (files::whole_hash), so a file whose every chunk matched is the file of that hash.
struct FileManifest {
    FileIdBytes id{};
    std::string name;
    std::uint64_t size = 0;
    std::string media_type;
    std::uint32_t chunk_size = 0;
    Bytes chunk_hashes;
    FileHash file_hash{};
    PublicKey sender{};
    bool operator==(const FileManifest&) const = default;
};

// Chunks of a file of size bytes at chunk_size (the last one may be shorter).
std::uint64_t file_chunks(std::uint64_t size, std::uint32_t chunk_size);

// The sender offers a file: the signed manifest and the transfer key sealed to the
// receiver's X25519 key. An offer in a group (group not all zero) answers a fileAsk:
// the sender is a member that holds the file, the manifest is its author's.
struct FileOffer {
    SignedBlob manifest;
    Bytes key;
    FileGroupBytes group{};
    bool operator==(const FileOffer&) const = default;
};

// The receiver's answer to an offer (a fileWant also means yes).
struct FileAnswer {
    FileIdBytes id{};
    bool accept = false;
    bool operator==(const FileAnswer&) const = default;
};

// Send me these chunks (indices into the manifest).
struct FileWant {
    FileIdBytes id{};
    std::vector<std::uint32_t> chunks;
    bool operator==(const FileWant&) const = default;
};

// One chunk, sealed with the transfer key: ChaCha20-Poly1305 with the index as nonce and
// "darkchat file chunk" || id || index (8 bytes, little endian) as associated data.
struct FileChunk {
    FileIdBytes id{};
    std::uint32_t index = 0;
    Bytes data;
    bool operator==(const FileChunk&) const = default;
};

// The receiver has the whole file, checked (ok) or gave up on it (not ok).
struct FileDone {
    FileIdBytes id{};
    bool ok = false;
    bool operator==(const FileDone&) const = default;
};

// Either side stops the transfer; the sender says why (a receiver shows it).
enum class CancelReason : std::uint8_t {
    cancelled = 0,    // the user stopped it
    unreadable = 1,   // the sender cannot read the file, or it changed since it was offered
    not_offered = 2,  // the sender offers no file of that id (any more)
    too_many = 3,     // the offer already keeps the answers of kMaxOfferSessions sessions
};
struct FileCancel {
    FileIdBytes id{};
    std::uint8_t reason = 0;  // CancelReason; another value reads as cancelled
    bool operator==(const FileCancel&) const = default;
};

// The author shares a file with a group: every member it lists hears of it, and asks
// a member that holds it (fileAsk) when it wants it.
struct FileShare {
    FileGroupBytes group{};
    SignedBlob manifest;
    bool operator==(const FileShare&) const = default;
};

// A member asks another for a file shared in their group: by its id, or (id all zero)
// by its name. One that holds it answers with a fileOffer in the group.
struct FileAsk {
    FileGroupBytes group{};
    FileIdBytes id{};
    std::string name;
    bool operator==(const FileAsk&) const = default;
};

using FileMessage = std::variant<FileOffer, FileAnswer, FileWant, FileChunk, FileDone, FileCancel, FileShare, FileAsk>;

// The first byte of an encoded message: its index in FileMessage.
Bytes encode_file(const FileMessage& m);
Result<FileMessage> decode_file(ByteView b);

// A file message carried straight between two nodes (MsgType::file_data): the version
// byte, the type byte, the sender's identity key (32 bytes, a claim: a chunk is believed
// only once it opens under the transfer key), then encode_file(). Only chunks go this
// way; the other messages ride on the node's session channel (darkchat-protocol(7), FILES).
inline constexpr std::size_t kFileDataPrefix = 2 + 32;
Bytes encode_file_data(const PublicKey& from, ByteView message);
struct FileData {
    PublicKey from{};
    ByteView message;  // into the bytes parsed
};
Result<FileData> parse_file_data(ByteView b);

// A manifest within the limits above and max_size: a name of 1 to kMaxFileName bytes, a
// chunk size from kMinFileChunk to kMaxFileChunk, at most kMaxFileChunks chunks and one
// hash for each.
Bytes encode(const FileManifest& m);
Result<FileManifest> decode_file_manifest(ByteView b, std::uint64_t max_size = kMaxFileSize);

// What the sender's offer to a contact knows of one session (device) of the receiver.
enum class Reply : std::uint8_t {
    waiting = 0,    // the offer went to it, no answer yet
    receiving = 1,  // it accepted: its own transfer is under way
    received = 2,   // its copy is delivered, checked
    declined = 3,
    cancelled = 4,  // it cancelled its transfer
    failed = 5,     // it could not check its copy
};
struct FileSessionReply {
    SessionId session{};
    std::uint8_t reply = 0;  // Reply
    bool operator==(const FileSessionReply&) const = default;
};

// What one side keeps of a transfer, so it survives a restart.
struct FileState {
    SignedBlob manifest;
    FileKeyBytes key{};
    std::uint8_t side = 0;   // 0 sending, 1 receiving, 2 holding (a file shared in a group, served to its members)
    std::uint8_t phase = 0;  // files::Phase
    PublicKey peer{};
    std::string path;        // the source (sending) or the partial file (receiving)
    std::string final_path;  // receiving: the name it gets once checked
    Bytes have;              // receiving: one bit per chunk on disk, chunk i in byte i / 8, bit i % 8
    Bytes sealed;            // sending: the key sealed to the receiver, to offer it again
    FileGroupBytes group{};  // the group the file was shared in; all zero: a file between two
    SessionId session{};     // sending: the receiver's session (device) this transfer goes to; all zero: the offer
    bool answered = false;   // sending, the offer: some session of the receiver answered it
    std::vector<FileSessionReply> replies;  // sending, the offer: its sessions and what each answered
    bool operator==(const FileState&) const = default;
};
Bytes encode(const FileState& s);
Result<FileState> decode_file_state(ByteView b);

}  // namespace dc::wire
