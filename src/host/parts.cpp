// The machines one port runs, as parts of the Host: the user's core::Node, and
// the directory, relay and room-client roles. The directory and a relay log one
// line per event (their ready lines first); the node's and the room client's
// events go to the front end as they are.
#include "part.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/files.hpp"
#include "darkchat/files_wire.hpp"
#include "darkchat/wire.hpp"

#include <deque>

namespace dc::host {

namespace {

class NodePart final : public Part {
public:
    explicit NodePart(std::unique_ptr<core::Node> node) : node_(std::move(node)) {}

    bool takes(std::uint8_t type) const override { return type < wire::kFirstRoleType; }
    void start(TimeMs now, const Addr&) override { node_->handle_start(now); }
    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override { node_->handle_datagram(now, from, data); }
    void handle_frame(TimeMs now, const Addr& from, ByteView data) override { node_->handle_frame(now, from, data); }
    void handle_timeout(TimeMs now) override { node_->handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return node_->poll_timeout(); }
    std::optional<StoreOp> poll_store() override { return node_->poll_store(); }
    bool handle_store_failed(TimeMs now, std::vector<StoreOp>& ops) override {
        ops = node_->handle_store_failed(now, std::move(ops));
        return true;
    }
    bool takes_back(const Event& e) const override {
        auto* c = std::get_if<core::Event>(&e);
        return c && node_->takes_back(*c);
    }
    std::optional<Event> poll_event() override {
        if (auto e = node_->poll_event()) return Event{std::move(*e)};
        return std::nullopt;
    }
    std::optional<core::Transmit> poll_transmit() override { return node_->poll_transmit(); }
    bool quitting() const override { return node_->quitting(); }
    void handle_quit(TimeMs now) override { node_->handle_command(now, core::cmd::Quit{}); }

private:
    std::unique_ptr<core::Node> node_;
};

// What the three role adapters share: role packets, the sans-IO calls passed
// on to the role machine R, lines said before its own events, and a quit that
// needs no goodbye.
template <typename R>
class RolePart : public Part {
public:
    template <typename Config, typename... More>
    RolePart(const Config& cfg, const Identity& id, core::Crypto& crypto, std::uint64_t seed, More&&... more)
        : role_(cfg, id, crypto, seed, std::forward<More>(more)...) {}

    bool takes(std::uint8_t type) const override { return wire::is_role_type(static_cast<wire::MsgType>(type)); }
    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override { role_.handle_datagram(now, from, data); }
    void handle_timeout(TimeMs now) override { role_.handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return role_.poll_timeout(); }
    std::optional<core::Transmit> poll_transmit() override { return role_.poll_transmit(); }
    bool quitting() const override { return quitting_; }
    void handle_quit(TimeMs) override { quitting_ = true; }

protected:
    // The ready lines first, then one line per event ("* relay 127.0.0.1:7401 up").
    std::optional<Event> poll_log_line() {
        if (!lines_.empty()) {
            std::string l = std::move(lines_.front());
            lines_.pop_front();
            return Event{Line{std::move(l)}};
        }
        if (auto e = role_.poll_event()) return Event{Line{"* " + roles::describe(*e)}};
        return std::nullopt;
    }
    R role_;
    std::deque<std::string> lines_;
    bool quitting_ = false;
};

class DirectoryPart final : public RolePart<roles::Directory> {
public:
    DirectoryPart(const roles::DirectoryConfig& cfg, const Identity& id, core::Crypto& crypto, std::uint64_t seed)
        : RolePart(cfg, id, crypto, seed), cfg_(cfg) {}

    void start(TimeMs, const Addr& bound) override {
        lines_.push_back("* ready: directory at " + bound.to_string());
        lines_.push_back("* key " + crypto::fingerprint(role_.identity().pk) + ", strategy " +
                         roles::strategy_name(cfg_.strategy) + ", pass every " + std::to_string(cfg_.pass_interval) +
                         " ms, relay timeout " + std::to_string(cfg_.relay_timeout) + " ms");
    }
    std::optional<Event> poll_event() override { return poll_log_line(); }

private:
    roles::DirectoryConfig cfg_;
};

class RelayPart final : public RolePart<roles::Relay> {
public:
    RelayPart(const roles::RelayConfig& cfg, const Identity& id, core::Crypto& crypto, std::uint64_t seed)
        : RolePart(cfg, id, crypto, seed), cfg_(cfg) {}

    void start(TimeMs now, const Addr& bound) override {
        lines_.push_back("* ready: relay at " + bound.to_string());
        lines_.push_back("* key " + crypto::fingerprint(role_.identity().pk) +
                         (cfg_.directory ? ", directory " + cfg_.directory->to_string()
                                         : std::string(", no directory: tickets signed by a member admit")) +
                         ", at most " + std::to_string(cfg_.max_rooms) + " rooms");
        role_.handle_start(now);
    }
    void handle_cpu(const roles::CpuUse& use) override { role_.handle_cpu(use); }
    std::optional<Event> poll_event() override { return poll_log_line(); }

private:
    roles::RelayConfig cfg_;
};

class ClientPart final : public RolePart<roles::RoomClient> {
public:
    ClientPart(const roles::RoomClientConfig& cfg, const Identity& id, core::Crypto& crypto, std::uint64_t seed,
               RoomSnapshot rooms)
        : RolePart(cfg, id, crypto, seed, std::move(rooms)) {}
    roles::RoomClient& client() { return role_; }

    void start(TimeMs now, const Addr&) override { role_.handle_start(now); }
    std::optional<StoreOp> poll_store() override { return role_.poll_store(); }
    std::optional<Event> poll_event() override {
        if (auto e = role_.poll_event()) return Event{std::move(*e)};
        return std::nullopt;
    }
    // Rooms with nothing left to deliver are left (the others see us go at once); the
    // rest are kept for the next start (RoomClient::handle_quit).
    void handle_quit(TimeMs now) override {
        role_.handle_quit(now);
        quitting_ = true;
    }
};

// The group machine's cryptography is the node's: one implementation, one
// place where randomness comes from (and the simulator's counting crypto
// counts both).
class GroupsCrypto final : public groups::Crypto {
public:
    explicit GroupsCrypto(core::Crypto& c) : c_(c) {}
    Signature sign(const SecretKey& sk, ByteView msg) override { return c_.sign(sk, msg); }
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override { return c_.verify(pk, msg, sig); }
    KxPublicKey kx_public(const KxSecretKey& sk) override { return c_.kx_public(sk); }
    Bytes seal(ByteView msg, const KxPublicKey& to) override { return c_.seal(msg, to); }
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override {
        return c_.open(sealed, pk, sk);
    }
    void random(std::span<std::uint8_t> out) override { c_.random(out); }
    void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                   const groups::GroupKey& key) override {
        c_.aead_seal(out, msg, ad, counter, key);
    }
    bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                   const groups::GroupKey& key) override {
        return c_.aead_open(out, sealed, ad, counter, key);
    }
    void hash(std::span<std::uint8_t> out, ByteView key, ByteView in) override { c_.hash(out, key, in); }

private:
    core::Crypto& c_;
};

class GroupsPart final : public Part {
public:
    GroupsPart(const Identity& id, core::Crypto& crypto)
        : crypto_(crypto), machine_(config(), groups::Self{id.user, id.pk, id.sk}, crypto_) {}
    groups::Machine& machine() { return machine_; }

    bool takes(std::uint8_t) const override { return false; }  // nothing comes to it on the wire
    void start(TimeMs now, const Addr&) override { machine_.handle_timeout(now); }
    void handle_datagram(TimeMs, const Addr&, ByteView) override {}
    void handle_timeout(TimeMs now) override { machine_.handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return machine_.poll_timeout(); }
    std::optional<StoreOp> poll_store() override {
        auto r = machine_.poll_store();
        if (!r) return std::nullopt;
        if (r->state.empty()) return StoreOp{store_op::DeleteGroup{r->group}};
        return StoreOp{store_op::PutGroup{GroupRecord{r->group, std::move(r->state)}}};
    }
    // A failed commit: the state is kept to store again (the machine's own
    // state is ahead of the disk until then). What it sent rode on the node's
    // chat, whose own ops were in the same batch and are taken back there.
    bool handle_store_failed(TimeMs, std::vector<StoreOp>&) override { return true; }
    std::optional<Event> poll_event() override {
        if (auto e = machine_.poll_event()) return Event{std::move(*e)};
        return std::nullopt;
    }
    std::optional<core::Transmit> poll_transmit() override { return std::nullopt; }
    // Groups outlive a session: nothing to say on quitting (a member who
    // leaves says so with \leave; one who is gone is found by liveness).
    void handle_quit(TimeMs) override {}

private:
    // On the node's chat nothing is lost while both ends live and nothing
    // acknowledged is lost to a crash, so the members' comparing of records
    // and line counts repairs little: once a minute, not every two seconds
    // (each one is a stored, acknowledged message to every member). A member
    // coming back is sent the record at once (handle_back) either way.
    static groups::Config config() {
        groups::Config c;
        c.sync_interval = 60000;
        return c;
    }
    GroupsCrypto crypto_;
    groups::Machine machine_;
};

// The file machine's cryptography: the node's (signatures, sealed boxes,
// randomness, the AEAD), and BLAKE2b in pieces from libsodium, which core::Crypto
// has no call for. files::Crypto and groups::Crypto repeat core::Crypto's
// signatures, so each is this thin adapter.
class FilesCrypto final : public files::Crypto {
public:
    explicit FilesCrypto(core::Crypto& c) : c_(c) {}
    Signature sign(const SecretKey& sk, ByteView msg) override { return c_.sign(sk, msg); }
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override { return c_.verify(pk, msg, sig); }
    Bytes seal(ByteView msg, const KxPublicKey& to) override { return c_.seal(msg, to); }
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override {
        return c_.open(sealed, pk, sk);
    }
    void random(std::span<std::uint8_t> out) override { c_.random(out); }
    void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                   const files::FileKey& key) override {
        c_.aead_seal(out, msg, ad, counter, key);
    }
    bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                   const files::FileKey& key) override {
        return c_.aead_open(out, sealed, ad, counter, key);
    }
    std::unique_ptr<files::Hasher> hasher() override { return hashes_.hasher(); }

private:
    core::Crypto& c_;
    files::SodiumCrypto hashes_;
};

// The index of FileChunk in wire::FileMessage: the first byte of an encoded chunk.
constexpr std::uint8_t kChunkType = 3;

class FilesPart final : public Part {
public:
    FilesPart(const Identity& id, core::Crypto& crypto, files::Peers* peers, std::deque<core::Transmit>& frames)
        : crypto_(crypto), machine_(files::Config{}, self_of(id), crypto_, peers), frames_(frames) {}
    files::Machine& machine() { return machine_; }

    bool takes(std::uint8_t type) const override {
        return type >= wire::kFirstFileType && type <= wire::kLastFileType;
    }
    void start(TimeMs now, const Addr&) override { machine_.handle_timeout(now); }
    // Only a chunk is taken from the other node straight: it names its sender, but
    // only the transfer key opens it. Anything else must come on the node's chat.
    void handle_datagram(TimeMs now, const Addr&, ByteView data) override {
        auto d = wire::parse_file_data(data);
        if (!d || d->message.empty() || d->message[0] != kChunkType) {
            ++dropped_;
            return;
        }
        machine_.handle_message(now, d->from, d->message);
    }
    void handle_timeout(TimeMs now) override { machine_.handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return machine_.poll_timeout(); }
    std::optional<StoreOp> poll_store() override {
        auto r = machine_.poll_store();
        if (!r) return std::nullopt;
        const auto side = static_cast<std::uint8_t>(r->side);
        if (r->state.empty()) return StoreOp{store_op::DeleteFile{r->id, side, r->peer, r->session}};
        return StoreOp{store_op::PutFile{FileRecord{r->id, side, std::move(r->state), r->peer, r->session}}};
    }
    // A failed commit: the records are kept to store again; the machine asks for
    // chunks and offers again on its own timers, so nothing it sent rests on them.
    bool handle_store_failed(TimeMs, std::vector<StoreOp>&) override { return true; }
    std::optional<Event> poll_event() override {
        if (auto e = machine_.poll_event()) return Event{std::move(*e)};
        return std::nullopt;
    }
    std::optional<core::Transmit> poll_transmit() override {
        if (frames_.empty()) return std::nullopt;
        core::Transmit t = std::move(frames_.front());
        frames_.pop_front();
        return t;
    }
    // Transfers outlive a session: they go on from the store at the next start.
    void handle_quit(TimeMs) override {}

private:
    static files::Self self_of(const Identity& id) {
        files::Self s{id.pk, id.sk, {}, crypto::kx_secret_of_identity(id.sk)};
        s.kx_pk = crypto::kx_public(s.kx_sk);
        return s;
    }
    FilesCrypto crypto_;
    files::Machine machine_;
    std::deque<core::Transmit>& frames_;
    std::uint64_t dropped_ = 0;
};

}  // namespace

std::unique_ptr<files::Crypto> make_files_crypto(core::Crypto& crypto) {
    return std::make_unique<FilesCrypto>(crypto);
}

std::unique_ptr<Part> make_files_part(const Identity& identity, core::Crypto& crypto, files::Peers* peers,
                                      const std::vector<FileRecord>& restore, files::Machine*& machine,
                                      std::deque<core::Transmit>& frames, std::vector<std::string>& problems) {
    auto p = std::make_unique<FilesPart>(identity, crypto, peers, frames);
    for (const auto& f : restore)
        if (auto r = p->machine().restore(f.state); !r)
            problems.push_back("! a stored file transfer could not be read (" + r.error() + "); it is left out");
    machine = &p->machine();
    return p;
}

std::unique_ptr<Part> make_groups_part(const Identity& identity, core::Crypto& crypto,
                                       const std::vector<GroupRecord>& restore, groups::Machine*& machine,
                                       std::vector<std::string>& problems) {
    auto p = std::make_unique<GroupsPart>(identity, crypto);
    for (const auto& g : restore)
        if (auto r = p->machine().restore(g.group, g.state); !r)
            problems.push_back("! a stored group could not be read (" + r.error() + "); it is left out");
    machine = &p->machine();
    return p;
}

std::unique_ptr<Part> make_node_part(std::unique_ptr<core::Node> node) {
    return std::make_unique<NodePart>(std::move(node));
}

Result<std::vector<std::unique_ptr<Part>>> make_role_parts(const RoleOptions& opts, const Identity& identity,
                                                           std::uint16_t port, core::Crypto& crypto,
                                                           std::uint64_t seed, RoleWiring wiring, RoomSnapshot rooms,
                                                           roles::RoomClient*& client) {
    std::vector<std::unique_ptr<Part>> out;
    switch (opts.role) {
        case Role::directory: {
            roles::DirectoryConfig cfg;
            cfg.port = port;
            if (!opts.strategy.empty()) {
                auto s = roles::parse_strategy(opts.strategy);
                if (!s) return err("unknown strategy '" + opts.strategy + "'");
                cfg.strategy = *s;
            }
            if (opts.pass_interval > 0) cfg.pass_interval = opts.pass_interval;
            if (opts.relay_timeout > 0) cfg.relay_timeout = opts.relay_timeout;
            out.push_back(std::make_unique<DirectoryPart>(cfg, identity, crypto, seed));
            break;
        }
        case Role::relay: {
            roles::RelayConfig cfg;
            cfg.port = port;
            cfg.directory = opts.directory;
            if (opts.max_rooms > 0) cfg.max_rooms = opts.max_rooms;
            out.push_back(std::make_unique<RelayPart>(cfg, identity, crypto, seed));
            break;
        }
        case Role::user: {
            // Also with neither: a group's record may name a relay (darkchat-groups(7), RELAYS).
            roles::RoomClientConfig cfg;
            cfg.port = port;
            cfg.directory = opts.directory;
            cfg.relays = opts.relays;
            cfg.pinned = std::move(wiring.pinned);
            cfg.addresses = std::move(wiring.addresses);
            auto m = std::make_unique<ClientPart>(cfg, identity, crypto, seed, std::move(rooms));
            client = &m->client();
            out.push_back(std::move(m));
            break;
        }
    }
    return out;
}

}  // namespace dc::host
