// Files shared in a conversation group (darkchat-protocol(7), FILES IN GROUPS): the
// announcements, asking the members for a file (its author first) and by name, a
// member that went quiet replaced by another, and files held to serve the members.

#include "state.hpp"

#include <algorithm>

namespace dc::files {

std::vector<PublicKey> Machine::State::members(const GroupId& g) {
    if (!peers || zero(g)) return {};
    return peers->members(g);
}

bool Machine::State::member(const GroupId& g, const PublicKey& pk) {
    auto ms = members(g);
    return std::find(ms.begin(), ms.end(), pk) != ms.end();
}

// A receiving transfer of a group's file, asking its members before chunks move.
Transfer& Machine::State::take(const Key& k, const wire::SignedBlob& blob, Manifest m, const GroupId& group,
                               const std::string& partial, const std::string& final_path) {
    Transfer t;
    t.side = Side::receiving;
    t.phase = Phase::asking;
    t.blob = blob;
    t.m = std::move(m);
    t.group = group;
    t.path = partial;
    t.final_path = final_path;
    t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
    t.have.assign((t.chunks + 7) / 8, 0);
    return transfers.insert_or_assign(k, std::move(t)).first->second;
}

// Asks the members online for the file: its author first, then every other.
void Machine::State::ask(TimeMs now, const FileId& id, Transfer& t) {
    auto ms = members(t.group);
    if (std::find(ms.begin(), ms.end(), self.pk) == ms.end()) {
        events.push_back(ev::Failed{id, "'" + t.m.name + "': not a member of its group any more"});
        io.push_back(io::Remove{id, t.path});
        return forget(t.place(id));
    }
    const bool author = t.asks == 0 && t.m.sender != self.pk &&
                        std::find(ms.begin(), ms.end(), t.m.sender) != ms.end() && peers->online(t.group, t.m.sender);
    for (const auto& pk : ms)
        if (pk != self.pk && (author ? pk == t.m.sender : peers->online(t.group, pk)))
            send(pk, wire::FileAsk{t.group, id, {}});
    ++t.asks;
    t.ask_due = now + cfg.ask_retry * std::min(t.asks, 10);
}

// The holder went quiet or stopped: the chunks stay, another member is asked.
void Machine::State::reask(TimeMs now, const FileId& id, Transfer& t) {
    if (t.phase == Phase::transferring) send(t.peer, wire::FileCancel{id});
    t.phase = Phase::asking;
    t.peer = {};
    t.key = {};
    for (const auto& [i, due] : t.asked) t.again.insert(i);
    t.asked.clear();
    t.asks = std::max(t.asks, 1);  // every member this time
    save(id, t);
    ask(now, id, t);
}

void Machine::State::on_share(const PublicKey& from, const wire::FileShare& sh) {
    auto m = open_manifest(crypto, sh.manifest, wire::kMaxFileSize);
    if (!m) {
        ++stats.malformed;
        events.push_back(ev::Refused{from, m.error()});
        return;
    }
    if (m->sender != from || !member(sh.group, from) || !member(sh.group, self.pk)) {
        ++stats.refused;
        return;
    }
    if (at(Side::receiving, m->id) || at(Side::holding, m->id) || announced.contains(m->id)) return;  // told again
    if (too_large(from, *m)) return;
    if (announced.size() >= cfg.max_announced) {
        announced.erase(announced_order.front());
        announced_order.pop_front();
    }
    events.push_back(ev::Announced{m->id, sh.group, from, m->name, m->size, m->media_type});
    announced_order.push_back(m->id);
    const FileId id = m->id;
    announced.emplace(id, Announced{sh.group, sh.manifest, std::move(*m)});
}

// A member's answer to our fileAsk, taken without asking the user again (they
// accepted the file, or asked for it by name).
void Machine::State::on_group_offer(TimeMs now, const PublicKey& from, const wire::FileOffer& o, Manifest m) {
    const FileId id = m.id;
    if (!member(o.group, from) || !member(o.group, self.pk)) {
        ++stats.refused;
        return;
    }
    Transfer* t = at(Side::receiving, id);
    if (!t) {
        auto f = finds.find({o.group, m.name});
        if (f == finds.end() || too_large(from, m) || full()) {
            ++stats.refused;
            send(from, wire::FileAnswer{id, false});
            return;
        }
        t = &take({Side::receiving, id, {}}, o.manifest, std::move(m), o.group, f->second.partial_path,
                  f->second.final_path);
        finds.erase(f);
    }
    if (t->group != o.group || t->blob != o.manifest || t->phase != Phase::asking) {
        if (t->peer != from) send(from, wire::FileAnswer{id, false});  // another member serves it
        return;
    }
    auto key = crypto.open(o.key, self.kx_pk, self.kx_sk);
    if (!key || key->size() != sizeof(FileKey)) {
        ++stats.refused;
        return;
    }
    std::copy(key->begin(), key->end(), t->key.begin());
    t->peer = from;
    t->phase = Phase::transferring;
    t->asks = 0;
    t->ask_due = kNever;
    t->heard = now;
    send(from, wire::FileAnswer{id, true});
    if (t->chunks == 0) {
        io.push_back(io::Write{id, t->path, 0, {}});
        return start_verify(id, *t);
    }
    save(id, *t);
    fill(now, id, *t);
}

bool Machine::State::full() const { return transfers.size() - held() >= cfg.max_transfers; }

std::size_t Machine::State::held() const {
    std::size_t n = 0;
    for (const auto& [k, t] : transfers) n += k.side == Side::holding;
    return n;
}

bool Machine::State::hold(const FileId& id, const Transfer& from, const std::string& path) {
    if (held() >= cfg.max_held) return false;
    Transfer h;
    h.side = Side::holding;
    h.phase = Phase::transferring;
    h.blob = from.blob;
    h.m = from.m;
    h.group = from.group;
    h.path = path;
    h.chunks = from.chunks;
    save(id, transfers.insert_or_assign(Key{Side::holding, id, {}}, std::move(h)).first->second);
    return true;
}

void Machine::State::on_ask(TimeMs now, const PublicKey& from, const wire::FileAsk& a) {
    if (!member(a.group, from) || !member(a.group, self.pk)) {
        ++stats.refused;
        return;
    }
    const Transfer* h = nullptr;
    FileId id = a.id;
    for (const auto& [k, t] : transfers)
        if (k.side == Side::holding && t.group == a.group &&
            (a.id == FileId{} ? t.m.name == a.name : k.id == a.id)) {
            h = &t;
            id = k.id;
        }
    if (!h) return;  // not held here: another member may
    const Key k{Side::sending, id, from};
    if (auto it = transfers.find(k); it != transfers.end()) {
        if (it->second.phase == Phase::offered) offer(now, it->second);
        return;
    }
    auto kx = peers->kx_of(from);
    if (!kx || full()) {
        ++stats.refused;
        return;
    }
    Transfer t = h->sending_copy();
    crypto.random(t.key);
    t.sealed = crypto.seal(t.key, *kx);
    t.peer = from;
    Transfer& held = transfers.emplace(k, std::move(t)).first->second;
    save(id, held);
    offer(now, held);
}

// A file shared in a group we heard of: asked of its members.
void Machine::State::accept_shared(TimeMs now, const cmd::Accept& c) {
    auto a = announced.find(c.id);
    if (a == announced.end() || !usable(c.id, c.partial_path, c.final_path)) return;
    if (full()) {
        events.push_back(ev::Failed{c.id, "too many transfers at once"});
        return;
    }
    Transfer& t = take({Side::receiving, c.id, {}}, a->second.blob, std::move(a->second.m), a->second.group,
                       c.partial_path, c.final_path);
    announced.erase(a);
    std::erase(announced_order, c.id);
    save(c.id, t);
    ask(now, c.id, t);
}

void Machine::State::command(TimeMs, const cmd::Share& c) {
    auto m = open_manifest(crypto, c.manifest, wire::kMaxFileSize);
    if (!m || m->sender != self.pk) {
        events.push_back(ev::Failed{m ? m->id : FileId{}, "not a manifest of ours"});
        return;
    }
    const FileId id = m->id;
    auto ms = members(c.group);
    std::string why;
    if (std::find(ms.begin(), ms.end(), self.pk) == ms.end()) why = "not a member of that group";
    else if (at(Side::holding, id)) why = "'" + m->name + "' is already shared";
    else if (c.path.empty() || c.path.size() > wire::kMaxFilePath) why = "no usable path";
    else if (held() >= cfg.max_held) why = "already holding " + std::to_string(cfg.max_held) + " files for groups";
    if (!why.empty()) {
        events.push_back(ev::Failed{id, why});
        return;
    }
    Transfer t;
    t.blob = c.manifest;
    t.m = std::move(*m);
    t.group = c.group;
    t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
    hold(id, t, c.path);
    std::size_t n = 0;
    for (const auto& pk : ms)
        if (pk != self.pk) {
            send(pk, wire::FileShare{c.group, c.manifest});
            ++n;
        }
    events.push_back(ev::Shared{id, c.group, t.m.name, t.m.size, n});
}

void Machine::State::command(TimeMs now, const cmd::Fetch& c) {
    std::string why;
    if (!member(c.group, self.pk)) why = "not a member of that group";
    else if (finds.size() >= cfg.max_finds) why = "too many files asked for by name at once";
    else if (c.name.empty() || c.name.size() > wire::kMaxFileName) why = "no usable name";
    if (why.empty() && !usable(FileId{}, c.partial_path, c.final_path)) return;
    if (!why.empty()) {
        events.push_back(ev::Failed{FileId{}, why});
        return;
    }
    Find& f = finds[{c.group, c.name}];
    f = Find{c.partial_path, c.final_path, now, 0};
    ask_by_name(now, c.group, c.name, f);
}

void Machine::State::ask_by_name(TimeMs now, const GroupId& group, const std::string& name, Find& f) {
    for (const auto& pk : members(group))
        if (pk != self.pk && peers->online(group, pk)) send(pk, wire::FileAsk{group, FileId{}, name});
    ++f.asks;
    f.due = now + cfg.ask_retry;
}

void Machine::State::command(TimeMs, const cmd::Unhold& c) {
    if (at(Side::holding, c.id)) forget({Side::holding, c.id, {}});
}

}  // namespace dc::files
