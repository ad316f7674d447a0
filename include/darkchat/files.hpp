// File transfers (darkchat-protocol(7), FILES) as a sans-IO state machine, one transfer
// per file and side. The sender offers a signed manifest (a hash per chunk and the
// whole file's hash, made from the chunk hashes) with a transfer key sealed to the
// receiver; the receiver accepts or declines, asks for chunks with a bounded window,
// checks each one on its own (AEAD under the transfer key, then the manifest's hash)
// before it is written and keeps which chunks it has, so a restart goes on from them;
// when all are there, every byte of the file has matched the signed manifest: it reads
// the first chunk back (to check it and recognise an image) and asks for the final name.
//
// No file is opened here: the part asks for bytes (io::Read, answered with
// handle_read) and hands bytes out (io::Write), and time comes in as an argument.
// A chunk received is opened and checked by the driver too (io::Open, open_chunk,
// answered with handle_opened), so that it can be done on other threads than the
// loop's, in any order; a simulator does it at once.
// After one or more handle_*() calls the driver drains, in this order,
//   poll_io()      -> read, write, sync, rename, remove (a record that counts a chunk comes after an
//                     io::Sync of its write)
//   poll_store()   -> apply (a transfer's state is durable before what rests on it leaves)
//   poll_event()   -> show to the user
//   poll_message() -> send to the peer
// and then arms one timer for poll_timeout().
#pragma once

#include "darkchat/files_wire.hpp"
#include "darkchat/types.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dc::files {

using FileId = wire::FileIdBytes;
using FileKey = wire::FileKeyBytes;
using Hash = wire::FileHash;
using Manifest = wire::FileManifest;
using GroupId = wire::FileGroupBytes;

struct Config {
    std::uint64_t max_size = std::uint64_t{4} << 30;  // offers of larger files are declined
    std::size_t max_transfers = 64;                   // transfers under way at once (both sides; files held for groups apart)
    std::size_t window = 64;                          // chunks asked for and not yet here, per transfer
    std::size_t max_reads = 64;                       // sender: chunk reads waiting for the driver, per transfer
    std::size_t max_opening = 64;                     // receiver: chunks handed out to open (io::Open), all transfers
    TimeMs request_timeout = 5000;                    // a chunk asked for and not here by then is asked again
    TimeMs offer_retry = 3000;                        // an unanswered offer is sent again after this ...
    int offer_attempts = 20;                          // ... at most this many times
    std::size_t store_every = 64;                     // the receiver's record is stored after this many chunks
    TimeMs write_retry = 2000;                        // after a failed write (a full disk): ask again then
    // Files shared in groups (darkchat-protocol(7), FILES IN GROUPS)
    TimeMs ask_retry = 3000;                          // a fileAsk not answered by an offer: ask again (the others)
    TimeMs holder_timeout = 15000;                    // no chunk from the holder for this long: ask another
    std::size_t max_held = 256;                       // files held to serve a group's members (no more are taken)
    std::size_t max_announced = 256;                  // files shared with us, not yet taken (in memory)
    std::size_t max_finds = 16;                       // asks by name waiting for an offer (in memory)
};

// The identity the part speaks for and the X25519 key transfer keys are sealed to.
struct Self {
    PublicKey pk{};
    SecretKey sk{};
    KxPublicKey kx_pk{};
    KxSecretKey kx_sk{};
};

// BLAKE2b-256 over input given in pieces.
class Hasher {
public:
    virtual ~Hasher() = default;
    virtual void update(ByteView in) = 0;
    virtual Hash finish() = 0;
};

// The cryptography, injected so tests are deterministic; the same signatures as
// core::Crypto, so the node can pass its own through an adapter.
class Crypto {
public:
    virtual ~Crypto() = default;
    virtual Signature sign(const SecretKey& sk, ByteView msg) = 0;
    virtual bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) = 0;
    virtual Bytes seal(ByteView msg, const KxPublicKey& to) = 0;
    virtual std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) = 0;
    virtual void random(std::span<std::uint8_t> out) = 0;
    virtual void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                           const FileKey& key) = 0;
    virtual bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                           const FileKey& key) = 0;
    virtual std::unique_ptr<Hasher> hasher() = 0;
};
// libsodium; random() from libsodium too unless a subclass overrides it.
class SodiumCrypto : public Crypto {
public:
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter, const FileKey& key) override;
    bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                   const FileKey& key) override;
    std::unique_ptr<Hasher> hasher() override;
};

// What the machine asks its host about people: who is in a group or a room now (a
// group's first member is its coordinator; empty when there is no such group or room
// here), and the X25519 key a transfer key is sealed to for a member. A room is a group
// to the machine: its id in place of the group's (both are 16 random bytes).
class Peers {
public:
    virtual ~Peers() = default;
    virtual std::vector<PublicKey> members(const GroupId& group) = 0;
    virtual std::optional<KxPublicKey> kx_of(const PublicKey& pk) = 0;
    // Asks go only to members that can be reached now: of a group, one the node sees
    // online (an offline one's would wait in the outbox); of a room, one its relay serves.
    virtual bool online(const GroupId& group, const PublicKey& pk) = 0;
};

// ---------------------------------------------------------------------------
// Manifests

// The chunk size for a file of size bytes: 256 KiB, or twice that when the file would
// otherwise have more than wire::kMaxFileChunks chunks.
std::uint32_t chunk_size_for(std::uint64_t size);

// BLAKE2b-256 of bytes (crypto's hasher): a chunk's hash.
Hash hash_of(Crypto& crypto, ByteView bytes);
// The whole file's hash: BLAKE2b-256 of the chunk hashes, one after the other (so a file
// whose every chunk matches its hash is the file of that hash).
Hash whole_hash(Crypto& crypto, ByteView chunk_hashes);

// Makes a manifest from the file's bytes, given in order chunk by chunk (the driver
// reads them): every chunk but the last exactly chunk_size bytes.
class ManifestBuilder {
public:
    ManifestBuilder(Crypto& crypto, std::string name, std::uint64_t size, std::string media_type,
                    std::uint32_t chunk_size);
    Result<void> add(ByteView chunk);
    // The signed manifest under a fresh random id; fails when fewer bytes came than size.
    Result<wire::SignedBlob> finish(const Self& self);

private:
    Crypto& crypto_;
    Manifest m_;
    std::uint64_t seen_ = 0;
};

wire::SignedBlob sign_manifest(Crypto& crypto, const SecretKey& sk, const Manifest& m);
// The manifest, decoded within max_size, signed by the sender it names and with the
// whole hash of its chunk hashes.
Result<Manifest> open_manifest(Crypto& crypto, const wire::SignedBlob& blob, std::uint64_t max_size);

// ---------------------------------------------------------------------------
// Names and images (no file system here)

// A bare file name for the download folder made from a name a peer sent: its last path
// component, without control, bidirectional-override or reserved characters, without
// leading dots or trailing dots and spaces, not a device name (CON, NUL, COM1 ...), at
// most kMaxSafeName bytes of whole UTF-8 characters; never empty. When exists(name)
// holds, "stem (1).ext", "stem (2).ext" ... is tried instead; an error when all of the
// first kMaxNameTries are taken.
inline constexpr std::size_t kMaxSafeName = 200;
inline constexpr int kMaxNameTries = 10000;
Result<std::string> safe_file_name(std::string_view offered, const std::function<bool(const std::string&)>& exists);

// An image recognised by its first bytes, with the size its header states.
struct Image {
    std::string type;  // "png", "jpeg", "gif", "webp"
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    bool operator==(const Image&) const = default;
};
std::optional<Image> sniff_image(ByteView head);
// "[image 640x480 png]"
std::string image_label(const Image& image);
// "image/png" ... for a recognised image, else "application/octet-stream".
std::string media_type_of(ByteView head);

// ---------------------------------------------------------------------------
// The machine

enum class Side : std::uint8_t {
    sending = 0,
    receiving = 1,
    holding = 2,  // a whole file shared in a group, kept to serve its members (its author's or one received)
};
enum class Phase : std::uint8_t {
    offered = 0,       // waiting for the receiver's answer
    transferring = 1,  // chunks moving
    verifying = 2,     // receiver: every chunk is on disk; reading the first one back
    asking = 3,        // receiver of a file shared in a group: asking members that hold it
};

namespace cmd {
// Offer a manifest made by ManifestBuilder to one receiver; path is where the driver
// reads the file from. Every session of the receiver that answers (handle_message's
// session) gets its own transfer: its chunks go to that session alone, its record is its
// own, and one session declining or cancelling ends no other's. sessions: the receiver's
// sessions the offer goes to (its online devices; at most wire::kMaxOfferSessions are
// kept). The offer stays open to each of them until it answers (declines, or takes the
// file and its copy is delivered, fails or is cancelled), the sender cancels, or the file
// can no longer be read; a session not listed that answers is added (up to the bound).
// With no session listed, the offer ends once the sessions that answered are done.
struct Offer { PublicKey to{}; KxPublicKey to_kx{}; wire::SignedBlob manifest; std::string path;
               std::vector<SessionId> sessions; };
// Take an offer: chunks are written to partial_path, renamed to final_path once checked.
struct Accept { FileId id{}; std::string partial_path; std::string final_path; };
struct Decline { FileId id{}; };
struct Cancel { FileId id{}; Side side = Side::receiving; };
// Share a manifest made by ManifestBuilder with every member of a group: each hears of
// it, and the file is held (read from path) to serve any member that asks, also later.
struct Share { GroupId group{}; wire::SignedBlob manifest; std::string path; };
// Ask the members of a group for the file shared there under this name (the newest
// a member holds), for someone who was not told of it (one who entered later).
struct Fetch { GroupId group{}; std::string name; std::string partial_path; std::string final_path; };
// Stop holding a file for a group's members (the file itself stays).
struct Unhold { FileId id{}; };
}  // namespace cmd
using Command = std::variant<cmd::Offer, cmd::Accept, cmd::Decline, cmd::Cancel, cmd::Share, cmd::Fetch, cmd::Unhold>;

// What the driver does to files.
namespace io {
// peer: the receiver a group's file is read for, session: the receiver's session a file to a
// contact is read for (both handed back with the bytes); all zero otherwise.
struct Read { FileId id{}; Side side = Side::sending; std::string path; std::uint32_t index = 0;
              std::uint64_t offset = 0; std::uint32_t length = 0; PublicKey peer{}; SessionId session{}; };
// A chunk's bytes; a failed write is answered with handle_write_failed.
struct Write { FileId id{}; std::string path; std::uint64_t offset = 0; Bytes bytes; std::uint32_t index = 0; };
// Make what was written to path durable (fdatasync): comes before the record that counts it.
struct Sync { FileId id{}; std::string path; };
struct Finish { FileId id{}; std::string path; std::string final_path; };  // rename
struct Remove { FileId id{}; std::string path; };
// A received chunk to open under key and check against hash (open_chunk, on any thread):
// answered with handle_opened, in any order.
struct Open { FileId id{}; std::uint32_t index = 0; Bytes sealed; FileKey key{}; Hash hash{}; };
}  // namespace io
using IoOp = std::variant<io::Read, io::Write, io::Sync, io::Finish, io::Remove, io::Open>;

// What open_chunk found: the plaintext is kept only when ok.
enum class Opened : std::uint8_t {
    ok,
    not_opened,   // not sealed under the key for this file and index (or cut): asked for again
    not_matching, // opened, but not the chunk in the manifest
};
// An io::Open done: the plaintext into plain (resized to the chunk). Uses only crypto's
// aead_open and hasher, so any thread may call it with a crypto that keeps no state.
Opened open_chunk(Crypto& crypto, const io::Open& op, Bytes& plain);

namespace ev {
struct Offered { FileId id{}; PublicKey from{}; std::string name; std::uint64_t size = 0; std::string media_type; };
struct Refused { PublicKey from{}; std::string why; };  // an offer taken no further
struct Accepted { FileId id{}; PublicKey by{}; };
struct Declined { FileId id{}; PublicKey by{}; };
struct Completed { FileId id{}; PublicKey from{}; std::string path; std::uint64_t size = 0;
                   std::optional<Image> image; };
struct Delivered { FileId id{}; PublicKey to{}; };
// by stopped the transfer; reason: why the sender did (wire::CancelReason).
struct Cancelled { FileId id{}; PublicKey by{}; wire::CancelReason reason = wire::CancelReason::cancelled; };
struct Failed { FileId id{}; std::string why; };
// We shared a file with a group of members (the author not counted).
struct Shared { FileId id{}; GroupId group{}; std::string name; std::uint64_t size = 0; std::size_t members = 0; };
// A member shared a file with a group we are in: cmd::Accept (or Decline) takes it.
struct Announced { FileId id{}; GroupId group{}; PublicKey from{}; std::string name; std::uint64_t size = 0;
                   std::string media_type; };
}  // namespace ev
using Event = std::variant<ev::Offered, ev::Refused, ev::Accepted, ev::Declined, ev::Completed, ev::Delivered,
                           ev::Cancelled, ev::Failed, ev::Shared, ev::Announced>;

// To a peer: to the one session named (a chunk of that session's transfer), or to every
// session of that peer (session all zero).
struct Outgoing {
    PublicKey to{};
    Bytes bytes;  // wire::encode_file
    SessionId session{};
};

// A transfer's state to keep (wire::encode(FileState)); empty: forget it. peer names the
// receiver of a file served to a group's member (one record per member), session the
// receiver's session a file to a contact goes to (one record per session that took it,
// besides the offer's own); all zero otherwise.
struct StoreRecord {
    FileId id{};
    Side side = Side::sending;
    PublicKey peer{};
    Bytes state;
    SessionId session{};
};

struct Stats {
    std::uint64_t malformed = 0;    // did not decode
    std::uint64_t refused = 0;      // not from the peer of the transfer, or for none we hold
    std::uint64_t bad_chunks = 0;   // did not open or did not match its hash: asked for again
    std::uint64_t busy = 0;         // chunks dropped while max_opening others were being opened: asked again
    std::uint64_t duplicate = 0;    // chunks we had
    std::uint64_t write_failed = 0; // chunks the disk did not take: asked for again later
};

struct TransferView {
    FileId id{};
    Side side = Side::sending;
    Phase phase = Phase::offered;
    PublicKey peer{};
    std::string name;
    std::uint64_t size = 0;
    std::uint64_t chunks = 0;
    std::uint64_t have = 0;   // receiver: chunks on disk
    std::size_t asked = 0;    // receiver: chunks asked for and not here
    GroupId group{};          // shared in this group; all zero between two
    std::string path;         // sending or holding: the file read; receiving: the partial file
    SessionId session{};      // sending: the receiver's session it goes to; all zero: the offer
    std::vector<wire::FileSessionReply> replies;  // the offer to a contact: its sessions and their answers
};

class Machine {
public:
    // peers may be null: then nothing is shared in groups.
    Machine(Config config, Self self, Crypto& crypto, Peers* peers = nullptr);
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // Before any input: one call per stored transfer state.
    Result<void> restore(ByteView state);

    // session: the sender's session (device), where the carrier knows it; all zero otherwise.
    void handle_message(TimeMs now, const PublicKey& from, ByteView bytes, const SessionId& session = {});
    void handle_command(TimeMs now, const Command& command);
    // The bytes of an io::Read, or (failed) why they could not be read.
    void handle_read(TimeMs now, const FileId& id, Side side, std::uint32_t index, ByteView bytes,
                     const PublicKey& peer = {}, const SessionId& session = {});
    void handle_read_failed(TimeMs now, const FileId& id, Side side, const std::string& why,
                            const PublicKey& peer = {}, const SessionId& session = {});
    // The io::Write of chunk index could not be done (a full disk): the chunk is not
    // counted, and no chunk is asked for until write_retry has passed.
    void handle_write_failed(TimeMs now, const FileId& id, std::uint32_t index);
    // An io::Open done (open_chunk): plain is the chunk when result is Opened::ok.
    void handle_opened(TimeMs now, const FileId& id, std::uint32_t index, Opened result, Bytes plain);
    void handle_timeout(TimeMs now);

    std::optional<IoOp> poll_io();
    std::optional<StoreRecord> poll_store();
    std::optional<Event> poll_event();
    std::optional<Outgoing> poll_message();
    std::optional<TimeMs> poll_timeout() const;

    std::vector<TransferView> transfers() const;
    const Stats& stats() const;

    struct State;

private:
    std::unique_ptr<State> s_;
};

}  // namespace dc::files
