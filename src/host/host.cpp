// The Host: the parts one port runs, packets routed to them by wire type, and
// their outputs merged in the order the driver honours (host.hpp).
#include "darkchat/host.hpp"

#include "part.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/files_wire.hpp"
#include "darkchat/wire.hpp"

#include <algorithm>
#include <iterator>

namespace dc::host {

namespace {

// The first byte of a file message where it rides on chat (the chat's group
// field, darkchat-protocol(7), FILES): no group message starts with it.
constexpr std::uint8_t kFileOnChat = 0xf0;
// The first byte of an encoded chunk (its index in wire::FileMessage).
constexpr std::uint8_t kChunkType = 3;
// Group messages waiting for their member's name to be pinned, at most.
constexpr std::size_t kMaxParked = 256;
// A store fault that repeats is said again only after this long.
constexpr TimeMs kStoreErrorRepeat = 10000;
// A batch that could not be stored is tried again at least this often.
constexpr TimeMs kStoreRetry = 1000;

// What the file part asks of the groups, the rooms and the node: the members of a
// group or of a room (room ids and group ids are both 16 random bytes), the X25519 key
// a member's transfer key is sealed to, and whether a member can be asked: a group's
// when the node sees it online, a room's when its relay serves it.
class FilePeers final : public files::Peers {
public:
    explicit FilePeers(Host& host) : host_(host) {}
    std::vector<PublicKey> members(const files::GroupId& group) override {
        std::vector<PublicKey> out;
        auto* g = host_.groups();
        if (auto v = g ? g->group(group) : std::nullopt) {
            for (const auto& m : v->members) out.push_back(m.key);
        } else if (auto* c = host_.room_client()) {
            for (const auto& m : c->members(group)) out.push_back(m.key);
        }
        return out;
    }
    std::optional<KxPublicKey> kx_of(const PublicKey& pk) override { return crypto::kx_of_identity(pk); }
    bool online(const files::GroupId& group, const PublicKey& pk) override {
        auto* g = host_.groups();
        if (!(g && g->group(group)))
            if (auto* c = host_.room_client())
                for (const auto& m : c->members(group))
                    if (m.key == pk) return m.addr.has_value();
        const std::string name = host_.name_of(pk);
        auto* node = host_.node();
        auto u = node && !name.empty() && host_.pinned(name) == pk ? node->user(name) : std::nullopt;
        return u && u->online();
    }

private:
    Host& host_;
};

}  // namespace

Host::Host(const Config& config) : config_(config) {}
Host::~Host() { crypto::wipe(self_.sk); }

Result<std::unique_ptr<Host>> Host::create(const Config& config, const Identity& identity, Snapshot snapshot,
                                           core::Crypto& crypto, std::uint64_t seed) {
    std::unique_ptr<Host> h(new Host(config));
    RoomSnapshot rooms;
    RoleWiring wiring;
    std::vector<std::string> problems;
    if (config.roles.role == Role::user) {
        rooms = std::move(snapshot.rooms);
        auto stored_groups = std::move(snapshot.groups);
        auto stored_files = std::move(snapshot.files);
        auto node = std::make_unique<core::Node>(config.node, identity, std::move(snapshot), crypto, seed);
        h->node_ = node.get();
        h->parts_.push_back(make_node_part(std::move(node)));
        h->parts_.push_back(make_groups_part(identity, crypto, stored_groups, h->groups_, problems));
        h->keeps_lines_.resize(h->parts_.size());
        h->keeps_lines_.back() = true;
        h->file_peers_ = std::make_unique<FilePeers>(*h);
        h->parts_.push_back(
            make_files_part(identity, crypto, h->file_peers_.get(), stored_files, h->files_, h->frames_, problems));
        h->self_ = identity;
        h->file_crypto_ = make_files_crypto(crypto);
        Host* self = h.get();
        wiring.pinned = [self](const std::string& user) { return self->pinned(user); };
        wiring.addresses = [self](const std::string& user) { return self->addresses_of(user); };
    }
    auto roles = make_role_parts(config.roles, identity, config.node.port, crypto, seed ^ 0x9e3779b97f4a7c15ULL,
                                 std::move(wiring), std::move(rooms), h->client_);
    if (!roles) return err(roles.error());
    for (auto& p : *roles) h->parts_.push_back(std::move(p));
    if (h->parts_.empty()) return err("nothing to run");
    h->keeps_lines_.resize(h->parts_.size(), h->client_ != nullptr);  // a user's role part is its room client
    h->early_.resize(h->parts_.size());
    h->late_lines_.resize(h->parts_.size());
    h->notes_.resize(h->parts_.size());
    h->unsaved_.resize(h->parts_.size());
    for (auto& p : problems) h->note(0, std::move(p));
    return h;
}

void Host::handle_start(TimeMs now, const Addr& bound) {
    for (auto& p : parts_) p->start(now, bound);
    settle(now);
}

namespace {

// The part that takes a packet: the only one, or the one that takes its wire
// type; none for a role this port does not run, or garbage with no node to count it.
Part* route(const std::vector<std::unique_ptr<Part>>& parts, bool has_node, ByteView data) {
    if (parts.size() == 1) return parts.front().get();
    auto type = wire::peek_type(data);
    if (!type) return has_node ? parts.front().get() : nullptr;
    for (auto& p : parts)
        if (p->takes(static_cast<std::uint8_t>(*type))) return p.get();
    return nullptr;
}

}  // namespace

void Host::handle_datagram(TimeMs now, const Addr& from, ByteView data) {
    if (auto* p = route(parts_, node_ != nullptr, data)) p->handle_datagram(now, from, data);
    settle(now);
}

void Host::handle_frame(TimeMs now, const Addr& from, ByteView data) {
    if (auto* p = route(parts_, node_ != nullptr, data)) p->handle_frame(now, from, data);
    settle(now);
}

void Host::handle_timeout(TimeMs now) {
    for (auto& p : parts_)
        if (auto w = p->poll_timeout(); w && *w <= now) p->handle_timeout(now);
    now_ = std::max(now_, now);
    tend_group_relays();
    settle(now);
}

void Host::handle_group_command(TimeMs now, const groups::Command& c) {
    if (!groups_) return;
    groups_->handle_command(now, c);
    settle(now);
}

std::optional<groups::cmd::Relay> Host::best_relay(const std::optional<Addr>& except) const {
    if (!client_) return std::nullopt;
    std::optional<groups::cmd::Relay> best;
    std::uint32_t best_rtt = 0;
    for (const auto& r : client_->relays()) {
        if (r.key == PublicKey{} || !r.rtt_ms || (except && r.addr == *except) || client_->relay_dead(r.addr)) continue;
        if (!best || *r.rtt_ms < best_rtt) {
            best = groups::cmd::Relay{r.addr, r.key};
            best_rtt = *r.rtt_ms;
        }
    }
    return best;
}

Result<void> Host::move_group(TimeMs now, const groups::GroupId& group, bool to_relay) {
    if (!groups_) return err("no groups here");
    now_ = std::max(now_, now);
    auto g = groups_->group(group);
    const bool directory = client_ && client_->config().directory;
    if (!g || !g->coordinating) {  // the machine says why not
        handle_group_command(now, groups::cmd::Move{group, to_relay ? best_relay() : std::nullopt});
        return {};
    }
    if (to_relay && !directory && !best_relay())
        return err("no relay answers us (darkchat --relays ADDR, or --dir ADDR, gives some)");
    if (to_relay) {
        wanted_.insert(group);
    } else {
        wanted_.erase(group);
        auto_moved_.insert(group);  // not onto a relay again for its size
        groups_->handle_command(now, groups::cmd::Move{group, std::nullopt});
    }
    tend_group_relays();
    settle(now);
    return {};
}

// The groups we coordinate that go through a relay, or are to: with a directory that
// answers, on the relay it places them on (and moves them to); without one, on the
// best relay we measure, and off one that stopped answering (to the next best, or
// member to member until one answers again).
void Host::tend_group_relays() {
    if (!groups_ || !client_) return;
    const bool directory = client_->config().directory && client_->directory_alive();
    std::vector<wire::GroupWish> wishes;
    for (const auto& g : groups_->groups()) {
        if (!g.coordinating) continue;
        if (config_.group_relay_at > 0 && g.members.size() >= config_.group_relay_at && auto_moved_.insert(g.id).second)
            wanted_.insert(g.id);
        if (!g.relay && !wanted_.count(g.id)) continue;
        wanted_.insert(g.id);  // a relay that dies with no other in reach: back on one when one answers
        if (client_->config().directory) {
            wire::GroupWish w{g.id, {}};
            for (const auto& m : g.members) w.members.push_back(m.name);
            wishes.push_back(std::move(w));
        }
        std::optional<groups::cmd::Relay> to;
        if (directory) {
            auto p = client_->placement(g.id);
            if (!p) continue;  // not placed yet: the next state says where
            to = groups::cmd::Relay{p->relay, p->relay_key};
            if (g.relay && g.relay->addr == to->addr && g.relay->key == to->key) continue;
        } else if (g.relay) {
            if (!client_->relay_dead(g.relay->addr)) continue;
            to = best_relay(g.relay->addr);
        } else if (!(to = best_relay())) {
            continue;
        }
        groups_->handle_command(now_, groups::cmd::Move{g.id, to});
    }
    client_->handle_command(now_, roles::room_cmd::PlaceGroups{std::move(wishes)});
}

void Host::settle(TimeMs now) {
    now_ = std::max(now_, now);
    if (!node_ || !groups_) return;
    // What a failed commit took back from the node's outbox is carried again,
    // into the batch that retries it (the machine's state in it counts on them).
    for (auto& m : std::exchange(recarry_, {})) carry(m);
    // Each pass hands on what the other side made of the last; a group
    // message makes at most a few answers, so this ends in a pass or two. The
    // bound only keeps a bug from spinning: what is left goes at the next input.
    constexpr int kMaxPasses = 16;
    for (int pass = 0; pass < kMaxPasses; ++pass) {
        bool moved = false;
        while (auto a = node_->poll_aside()) {
            moved = true;
            if (auto* m = std::get_if<core::aside::GroupMessage>(&*a)) {
                names_[m->key] = m->from;
                // Our own other devices send us files only: each runs its own groups.
                if (!m->payload.empty() && m->payload[0] == kFileOnChat)
                    files_->handle_message(now_, m->key, ByteView(m->payload).subspan(1), m->session);
                else if (m->key != self_.pk)
                    groups_->handle_message(now_, m->key, m->payload);
            } else {
                auto& st = std::get<core::aside::UserStatus>(*a);
                if (st.online) groups_->handle_back(now_, st.key);
                else groups_->handle_lost(now_, st.key);
            }
        }
        while (auto m = groups_->poll_message()) {
            moved = true;
            carry(*m);
        }
        // A group on a relay: its room follows the group's record, and its lines go
        // to the group machine as if their author had sent them on chat.
        while (auto t = groups_->poll_transport()) {
            moved = true;
            if (!client_) continue;
            if (!t->ticket.body.empty()) client_->handle_command(now_, roles::room_cmd::Carry{std::move(t->ticket)});
            else if (client_->unacked(t->group)) client_->handle_command(now_, roles::room_cmd::Leave{t->group});
        }
        if (client_) {
            while (auto l = client_->poll_group_line()) {
                moved = true;
                groups_->handle_message(now_, l->author, l->payload, true);
            }
            while (auto f = client_->poll_file_message()) {
                moved = true;
                files_->handle_message(now_, f->from, f->message);
            }
        }
        while (auto m = files_->poll_message()) {
            moved = true;
            carry(*m);
        }
        if (!moved) break;
    }
    release_parked();
}

// A group message to its member, as chat through the node, to the user name
// the node pinned that member's key under (a name the machine gives is what a
// peer said, and only says whom to look for). A member's name the node has not
// pinned yet is looked for, as \add does, and the message waits here until
// the node pins that name to that key (never to another). Every member is
// made a contact, so that its liveness is watched.
void Host::carry(const groups::Outgoing& m) {
    if (m.via_relay) {  // stored and delivered by the room client, to every member at once
        if (client_)
            client_->handle_command(now_, roles::room_cmd::Send{m.group, std::string(m.bytes.begin(), m.bytes.end())});
        return;
    }
    std::string name = pinned_name(m.to);
    if (name.empty()) {
        name = m.name;
        if (name.empty() || pinned(name)) return;  // nobody to look for, or the name is someone else's here
        auto u = node_->user(name);
        if (!u || !u->contact) node_->handle_command(now_, core::cmd::Add{name});
        if (parked_.size() >= kMaxParked) parked_.pop_front();
        parked_.push_back(m);
        parked_.back().name = name;
        return;
    }
    auto u = node_->user(name);
    if (!u || !u->contact) node_->handle_command(now_, core::cmd::Add{name});
    node_->handle_command(now_, core::cmd::SendGroup{name, m.bytes});
    carried_.push_back(m);
}

// A file message to the peer of its transfer. To a key the node pinned and knows
// sessions of: a chunk straight to the session it is for as a TCP frame (one the
// transfer does not name: the peer's first, online first), anything else as chat to
// every session of the peer, stored and retried like a group message. Otherwise to a
// member of one of our rooms (who need not be known to the node): straight to where
// the room's relay serves it, a chunk as a TCP frame, anything
// else as a signed roomFile (RoomClient::send_file_message). Where neither knows the
// peer, the message has nowhere to go: the machine's timers ask again.
void Host::carry(const files::Outgoing& m) {
    const std::string name = pinned_name(m.to);
    const auto at = name.empty() ? std::vector<Addr>{} : addresses_of(name, m.session);
    const auto in_room = at.empty() && client_ ? client_->member_addr(m.to) : std::nullopt;
    if (!m.bytes.empty() && m.bytes[0] == kChunkType) {
        if (!at.empty() || in_room)
            frames_.push_back(core::Transmit{at.empty() ? *in_room : at.front(), wire::encode_file_data(self_.pk, m.bytes), true});
        return;
    }
    if (in_room) {
        client_->send_file_message(now_, m.to, m.bytes);
        return;
    }
    if (name.empty()) return;
    Bytes payload;
    payload.reserve(m.bytes.size() + 1);
    payload.push_back(kFileOnChat);
    payload.insert(payload.end(), m.bytes.begin(), m.bytes.end());
    node_->handle_command(now_, core::cmd::SendGroup{name, std::move(payload)});
}

files::Machine* Host::files() { return files_; }

files::ManifestBuilder Host::manifest_builder(std::string name, std::uint64_t size, std::string media_type) {
    return files::ManifestBuilder(*file_crypto_, std::move(name), size, std::move(media_type),
                                  files::chunk_size_for(size));
}

Result<void> Host::offer_file(TimeMs now, const std::string& user, files::ManifestBuilder& manifest,
                              const std::string& path) {
    if (!files_) return err("no file transfers here");
    auto key = pinned(user);
    if (!key) return err("no key known for " + user + " yet (\\add " + user + " and wait until it is online)");
    auto kx = crypto::kx_of_identity(*key);
    if (!kx) return err(user + "'s key cannot receive files");
    files::Self self{self_.pk, self_.sk, {}, crypto::kx_secret_of_identity(self_.sk)};
    auto blob = manifest.finish(self);
    // Our own other devices online get it too, sealed to our own key, under an id of its
    // own (each device's transfer is its own). Each offer stays open to the sessions it
    // goes to (those online now) until each answered.
    std::optional<wire::SignedBlob> own;
    auto own_sessions = online_sessions(self_.user);
    if (*key != self_.pk && !own_sessions.empty())
        if (auto b = manifest.finish(self)) own = std::move(*b);
    const auto own_kx = crypto::kx_public(self.kx_sk);
    crypto::wipe(self.kx_sk);
    if (!blob) return err(blob.error());
    files_->handle_command(now, files::cmd::Offer{*key, *kx, std::move(*blob), path, online_sessions(user)});
    if (own)
        files_->handle_command(now, files::cmd::Offer{self_.pk, own_kx, std::move(*own), path, std::move(own_sessions)});
    settle(now);
    return {};
}

Result<void> Host::share_file(TimeMs now, const groups::GroupId& group, files::ManifestBuilder& manifest,
                              const std::string& path) {
    if (!files_ || !groups_) return err("no file transfers here");
    if (!groups_->group(group) && !(client_ && !client_->members(group).empty())) return err("not in that group or room");
    files::Self self{self_.pk, self_.sk, {}, crypto::kx_secret_of_identity(self_.sk)};
    auto blob = manifest.finish(self);
    crypto::wipe(self.kx_sk);
    if (!blob) return err(blob.error());
    files_->handle_command(now, files::cmd::Share{group, std::move(*blob), path});
    settle(now);
    return {};
}

void Host::handle_file_command(TimeMs now, const files::Command& c) {
    if (!files_) return;
    files_->handle_command(now, c);
    settle(now);
}

std::optional<files::IoOp> Host::poll_file_io() {
    if (!files_) return std::nullopt;
    return files_->poll_io();
}

void Host::handle_file_read(TimeMs now, const files::FileId& id, files::Side side, std::uint32_t index,
                            ByteView bytes, const PublicKey& peer, const SessionId& session) {
    if (!files_) return;
    files_->handle_read(now, id, side, index, bytes, peer, session);
    settle(now);
}

void Host::handle_file_opened(TimeMs now, const files::FileId& id, std::uint32_t index, files::Opened result,
                              Bytes plain) {
    if (!files_) return;
    files_->handle_opened(now, id, index, result, std::move(plain));
    settle(now);
}

void Host::handle_file_read_failed(TimeMs now, const files::FileId& id, files::Side side, const std::string& why,
                                   const PublicKey& peer, const SessionId& session) {
    if (!files_) return;
    files_->handle_read_failed(now, id, side, why, peer, session);
    settle(now);
}

void Host::handle_file_write_failed(TimeMs now, const files::FileId& id, std::uint32_t index) {
    if (!files_) return;
    files_->handle_write_failed(now, id, index);
    settle(now);
}

// What waited for a name to be pinned goes once it is (to that key), and is
// dropped once the name is pinned to another.
void Host::release_parked() {
    for (auto it = parked_.begin(); it != parked_.end();) {
        auto key = pinned(it->name);
        if (!key) {
            ++it;
            continue;
        }
        groups::Outgoing m = std::move(*it);
        it = parked_.erase(it);
        if (*key == m.to) {
            names_[m.to] = m.name;
            carry(m);
            it = parked_.begin();  // carry() may park nothing, but the deque may have moved
        }
    }
}

std::string Host::pinned_name(const PublicKey& key) {
    if (auto it = names_.find(key); it != names_.end()) {
        if (pinned(it->second) == key) return it->second;
        names_.erase(it);
    }
    for (auto& k : node_->keys())
        if (k.pinned && *k.pinned == key) return names_[key] = k.user;
    return {};
}

void Host::handle_cpu(const roles::CpuUse& use) {
    for (auto& p : parts_) p->handle_cpu(use);
}

void Host::handle_quit(TimeMs now) {
    for (auto& p : parts_) p->handle_quit(now);
}

const std::vector<StoreOp>* Host::poll_store() {
    if (std::exchange(answered_, false)) return nullptr;
    settle(now_);  // what a command to the node alone (\add) gave the groups
    // Each part's range: what a failure kept of its own first, then what it
    // gives now. A failing batch is handed back range by range, so a part is
    // asked to take back only what rested on its own ops, never on another's.
    batch_.clear();
    ends_.assign(parts_.size(), 0);
    for (std::size_t i = 0; i < parts_.size(); ++i) {
        std::move(unsaved_[i].begin(), unsaved_[i].end(), std::back_inserter(batch_));
        unsaved_[i].clear();
        while (auto op = parts_[i]->poll_store()) batch_.push_back(std::move(*op));
        std::move(late_lines_[i].begin(), late_lines_[i].end(), std::back_inserter(batch_));
        late_lines_[i].clear();
        // The lines a group or room shows are kept for \history in the batch of
        // the turn that shows them: its events are taken now and given after.
        if (keeps_lines_[i])
            while (auto e = parts_[i]->poll_event()) {
                if (auto op = line_op(*e)) batch_.push_back(std::move(*op));
                early_[i].push_back(std::move(*e));
            }
        ends_[i] = batch_.size();
    }
    if (batch_.empty()) {
        carried_.clear();  // nothing of them to take back: the node refused them, or they went
        return nullptr;
    }
    first_part_ = static_cast<std::size_t>(std::upper_bound(ends_.begin(), ends_.end(), 0) - ends_.begin());
    return &batch_;
}

void Host::note(std::size_t part, std::string text) { notes_[part].push_back(std::move(text)); }

void Host::handle_store_applied(TimeMs) {
    batch_.clear();
    carried_.clear();
    answered_ = true;
    if (!last_store_error_.empty()) {
        note(first_part_, "* state saved again");
        last_store_error_.clear();
    }
}

void Host::handle_store_failed(TimeMs now, const StoreFailure& failure) {
    std::vector<StoreOp> ops = std::exchange(batch_, {});
    answered_ = true;
    if (failure.transient) recarry_ = std::exchange(carried_, {});
    carried_.clear();
    // Each part that gave ops takes back what rested on its own, for every
    // input since the last drain; where it cannot, its transmits of them are
    // held back. Peers resend, and so does our outbox.
    std::size_t begin = 0;
    for (std::size_t i = 0; i < parts_.size(); begin = ends_[i++]) {
        if (ends_[i] == begin) continue;
        std::vector<StoreOp> mine(std::make_move_iterator(ops.begin() + static_cast<long>(begin)),
                                  std::make_move_iterator(ops.begin() + static_cast<long>(ends_[i])));
        Part& p = *parts_[i];
        bool taken = p.handle_store_failed(now, mine);
        // A permanent fault: nothing more goes out either way (the Host quits).
        if (!taken || !failure.transient)
            while (p.poll_transmit()) {
            }
        unsaved_[i] = std::move(mine);
    }
    if (!failure.transient) {
        // Retrying cannot help: stop, and say so. What was not stored was not
        // shown or acknowledged either, so its senders keep it; typed messages
        // were refused.
        for (auto& u : unsaved_) u.clear();
        note(first_part_, "! cannot save state (" + failure.error +
                              "): darkchat stops, as nothing more could be kept; fix or move the database away, then "
                              "start again (messages not yet acknowledged wait with their senders)");
        exit_status_ = 1;
        handle_quit(now);
        return;
    }
    // Nothing is lost: the parts keep their state, and the batch is retried.
    if (failure.error != last_store_error_ || now - last_store_error_at_ > kStoreErrorRepeat) {
        note(first_part_, "! cannot save state (" + failure.error + "); retrying; messages wait with their senders meanwhile");
        last_store_error_ = failure.error;
        last_store_error_at_ = now;
    }
    retry_at_ = now + kStoreRetry;
}

bool Host::takes_back(const Event& e) const {
    if (batch_.empty()) return false;  // no batch out: nothing to take back
    std::size_t begin = 0;
    for (std::size_t i = 0; i < parts_.size(); begin = ends_[i++])
        if (ends_[i] != begin && parts_[i]->takes_back(e)) return true;
    return false;
}

std::optional<Event> Host::poll_event() {
    for (std::size_t i = 0; i < parts_.size(); ++i) {
        if (!notes_[i].empty()) {
            Event e{Line{std::move(notes_[i].front())}};
            notes_[i].pop_front();
            return e;
        }
        if (!early_[i].empty()) {
            Event e = std::move(early_[i].front());
            early_[i].pop_front();
            return e;
        }
        if (auto e = parts_[i]->poll_event()) {
            // Shown before a batch took it (no poll_store() came first): kept in the next one.
            if (keeps_lines_[i])
                if (auto op = line_op(*e)) late_lines_[i].push_back(std::move(*op));
            return e;
        }
    }
    return std::nullopt;
}

// A group's or a room's line as \history keeps it; nothing for any other event.
std::optional<StoreOp> Host::line_op(const Event& e) const {
    LineRecord r;
    r.stored = now_;
    if (auto* g = std::get_if<groups::Event>(&e)) {
        auto* l = std::get_if<groups::ev::Line>(g);
        if (!l) return std::nullopt;
        r.conversation = l->group;
        r.key.assign(l->author.begin(), l->author.end());
        for (std::uint64_t v : {l->epoch, l->seq})
            for (int shift = 56; shift >= 0; shift -= 8) r.key.push_back(static_cast<std::uint8_t>(v >> shift));
        r.author = l->own ? self_.user : name_of(l->author);
        if (r.author.empty()) r.author = l->author_name;
        r.author_key = l->author;
        r.sent = now_;
        r.own = l->own;
        r.text = l->text;
    } else if (auto* re = std::get_if<roles::RoomEvent>(&e)) {
        auto* l = std::get_if<roles::room_ev::Line>(re);
        if (!l) return std::nullopt;
        r.conversation = l->room;
        r.room = true;
        r.key.assign(l->id.begin(), l->id.end());
        r.author = l->author;
        r.sent = l->sent;
        r.own = l->outgoing;
        r.text = l->text;
    } else {
        return std::nullopt;
    }
    return StoreOp{store_op::PutLine{std::move(r)}};
}

std::optional<core::Transmit> Host::poll_transmit() {
    for (auto& p : parts_)
        if (auto t = p->poll_transmit()) return t;
    return std::nullopt;
}

std::optional<TimeMs> Host::poll_timeout() const {
    std::optional<TimeMs> wake;
    for (auto& p : parts_)
        if (auto w = p->poll_timeout()) wake = wake ? std::min(*wake, *w) : *w;
    bool unsaved = std::any_of(unsaved_.begin(), unsaved_.end(), [](auto& u) { return !u.empty(); });
    if (unsaved && retry_at_) wake = wake ? std::min(*wake, *retry_at_) : *retry_at_;
    return wake;
}

bool Host::quitting() const {
    return std::any_of(parts_.begin(), parts_.end(), [](auto& p) { return p->quitting(); });
}

int Host::exit_status() const { return exit_status_; }

std::vector<StoreOp> Host::take_unsaved() {
    std::vector<StoreOp> all;
    for (auto& u : unsaved_) {
        std::move(u.begin(), u.end(), std::back_inserter(all));
        u.clear();
    }
    return all;
}

core::Node* Host::node() { return node_; }
groups::Machine* Host::groups() { return groups_; }

std::string Host::name_of(const PublicKey& key) const {
    if (node_)
        for (auto& k : node_->keys())
            if (k.pinned && *k.pinned == key) return k.user;
    if (groups_)
        for (auto& g : groups_->groups())
            for (auto& m : g.members)
                if (m.key == key) return m.name;
    if (auto it = names_.find(key); it != names_.end()) return it->second;
    if (client_)
        for (auto& r : client_->rooms())
            for (auto& m : client_->members(r.room))
                if (m.key == key) return m.user;
    return {};
}
roles::RoomClient* Host::room_client() { return client_; }
const Config& Host::config() const { return config_; }
std::uint16_t Host::port() const { return config_.node.port; }

std::optional<PublicKey> Host::pinned(const std::string& user) const {
    if (!node_) return std::nullopt;
    auto k = node_->keys(user);
    if (k.empty()) return std::nullopt;
    return k.front().pinned;
}

std::vector<Addr> Host::addresses_of(const std::string& user, const SessionId& session) const {
    std::vector<Addr> out;
    if (!node_) return out;
    if (auto u = node_->user(user))
        for (bool online : {true, false})
            for (auto& sess : u->sessions)
                if (sess.online == online && (session == SessionId{} || sess.session == session))
                    out.push_back(sess.addr);
    return out;
}

std::vector<SessionId> Host::online_sessions(const std::string& user) const {
    std::vector<SessionId> out;
    if (auto u = node_ ? node_->user(user) : std::nullopt)
        for (const auto& s : u->sessions)
            if (s.online && s.session != self_.session) out.push_back(s.session);
    return out;
}

}  // namespace dc::host
