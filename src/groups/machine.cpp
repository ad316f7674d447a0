// The public face of the group machine: construction, restore, the handle_* inputs, the
// poll_* outputs, and the plumbing every part uses (sending, signing and checking
// records, sealing epoch keys, storing a group's state).

#include "core/queue.hpp"
#include "groups/state.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

namespace dc::groups {

namespace {

constexpr std::string_view kRecordContext = "darkchat group record";
constexpr std::string_view kKxContext = "darkchat group kx";

Bytes with_context(std::string_view ctx, ByteView body) {
    Bytes m(ctx.size() + body.size());
    std::copy(ctx.begin(), ctx.end(), m.begin());
    std::copy(body.begin(), body.end(), m.begin() + static_cast<std::ptrdiff_t>(ctx.size()));
    return m;
}

}  // namespace

Machine::State::State(Config c, Self s, Crypto& cr) : config(c), self(std::move(s)), crypto(cr) {
    // The key epoch keys are sealed to is derived from the identity: it survives a
    // restart without a secret of its own in the store.
    const std::string_view label = kKxContext;
    crypto.hash(kx_sk, ByteView(self.sk),
                ByteView(reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
    kx_pk = crypto.kx_public(kx_sk);
}

void Machine::State::send(const PublicKey& to, const wire::GroupMessage& m) {
    if (to == self.pk) return;
    messages.push_back(Outgoing{to, name_of(to), wire::encode_group(m)});
}

std::string Machine::State::name_of(const PublicKey& pk) const {
    for (const auto& [id, g] : groups) {
        if (const Member* m = find_member(g.rec, pk)) return m->name;
        if (auto i = g.invited.find(pk); i != g.invited.end()) return i->second;
        if (g.txn && g.txn->who.member.key == pk) return g.txn->who.member.name;
        for (const auto& c : g.queue)
            if (c.member.key == pk) return c.member.name;
        if (g.pending)
            if (const Member* m = find_member(g.pending->rec, pk)) return m->name;
    }
    for (const auto& [id, e] : entering)
        if (const Member* m = find_member(e.rec, pk)) return m->name;
    for (const auto& [n, r] : in_requests)
        if (r.from == pk) return r.req.name;
    return {};
}

std::uint64_t Machine::State::random_u64() {
    std::array<std::uint8_t, 8> b{};
    crypto.random(b);
    std::uint64_t v = 0;
    for (auto x : b) v = v << 8 | x;
    return v;
}

GroupKey Machine::State::random_key() {
    GroupKey k{};
    crypto.random(k);
    return k;
}

const Member* Machine::State::find_member(const GroupRecordBody& r, const PublicKey& pk) const {
    for (const auto& m : r.members)
        if (m.key == pk) return &m;
    return nullptr;
}

Member Machine::State::member_or_key(const Group& g, const PublicKey& pk) const {
    if (const Member* m = find_member(g.rec, pk)) return *m;
    if (pk == self.pk) return Member{self.pk, self.name, kx_pk};
    return Member{pk, {}, {}};
}

wire::Ticket relay_ticket(const wire::GroupRecordBody& r) {
    wire::Ticket t;
    t.room = r.group;
    t.relay_key = r.relay_key;
    t.relay = r.relay;
    t.epoch = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.epoch, std::numeric_limits<std::uint32_t>::max()));
    for (const auto& m : r.members) t.members.push_back(wire::TicketMember{m.name, m.key});
    t.issuer = r.members.empty() ? std::string() : r.members.front().name;
    t.group = true;
    return t;
}

wire::SignedBlob relay_ticket_blob(const wire::GroupRecordBody& r) {
    return wire::SignedBlob{wire::encode(relay_ticket(r)), r.relay_sig};
}

SignedBlob Machine::State::sign_record(GroupRecordBody& body) {
    if (body.relay_key != PublicKey{}) body.relay_sig = crypto.sign(self.sk, wire::encode(relay_ticket(body)));
    else body.relay = {}, body.relay_sig = {};
    SignedBlob b;
    b.body = wire::encode(body);
    b.sig = crypto.sign(self.sk, with_context(kRecordContext, b.body));
    return b;
}

// A record is taken only when it is well formed and signed by its own coordinator.
std::optional<GroupRecordBody> Machine::State::check_record(const SignedBlob& blob) {
    auto r = wire::decode_group_record(blob.body);
    if (!r) {
        ++stats.malformed;
        return std::nullopt;
    }
    GroupRecordBody& b = r.value();
    bool ok = !b.members.empty() && b.epoch >= 1 && b.kind <= 1 && b.change <= 6 &&
              (b.kind == 0 || b.members.size() == 2) && b.group != kRequestsRecord;
    for (std::size_t i = 0; ok && i < b.members.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (b.members[i].key == b.members[j].key) ok = false;
    if (!ok) {
        ++stats.malformed;
        return std::nullopt;
    }
    if (!crypto.verify(b.members.front().key, with_context(kRecordContext, blob.body), blob.sig) ||
        (b.relay_key != PublicKey{} &&
         !crypto.verify(b.members.front().key, wire::encode(relay_ticket(b)), b.relay_sig))) {
        ++stats.bad_signature;
        return std::nullopt;
    }
    return std::move(b);
}

Bytes Machine::State::seal_key(const GroupKey& key, const Member& to) { return crypto.seal(key, to.kx); }

std::optional<GroupKey> Machine::State::open_key(ByteView sealed) {
    if (sealed.empty()) return std::nullopt;
    auto plain = crypto.open(sealed, kx_pk, kx_sk);
    if (!plain || plain->size() != 32) return std::nullopt;
    GroupKey k{};
    std::copy(plain->begin(), plain->end(), k.begin());
    return k;
}

// A group's state goes to the store once per input, after everything the input changed.
void Machine::State::flush() {
    for (const auto& id : dirty) {
        auto it = groups.find(id);
        if (it == groups.end()) {
            store_out.push_back(StoreRecord{id, {}});
            continue;
        }
        const Group& g = it->second;
        if (g.forming) continue;
        wire::GroupState st;
        st.record = g.blob;
        st.keys = g.keys;
        for (const auto& [stream, next] : g.next) {
            if (st.streams.size() == wire::kMaxGroupStreams) break;
            st.streams.push_back(wire::GroupStream{std::get<0>(stream), std::get<1>(stream), std::get<2>(stream), next});
        }
        for (const auto& pk : g.lost) {
            if (st.lost.size() == wire::kMaxGroupMembers) break;
            st.lost.push_back(pk);
        }
        st.own_next = g.own_next;
        st.max_epoch = g.max_epoch;
        store_out.push_back(StoreRecord{id, wire::encode(st)});
    }
    dirty.clear();
    if (requests_dirty) {
        wire::GroupRequests r;
        for (const auto& [nonce, o] : out_requests)
            if (r.out.size() < wire::kMaxStoredRequests)
                r.out.push_back(wire::GroupOutRequest{nonce, o.to, static_cast<std::uint8_t>(o.kind)});
        for (const auto& [id, in] : in_requests)
            if (r.in.size() < wire::kMaxStoredRequests)
                r.in.push_back(wire::GroupInRequest{id, in.from, wire::encode_group(wire::GroupMessage{in.req})});
        r.next_id = next_request_id;
        store_out.push_back(StoreRecord{kRequestsRecord, wire::encode(r)});
        requests_dirty = false;
    }
}

void Machine::State::dispatch(const PublicKey& from, wire::GroupMessage&& m) {
    std::visit(
        [&](auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, wire::GroupRequest>) on_request(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupAnswer>) on_answer(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupEnter>) on_enter(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupInvite>) on_invite(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupUpdate>) on_update(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupPeerEnter>) on_peer_enter(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupDone>) on_done(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupAbort>) on_abort(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupRelease>) on_release(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupRename>) on_rename(from, v);
            else if constexpr (std::is_same_v<T, GroupLine>) on_line(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupSync>) on_sync(from, v);
            else if constexpr (std::is_same_v<T, wire::GroupWant>) on_want(from, v);
        },
        m);
}

void Machine::State::command(const Command& c) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, cmd::Request>) request(v);
            else if constexpr (std::is_same_v<T, cmd::Reply>) reply(v);
            else if constexpr (std::is_same_v<T, cmd::Invite>) invite(v);
            else if constexpr (std::is_same_v<T, cmd::Remove>) remove(v.group, v.member);
            else if constexpr (std::is_same_v<T, cmd::Leave>) leave(v.group);
            else if constexpr (std::is_same_v<T, cmd::Rename>) rename(v.group, v.title);
            else if constexpr (std::is_same_v<T, cmd::Say>) say(v.group, v.text);
            else if constexpr (std::is_same_v<T, cmd::Move>) move(v.group, v.relay);
        },
        c);
}

void Machine::State::on_timeout() {
    std::vector<GroupId> ids;
    for (const auto& [id, g] : groups) ids.push_back(id);
    for (const auto& id : ids) {
        auto it = groups.find(id);
        if (it == groups.end()) continue;
        Group& g = it->second;
        if (g.txn && g.txn->deadline <= now) abort_txn(id);
        it = groups.find(id);
        if (it == groups.end()) continue;
        if (g.pending && g.pending->deadline <= now) g.pending.reset();
        for (auto w = g.peers_waiting.begin(); w != g.peers_waiting.end();) {
            if (w->deadline > now) {
                ++w;
                continue;
            }
            send(w->newcomer, wire::GroupAnswer{0, static_cast<std::uint8_t>(Answer::no_updated_group), id, w->epoch,
                                                w->coordinator, {}, {}});
            w = g.peers_waiting.erase(w);
        }
        if (!g.forming && g.next_sync <= now) {
            g.next_sync = now + config.sync_interval;
            sync(id);
        }
        maintain(id);
    }
    entering_timeouts();
}

// ---------------------------------------------------------------------------

Machine::Machine(Config config, Self self, Crypto& crypto)
    : s_(std::make_unique<State>(config, std::move(self), crypto)) {}
Machine::~Machine() = default;

Result<void> Machine::restore(const GroupId& id, ByteView bytes) {
    if (id != kRequestsRecord) return restore(bytes);
    auto r = wire::decode_group_requests(bytes);
    if (!r) return err(r.error());
    auto& s = *s_;
    for (const auto& o : r->out) {
        if (o.kind > 1 || s.out_requests.size() >= s.config.max_requests) continue;
        s.out_requests[o.nonce] = OutRequest{o.to, static_cast<Kind>(o.kind)};
    }
    s.next_request_id = std::max(s.next_request_id, r->next_id);
    for (const auto& in : r->in) {
        auto m = wire::decode_group(in.request);
        auto* q = m ? std::get_if<wire::GroupRequest>(&m.value()) : nullptr;
        if (!q || q->kind > 1 || in.id == 0 || s.in_requests.size() >= s.config.max_requests) continue;
        s.in_requests[in.id] = InRequest{in.from, *q};
        s.next_request_id = std::max(s.next_request_id, in.id + 1);
        // Shown again: the user may answer it now.
        s.emit(ev::RequestArrived{in.id, in.from, q->name, static_cast<Kind>(q->kind), q->invitation, q->group,
                                  q->title});
    }
    return {};
}

Result<void> Machine::restore(ByteView bytes) {
    auto st = wire::decode_group_state(bytes);
    if (!st) return err(st.error());
    auto body = s_->check_record(st->record);
    if (!body) return err("group state: its record does not hold");
    if (!s_->is_member(*body, s_->self.pk)) return err("group state: we are not in its list");
    Group g;
    g.rec = *body;
    g.blob = st->record;
    g.keys = st->keys;
    for (const auto& s : st->streams) g.next[{s.author, s.epoch, s.coordinator}] = s.next;
    g.lost.insert(st->lost.begin(), st->lost.end());
    g.own_next = st->own_next;
    g.max_epoch = std::max(st->max_epoch, body->epoch);
    if (g.own_next > 0) g.written.push_back(wire::GroupCount{body->epoch, body->members.front().key, g.own_next});
    const GroupId id = body->group;
    s_->groups[id] = std::move(g);
    if (body->relay_key != PublicKey{}) s_->transport(id, &s_->groups.at(id).rec);
    return {};
}

void Machine::handle_message(TimeMs now, const PublicKey& from, ByteView bytes, bool via_room) {
    s_->now = now;
    auto m = wire::decode_group(bytes);
    if (!m) {
        ++s_->stats.malformed;
        return;
    }
    s_->via_room = via_room;
    s_->dispatch(from, std::move(m).value());
    s_->via_room = false;
    s_->flush();
}

void Machine::handle_lost(TimeMs now, const PublicKey& peer) {
    s_->now = now;
    s_->lost(peer);
    s_->flush();
}

void Machine::handle_back(TimeMs now, const PublicKey& peer) {
    s_->now = now;
    s_->back(peer);
    s_->flush();
}

void Machine::handle_timeout(TimeMs now) {
    s_->now = now;
    s_->on_timeout();
    s_->flush();
}

void Machine::handle_command(TimeMs now, const Command& command) {
    s_->now = now;
    s_->command(command);
    s_->flush();
}

std::optional<StoreRecord> Machine::poll_store() { return pop_front(s_->store_out); }
std::optional<Event> Machine::poll_event() { return pop_front(s_->events); }
std::optional<Outgoing> Machine::poll_message() { return pop_front(s_->messages); }
std::optional<Transport> Machine::poll_transport() { return pop_front(s_->transports); }

std::optional<TimeMs> Machine::poll_timeout() const {
    std::optional<TimeMs> t;
    auto at = [&](TimeMs d) {
        if (!t || d < *t) t = d;
    };
    for (const auto& [id, g] : s_->groups) {
        if (g.txn) at(g.txn->deadline);
        if (g.pending) at(g.pending->deadline);
        for (const auto& w : g.peers_waiting) at(w.deadline);
        if (!g.forming) at(g.next_sync);
    }
    for (const auto& [id, e] : s_->entering) at(e.deadline);
    return t;
}

static GroupView view_of(const Machine::State& s, const Group& g) {
    GroupView v;
    v.id = g.rec.group;
    v.kind = static_cast<Kind>(g.rec.kind);
    v.title = g.rec.title;
    v.epoch = g.rec.epoch;
    v.members = g.rec.members;
    v.has_key = s.has_current_key(g);
    if (g.rec.relay_key != PublicKey{}) v.relay = cmd::Relay{g.rec.relay, g.rec.relay_key};
    v.coordinating = s.we_coordinate(g);
    return v;
}

std::vector<GroupView> Machine::groups() const {
    std::vector<GroupView> out;
    for (const auto& [id, g] : s_->groups)
        if (!g.forming) out.push_back(view_of(*s_, g));
    return out;
}

std::optional<GroupView> Machine::group(const GroupId& id) const {
    auto it = s_->groups.find(id);
    if (it == s_->groups.end() || it->second.forming) return std::nullopt;
    return view_of(*s_, it->second);
}

const Stats& Machine::stats() const { return s_->stats; }
const KxPublicKey& Machine::kx() const { return s_->kx_pk; }

}  // namespace dc::groups
