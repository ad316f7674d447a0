// The transfer machine: offers and answers, their sessions, commands, cancels, records to
// resume from and timeouts (the chunk path is in chunks.cpp).

#include "state.hpp"

#include "core/queue.hpp"

#include <algorithm>
#include <bit>

namespace dc::files {

void Machine::State::save(const FileId& id, Transfer& t) {
    // The record counts chunks written: their bytes are on disk first.
    if (t.unsynced) io.push_back(io::Sync{id, t.path});
    t.unsynced = false;
    wire::FileState s{t.blob, t.key, static_cast<std::uint8_t>(t.side), static_cast<std::uint8_t>(t.phase),
                      t.peer, t.path, t.final_path, t.have, t.sealed, t.group, t.session, t.answered, t.replies};
    const Key k = t.place(id);
    store.push_back({id, t.side, k.peer, wire::encode(s), k.session});
    t.since_store = 0;
}

void Machine::State::forget(const Key& k) {
    store.push_back({k.id, k.side, k.peer, {}, k.session});
    auto it = transfers.find(k);
    if (it == transfers.end()) return;
    if (it->second.offer_to_sessions()) {
        closed.push_back(k.id);
        if (closed.size() > kMaxClosedOffers) closed.pop_front();
    }
    transfers.erase(it);
}

// The transfer of id on side whose peer is from: a member's own place on the
// sending side of a group's file, a session's own place on the sending side of a file
// to a contact, else the file's one place (the offer, or a transfer whose receiver's
// session is not known: a room's member, one taken before sessions had their own).
Transfer* Machine::State::find(Side side, const FileId& id, const PublicKey& from, const SessionId& session) {
    auto it = transfers.find({side, id, from, {}});
    if (it == transfers.end() && session != SessionId{}) it = transfers.find({side, id, {}, session});
    if (it == transfers.end()) it = transfers.find({side, id, {}, {}});
    if (it == transfers.end() || it->second.peer != from) {
        ++stats.refused;
        return nullptr;
    }
    return &it->second;
}

// The sending transfer an answer from a receiver's session is about: that session's own,
// made from the offer the first time the session takes it (the offer stays open to the
// receiver's other sessions until each answered). A session of a contact that answers
// an offer of ours that ended (closed) is told so.
Transfer* Machine::State::answering(const FileId& id, const PublicKey& from, const SessionId& session) {
    if (session != SessionId{} && std::find(closed.begin(), closed.end(), id) != closed.end() &&
        std::none_of(transfers.begin(), transfers.end(),
                     [&](const auto& x) { return x.first.id == id && x.first.side != Side::receiving; })) {
        not_offered(id, from, session, wire::CancelReason::not_offered);
        return nullptr;
    }
    Transfer* t = find(Side::sending, id, from, session);
    if (!t || session == SessionId{} || !t->offer_to_sessions() || t->phase != Phase::offered) return t;
    auto* reply = t->reply_of(session, true);
    if (!reply) {
        not_offered(id, from, session, wire::CancelReason::too_many);
        return nullptr;
    }
    if (reply->reply >= static_cast<std::uint8_t>(wire::Reply::received)) {
        ++stats.refused;  // that session is done with it: an answer repeated late
        return nullptr;
    }
    if (full()) {
        ++stats.refused;  // it asks again
        return nullptr;
    }
    reply->reply = static_cast<std::uint8_t>(wire::Reply::receiving);
    mark_answered(id, *t);
    Transfer c = t->sending_copy();
    c.key = t->key;
    c.peer = t->peer;
    c.session = session;
    return &transfers.emplace(c.place(id), std::move(c)).first->second;
}

// An answer to an offer to a contact's sessions: it is not sent again once any session
// answered, and its record keeps what each session answered.
void Machine::State::mark_answered(const FileId& id, Transfer& offer) {
    offer.answered = true;
    offer.offer_due = kNever;
    save(id, offer);
}

// What a session of the receiver did with the offer (declined, or its copy is done): the
// offer ends once every session it keeps is done and no session's transfer is under way.
void Machine::State::replied(const FileId& id, const SessionId& session, wire::Reply reply) {
    auto it = transfers.find({Side::sending, id, {}, {}});
    if (session == SessionId{} || it == transfers.end() || !it->second.offer_to_sessions()) return;
    Transfer& offer = it->second;
    if (auto* r = offer.reply_of(session, true)) r->reply = static_cast<std::uint8_t>(reply);
    const bool under_way = std::any_of(transfers.begin(), transfers.end(), [&](const auto& x) {
        return x.first.side == Side::sending && x.first.id == id && x.first.session != SessionId{};
    });
    if (offer.settled() && !under_way) return forget(it->first);
    mark_answered(id, offer);
}

// A session of the peer answered a file we cannot serve it: one fileCancel says why.
void Machine::State::not_offered(const FileId& id, const PublicKey& from, const SessionId& session,
                                 wire::CancelReason why) {
    ++stats.refused;
    send(from, session, wire::FileCancel{id, static_cast<std::uint8_t>(why)});
}

Transfer* Machine::State::at(Side side, const FileId& id) {
    auto it = transfers.find({side, id, {}});
    return it == transfers.end() ? nullptr : &it->second;
}

void Machine::State::on_offer(TimeMs now, const PublicKey& from, const wire::FileOffer& o) {
    auto m = open_manifest(crypto, o.manifest, wire::kMaxFileSize);
    if (!m) {
        ++stats.malformed;
        events.push_back(ev::Refused{from, m.error()});
        return;
    }
    if (!zero(o.group)) return on_group_offer(now, from, o, std::move(*m));
    if (m->sender != from) {
        ++stats.refused;
        events.push_back(ev::Refused{from, "an offer signed by someone else"});
        return;
    }
    if (at(Side::receiving, m->id)) return;  // offered again: the user decides once
    if (too_large(from, *m)) {
        send(from, wire::FileAnswer{m->id, false});
        return;
    }
    auto key = crypto.open(o.key, self.kx_pk, self.kx_sk);
    if (!key || key->size() != sizeof(FileKey)) {
        ++stats.refused;
        events.push_back(ev::Refused{from, "the key of '" + m->name + "' does not open"});
        return;
    }
    if (full()) {
        ++stats.refused;
        events.push_back(ev::Refused{from, "too many transfers at once"});
        return;
    }
    Transfer t;
    t.side = Side::receiving;
    t.blob = o.manifest;
    t.m = std::move(*m);
    std::copy(key->begin(), key->end(), t.key.begin());
    t.peer = from;
    t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
    events.push_back(ev::Offered{t.m.id, from, t.m.name, t.m.size, t.m.media_type});
    transfers.emplace(Key{Side::receiving, t.m.id, {}}, std::move(t));
}

bool Machine::State::too_large(const PublicKey& from, const Manifest& m) {
    if (m.size <= cfg.max_size) return false;
    events.push_back(ev::Refused{from, "'" + m.name + "' is " + std::to_string(m.size) +
                                           " bytes, above the limit of " + std::to_string(cfg.max_size)});
    return true;
}

bool Machine::State::usable(const FileId& id, const std::string& partial, const std::string& final_path) {
    if (!partial.empty() && !final_path.empty() && partial.size() <= wire::kMaxFilePath &&
        final_path.size() <= wire::kMaxFilePath)
        return true;
    events.push_back(ev::Failed{id, "no usable path"});
    return false;
}

void Machine::State::offer(TimeMs now, Transfer& t) {
    send(t, wire::FileOffer{t.blob, t.sealed, t.group});
    ++t.offer_tries;
    t.offer_due = t.offer_tries < cfg.offer_attempts ? now + cfg.offer_retry : kNever;
}

void Machine::State::accepted(const FileId& id, Transfer& t) {
    if (t.phase != Phase::offered) return;
    t.phase = Phase::transferring;
    t.offer_due = kNever;
    events.push_back(ev::Accepted{id, t.peer});
    save(id, t);
}

void Machine::State::on_want(const PublicKey& from, const SessionId& session, const wire::FileWant& w) {
    Transfer* t = answering(w.id, from, session);
    if (!t) return;
    accepted(w.id, *t);
    const Key k = t->place(w.id);
    for (std::uint32_t i : w.chunks) {
        if (i >= t->chunks || t->reading.contains(i)) continue;
        if (t->reading.size() >= cfg.max_reads) break;  // asked again after its timeout
        t->reading.insert(i);
        io.push_back(io::Read{w.id, Side::sending, t->path, i, t->offset(i), t->length(i), k.peer, k.session});
    }
}

// The file cannot be served (changed or unreadable): the transfer ends with a fileCancel,
// which reaches every session of the receiver, and so does every other transfer of the
// file to them (the offer and each session's).
void Machine::State::unservable(const FileId& id, Transfer& t, const std::string& why) {
    events.push_back(ev::Failed{id, why});
    send(t.peer, wire::FileCancel{id, static_cast<std::uint8_t>(wire::CancelReason::unreadable)});
    std::vector<Key> keys{t.place(id)};
    if (zero(t.group))
        for (const auto& [k, o] : transfers)
            if (k.side == Side::sending && k.id == id && zero(o.group) && k != keys.front()) keys.push_back(k);
    for (const Key& k : keys) forget(k);
}

void Machine::State::command(TimeMs now, const cmd::Offer& c) {
    auto m = open_manifest(crypto, c.manifest, wire::kMaxFileSize);
    if (!m || m->sender != self.pk) {
        events.push_back(ev::Failed{m ? m->id : FileId{}, "not a manifest of ours"});
        return;
    }
    const Key k{Side::sending, m->id, {}, {}};
    if (transfers.contains(k)) {
        events.push_back(ev::Failed{m->id, "'" + m->name + "' is already offered"});
        return;
    }
    if (full() || c.path.empty() || c.path.size() > wire::kMaxFilePath) {
        events.push_back(ev::Failed{m->id, full() ? "too many transfers at once"
                                                                                  : "no usable path"});
        return;
    }
    Transfer t;
    t.side = Side::sending;
    t.blob = c.manifest;
    t.m = std::move(*m);
    crypto.random(t.key);
    t.sealed = crypto.seal(t.key, c.to_kx);
    t.peer = c.to;
    t.path = c.path;
    t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
    for (const SessionId& s : c.sessions)
        if (s != SessionId{}) t.reply_of(s, true);
    Transfer& held = transfers.emplace(k, std::move(t)).first->second;
    save(k.id, held);
    offer(now, held);
}

void Machine::State::command(TimeMs now, const cmd::Accept& c) {
    auto it = transfers.find({Side::receiving, c.id, {}});
    if (it == transfers.end()) return accept_shared(now, c);
    if (it->second.phase != Phase::offered) return;
    if (!usable(c.id, c.partial_path, c.final_path)) return;
    Transfer& t = it->second;
    t.phase = Phase::transferring;
    t.path = c.partial_path;
    t.final_path = c.final_path;
    t.have.assign((t.chunks + 7) / 8, 0);
    send(t.peer, wire::FileAnswer{c.id, true});
    if (t.chunks == 0) {  // an empty file: make it, then check it
        io.push_back(io::Write{c.id, t.path, 0, {}});
        return start_verify(c.id, t);
    }
    save(c.id, t);
    fill(now, c.id, t);
}

void Machine::State::command(TimeMs, const cmd::Decline& c) {
    if (announced.erase(c.id)) {
        std::erase(announced_order, c.id);
        return;
    }
    auto it = transfers.find({Side::receiving, c.id, {}});
    if (it == transfers.end() || it->second.phase != Phase::offered) return;
    send(it->second.peer, wire::FileAnswer{c.id, false});
    transfers.erase(it);
}

void Machine::State::command(TimeMs, const cmd::Cancel& c) {
    std::vector<Key> keys;
    for (const auto& [k, t] : transfers)
        if (k.side == c.side && k.id == c.id) keys.push_back(k);
    // One event for the file, however many of its transfers (an offer and its sessions') end.
    if (!keys.empty()) events.push_back(ev::Cancelled{c.id, self.pk});
    for (const Key& k : keys) {
        auto it = transfers.find(k);
        Transfer& t = it->second;
        if (t.side == Side::receiving && t.phase == Phase::offered) {
            send(t.peer, wire::FileAnswer{c.id, false});
            transfers.erase(it);
            continue;
        }
        if (t.phase != Phase::asking) send(t, wire::FileCancel{c.id});
        if (t.side == Side::receiving) io.push_back(io::Remove{c.id, t.path});
        forget(k);
    }
}

void Machine::State::on_cancel(TimeMs now, const PublicKey& from, const SessionId& session,
                               const wire::FileCancel& c) {
    bool any = false;
    bool session_ended = false;
    // From a session of a contact: only that session's transfer ends, never the offer,
    // which the others may still take.
    for (Key k : {Key{Side::sending, c.id, from, {}}, Key{Side::sending, c.id, {}, session},
                  Key{Side::sending, c.id, {}, {}}, Key{Side::receiving, c.id, {}, {}}}) {
        auto it = transfers.find(k);
        if (it == transfers.end() || it->second.peer != from) continue;
        if (session != SessionId{} && it->second.offer_to_sessions() && it->second.phase == Phase::offered) continue;
        any = true;
        Transfer& t = it->second;
        // A member serving a group's file stopped: another may serve the rest.
        if (k.side == Side::receiving && !zero(t.group) && t.phase == Phase::transferring) {
            t.phase = Phase::asking;  // no fileCancel back
            reask(now, c.id, t);
            continue;
        }
        const bool stored = !(k.side == Side::receiving && t.phase == Phase::offered);
        if (k.side == Side::receiving && stored) io.push_back(io::Remove{c.id, t.path});
        const auto why = c.reason <= static_cast<std::uint8_t>(wire::CancelReason::too_many)
                             ? static_cast<wire::CancelReason>(c.reason)
                             : wire::CancelReason::cancelled;
        events.push_back(ev::Cancelled{c.id, from, k.side == Side::receiving ? why : wire::CancelReason::cancelled});
        session_ended = session_ended || k.session != SessionId{};
        if (stored) forget(it->first);
        else transfers.erase(it);
    }
    if (!any) ++stats.refused;
    if (session_ended) replied(c.id, session, wire::Reply::cancelled);
}

void Machine::State::on_message(TimeMs now, const PublicKey& from, const SessionId& session, ByteView bytes) {
    auto msg = wire::decode_file(bytes);
    if (!msg) {
        ++stats.malformed;
        return;
    }
    if (auto* o = std::get_if<wire::FileOffer>(&*msg)) return on_offer(now, from, *o);
    if (auto* sh = std::get_if<wire::FileShare>(&*msg)) return on_share(from, *sh);
    if (auto* a = std::get_if<wire::FileAsk>(&*msg)) return on_ask(now, from, *a);
    if (auto* c = std::get_if<wire::FileChunk>(&*msg)) return on_chunk(now, std::move(*c));
    if (auto* w = std::get_if<wire::FileWant>(&*msg)) return on_want(from, session, *w);
    if (auto* c = std::get_if<wire::FileCancel>(&*msg)) return on_cancel(now, from, session, *c);
    if (auto* a = std::get_if<wire::FileAnswer>(&*msg)) {
        Transfer* t = a->accept ? answering(a->id, from, session) : find(Side::sending, a->id, from, session);
        if (!t) return;
        if (a->accept) return accepted(a->id, *t);
        if (t->phase != Phase::offered) return;
        if (zero(t->group)) events.push_back(ev::Declined{a->id, from});  // in a group: another member served it
        // One session declined: the offer stays open to the others.
        if (session != SessionId{} && t->offer_to_sessions()) return replied(a->id, session, wire::Reply::declined);
        return forget(t->place(a->id));
    }
    if (auto* d = std::get_if<wire::FileDone>(&*msg)) {
        Transfer* t = find(Side::sending, d->id, from, session);
        if (!t) return;
        if (session != SessionId{} && t->offer_to_sessions() && t->phase == Phase::offered) {
            ++stats.refused;  // done with a transfer this session never had
            return;
        }
        if (d->ok) events.push_back(ev::Delivered{d->id, from});
        else events.push_back(ev::Failed{d->id, "the receiver could not check '" + t->m.name + "'"});
        const Key k = t->place(d->id);
        forget(k);
        replied(d->id, k.session, d->ok ? wire::Reply::received : wire::Reply::failed);
    }
}

Result<void> Machine::State::restore(ByteView bytes) {
    auto s = wire::decode_file_state(bytes);
    if (!s) return err(s.error());
    auto m = open_manifest(crypto, s->manifest, wire::kMaxFileSize);
    if (!m) return err(m.error());
    if (s->side > 2 || s->phase > 3) return err("fileState: bad side or phase");
    Transfer t;
    t.side = static_cast<Side>(s->side);
    t.phase = static_cast<Phase>(s->phase);
    t.blob = std::move(s->manifest);
    t.m = std::move(*m);
    t.key = s->key;
    t.peer = s->peer;
    t.path = std::move(s->path);
    t.final_path = std::move(s->final_path);
    t.sealed = std::move(s->sealed);
    t.group = s->group;
    t.session = s->session;
    t.answered = s->answered;
    t.replies = std::move(s->replies);
    t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
    if (t.path.empty()) return err("fileState: no path");
    if ((t.session != SessionId{} || t.answered) && (t.side != Side::sending || !zero(t.group)))
        return err("fileState: only a file to a contact goes to a session");
    if (!t.replies.empty() && !t.offer_to_sessions()) return err("fileState: only an offer keeps sessions' answers");
    if (t.phase == Phase::asking && (t.side != Side::receiving || zero(t.group)))
        return err("fileState: only a group's file is asked for");
    if (t.side == Side::holding) {
        if (zero(t.group)) return err("fileState: a file held for no group");
    } else if (t.side == Side::receiving) {
        if (t.phase == Phase::offered || t.final_path.empty()) return err("fileState: an offer is not stored");
        if (s->have.size() != (t.chunks + 7) / 8) return err("fileState: chunk bits do not match the manifest");
        t.have = std::move(s->have);
        for (std::uint64_t i = t.chunks; i < t.have.size() * 8; ++i) t.clear(static_cast<std::uint32_t>(i));
        for (auto b : t.have) t.have_count += static_cast<std::uint64_t>(std::popcount(b));
        t.kick = true;
    } else if (t.phase == Phase::offered && t.answered) {
        // answered: open to the sessions that did not, and not sent again
    } else if (t.phase == Phase::offered && t.session == SessionId{}) {
        if (t.sealed.empty()) return err("fileState: no sealed key to offer again");
        t.offer_due = 0;
    } else if (t.phase == Phase::verifying) {
        return err("fileState: a sender does not verify");
    }
    const Key k = t.place(t.m.id);
    if (transfers.contains(k)) return err("fileState: stored twice");
    transfers.emplace(k, std::move(t));
    return {};
}

void Machine::State::timeout(TimeMs now) {
    // A transfer may end (and leave the map) while it is handled: walk a copy of the keys.
    std::vector<Key> keys;
    keys.reserve(transfers.size());
    for (const auto& [k, t] : transfers) keys.push_back(k);
    for (const Key& k : keys) {
        auto it = transfers.find(k);
        if (it == transfers.end()) continue;
        Transfer& t = it->second;
        if (t.side == Side::holding) continue;
        if (t.side == Side::sending) {
            if (t.phase == Phase::offered && t.offer_due <= now) offer(now, t);
            continue;
        }
        if (t.kick) {
            t.kick = false;
            t.heard = now;
            if (t.phase == Phase::verifying || t.have_count == t.chunks) {
                start_verify(k.id, t);
                continue;
            }
            if (t.phase == Phase::asking) t.ask_due = now;
        }
        if (t.phase == Phase::asking) {
            if (t.ask_due <= now) ask(now, k.id, t);
            continue;
        }
        if (t.phase != Phase::transferring) continue;
        if (!zero(t.group) && now - t.heard >= cfg.holder_timeout) {
            reask(now, k.id, t);
            continue;
        }
        if (t.stalled_until != 0 && t.stalled_until <= now) t.stalled_until = 0;
        for (auto a = t.asked.begin(); a != t.asked.end();) {
            if (a->second <= now) {
                t.again.insert(a->first);
                a = t.asked.erase(a);
            } else {
                ++a;
            }
        }
        fill(now, k.id, t);
    }
    for (auto f = finds.begin(); f != finds.end();) {
        if (f->second.due > now) {
            ++f;
        } else if (f->second.asks >= kFindAsks) {
            events.push_back(ev::Failed{FileId{}, "no member holds '" + f->first.second + "'"});
            io.push_back(io::Remove{FileId{}, f->second.partial_path});
            f = finds.erase(f);
        } else {
            ask_by_name(now, f->first.first, f->first.second, f->second);
            ++f;
        }
    }
}

std::optional<TimeMs> Machine::State::next_timeout() const {
    TimeMs next = kNever;
    for (const auto& [k, t] : transfers) {
        if (t.kick) return 0;
        if (t.side == Side::sending && t.phase == Phase::offered) next = std::min(next, t.offer_due);
        if (t.side == Side::receiving && t.phase == Phase::asking) next = std::min(next, t.ask_due);
        if (t.side == Side::receiving && t.phase == Phase::transferring && !zero(t.group))
            next = std::min(next, t.heard + cfg.holder_timeout);
        for (const auto& [i, due] : t.asked) next = std::min(next, due);
        if (t.phase == Phase::transferring && t.stalled_until > 0) next = std::min(next, t.stalled_until);
    }
    for (const auto& [k, f] : finds) next = std::min(next, f.due);
    if (next == kNever) return std::nullopt;
    return next;
}


void Machine::handle_write_failed(TimeMs now, const FileId& id, std::uint32_t index) {
    auto it = s_->transfers.find({Side::receiving, id, {}});
    if (it == s_->transfers.end()) return;
    Transfer& t = it->second;
    if (t.phase == Phase::offered || index >= t.chunks || !t.has(index)) return;
    ++s_->stats.write_failed;
    if (t.phase == Phase::verifying) t.phase = Phase::transferring;  // it was the last chunk: the read-back waits
    t.clear(index);
    --t.have_count;
    t.again.insert(index);
    t.stalled_until = now + s_->cfg.write_retry;
    s_->save(id, t);  // after any record of this turn that counted it
}

Machine::Machine(Config config, Self self, Crypto& crypto, Peers* peers)
    : s_(std::make_unique<State>(config, self, crypto, peers)) {}
Machine::~Machine() = default;

Result<void> Machine::restore(ByteView state) { return s_->restore(state); }

void Machine::handle_message(TimeMs now, const PublicKey& from, ByteView bytes, const SessionId& session) {
    s_->on_message(now, from, session, bytes);
}

void Machine::handle_command(TimeMs now, const Command& command) {
    std::visit([&](const auto& c) { s_->command(now, c); }, command);
}

void Machine::handle_read(TimeMs now, const FileId& id, Side side, std::uint32_t index, ByteView bytes,
                          const PublicKey& peer, const SessionId& session) {
    auto it = s_->transfers.find({side, id, peer, session});
    if (it == s_->transfers.end()) return;
    if (side == Side::sending) s_->served_chunk(id, it->second, index, bytes);
    else s_->verified_chunk(now, id, it->second, index, bytes);
}

void Machine::handle_read_failed(TimeMs, const FileId& id, Side side, const std::string& why, const PublicKey& peer,
                                 const SessionId& session) {
    auto it = s_->transfers.find({side, id, peer, session});
    if (it == s_->transfers.end()) return;
    Transfer& t = it->second;
    s_->unservable(id, t, "cannot read '" + t.path + "': " + why);
}

void Machine::handle_opened(TimeMs now, const FileId& id, std::uint32_t index, Opened result, Bytes plain) {
    s_->opened(now, id, index, result, std::move(plain));
}

void Machine::handle_timeout(TimeMs now) { s_->timeout(now); }

std::optional<IoOp> Machine::poll_io() { return pop_front(s_->io); }
std::optional<StoreRecord> Machine::poll_store() { return pop_front(s_->store); }
std::optional<Event> Machine::poll_event() { return pop_front(s_->events); }
std::optional<Outgoing> Machine::poll_message() { return pop_front(s_->out); }
std::optional<TimeMs> Machine::poll_timeout() const { return s_->next_timeout(); }

std::vector<TransferView> Machine::transfers() const {
    std::vector<TransferView> v;
    for (const auto& [k, t] : s_->transfers)
        v.push_back(
            {k.id, t.side, t.phase, t.peer, t.m.name, t.m.size, t.chunks, t.have_count, t.asked.size(), t.group, t.path,
             k.session, t.replies});
    return v;
}

const Stats& Machine::stats() const { return s_->stats; }

}  // namespace dc::files
