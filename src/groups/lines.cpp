// Lines: encrypted once under the epoch key (a key per author derived from it, the
// author's sequence number under that epoch as nonce), signed by their author when they
// go member to member (through a relay the room's tags authenticate them), sent to
// every member; shown once each, in each author's order. The periodic sync compares
// records and line counts, so what a crash lost is sent again.

#include "groups/state.hpp"

#include <algorithm>
#include <string_view>

namespace dc::groups {

namespace {

constexpr std::string_view kLineContext = "darkchat group line";
constexpr std::size_t kResendBatch = 64;  // lines sent again for one want

void put_u64(Bytes& b, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

GroupKey author_key(Crypto& crypto, const GroupKey& epoch_key, const PublicKey& author) {
    GroupKey k{};
    crypto.hash(k, epoch_key, author);
    return k;
}

Bytes signed_part(const GroupLine& l) {
    Bytes m(kLineContext.begin(), kLineContext.end());
    const Bytes h = line_header(l);
    m.insert(m.end(), h.begin(), h.end());
    m.insert(m.end(), l.ciphertext.begin(), l.ciphertext.end());
    return m;
}

}  // namespace

Bytes line_header(const GroupLine& l) {
    Bytes b(l.group.begin(), l.group.end());
    put_u64(b, l.epoch);
    b.insert(b.end(), l.coordinator.begin(), l.coordinator.end());
    b.insert(b.end(), l.author.begin(), l.author.end());
    put_u64(b, l.seq);
    return b;
}

void Machine::State::say(const GroupId& id, const std::string& text) {
    auto it = groups.find(id);
    if (it == groups.end() || it->second.forming) return emit(ev::Refused{id, "not in that group"});
    Group& g = it->second;
    if (text.size() > wire::kMaxText) return emit(ev::Refused{id, "line too long"});
    const Rank r = rank_of(g.rec);
    const auto* k = find_key(g, r.first, r.second);
    if (!k) return emit(ev::Refused{id, "waiting for the key of epoch " + std::to_string(r.first)});
    GroupLine l;
    l.group = id;
    l.epoch = r.first;
    l.coordinator = r.second;
    l.author = self.pk;
    l.seq = g.own_next++;
    const ByteView plain(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    l.ciphertext.resize(text.size() + 16);
    crypto.aead_seal(l.ciphertext.data(), plain, line_header(l), l.seq, author_key(crypto, k->key, self.pk));
    // Through the relay, the room tags the line for each member: no signature (one is
    // made if the line is ever sent again member to member, see on_want).
    const bool via_relay = g.rec.relay_key != PublicKey{} && g.rec.members.size() > 1;
    if (!via_relay) l.sig = crypto.sign(self.sk, signed_part(l));
    touch(id);
    auto w = std::find_if(g.written.begin(), g.written.end(),
                          [&](const auto& c) { return c.epoch == r.first && c.coordinator == r.second; });
    if (w == g.written.end()) {
        g.written.push_back(wire::GroupCount{r.first, r.second, 0});
        if (g.written.size() > wire::kMaxGroupCounts) g.written.erase(g.written.begin());
        w = g.written.end() - 1;
    }
    w->count = g.own_next;
    g.log.push_back(l);
    while (g.log.size() > config.max_log) g.log.pop_front();
    // On a relay, one copy to the group's room; the relay hands it to every member.
    if (via_relay) {
        Outgoing o;
        o.bytes = wire::encode_group(l);
        o.via_relay = true;
        o.group = id;
        messages.push_back(std::move(o));
    } else {
        for (const auto& m : g.rec.members) send(m.key, l);
    }
    emit(ev::Line{id, l.epoch, self.pk, self.name, l.seq, text, true});
}

void Machine::State::on_line(const PublicKey& from, const GroupLine& l) {
    if (from != l.author) {  // lines come from their authors, first and again
        ++stats.refused;
        return;
    }
    auto it = groups.find(l.group);
    if (it == groups.end() || it->second.forming) {
        // Called lost and entering again: a line of an epoch we were in may still come.
        auto lg = lingering.find(l.group);
        if (it == groups.end() && lg != lingering.end() && find_key(lg->second, l.epoch, l.coordinator) &&
            (via_room || crypto.verify(l.author, signed_part(l), l.sig)))
            return process_line(l.group, lg->second, l, true);
        ++stats.refused;
        return;
    }
    // Only members, present or past, are heard: nobody else can make us hold or say anything.
    const Group& g = it->second;
    bool known = is_member(g.rec, l.author) || g.lost.count(l.author) ||
                 (g.pending && is_member(g.pending->rec, l.author));
    for (const auto& k : g.keys)
        known = known || std::find(k.members.begin(), k.members.end(), l.author) != k.members.end();
    if (!known) {
        ++stats.refused;
        return;
    }
    if (!via_room && !crypto.verify(l.author, signed_part(l), l.sig)) {
        ++stats.bad_signature;
        return;
    }
    process_line(l.group, l);
}

void Machine::State::process_line(const GroupId& id, const GroupLine& l) {
    process_line(id, groups.at(id), l, false);
}

void Machine::State::process_line(const GroupId& id, Group& g, const GroupLine& l, bool lingering_group) {
    const Rank r{l.epoch, l.coordinator};
    const wire::GroupEpochKey* k = find_key(g, l.epoch, l.coordinator);
    std::optional<wire::GroupEpochKey> from_pending;
    if (!k && g.pending && rank_of(g.pending->rec) == r && g.pending->key) {
        from_pending = wire::GroupEpochKey{l.epoch, l.coordinator, *g.pending->key, {}};
        for (const auto& m : g.pending->rec.members) from_pending->members.push_back(m.key);
        k = &*from_pending;
    }
    if (!k) {
        if (r > rank_of(g.rec) || (r == rank_of(g.rec))) {
            // Its epoch is newer than our record (or its key is still on its way).
            if (g.no_key.size() + g.ahead.size() < config.max_held_lines) {
                g.no_key.push_back(l);
                if (g.told_waiting.insert(l.epoch).second) emit(ev::WaitingForKey{id, l.epoch});
            }
        } else {
            if (g.told_not_member.size() >= config.max_epoch_keys) g.told_not_member.clear();
            if (g.told_not_member.insert(l.epoch).second) emit(ev::NotMember{id, l.epoch});
        }
        return;
    }
    if (std::find(k->members.begin(), k->members.end(), l.author) == k->members.end()) {
        ++stats.refused;
        return;
    }
    const StreamId sid{l.author, l.epoch, l.coordinator};
    std::uint64_t& next = g.next[sid];
    if (l.seq < next) {
        ++stats.duplicate;
        return;
    }
    if (l.seq > next) {
        std::size_t held = g.no_key.size();
        for (const auto& [s, m] : g.ahead) held += m.size();
        if (held < config.max_held_lines) g.ahead[sid].emplace(l.seq, l);
        return;
    }
    const GroupKey key = author_key(crypto, k->key, l.author);
    const Member author = member_or_key(g, l.author);
    std::string name = author.name;
    if (name.empty())
        for (const auto& m : g.pending ? g.pending->rec.members : std::vector<Member>{})
            if (m.key == l.author) name = m.name;
    auto deliver = [&](const GroupLine& x) {
        if (x.ciphertext.size() < 16) {
            ++stats.undecryptable;
            return;
        }
        std::string text(x.ciphertext.size() - 16, '\0');
        if (!crypto.aead_open(reinterpret_cast<std::uint8_t*>(text.data()), x.ciphertext, line_header(x), x.seq,
                              key)) {
            ++stats.undecryptable;
            return;
        }
        emit(ev::Line{id, x.epoch, x.author, name, x.seq, std::move(text), false});
    };
    deliver(l);
    ++next;
    auto a = g.ahead.find(sid);
    while (a != g.ahead.end() && !a->second.empty() && a->second.begin()->first <= next) {
        auto first = a->second.begin();
        if (first->first == next) {
            deliver(first->second);
            ++next;
        }
        a->second.erase(first);
    }
    if (a != g.ahead.end() && a->second.empty()) g.ahead.erase(a);
    if (!lingering_group) touch(id);  // a lingering group is never stored (see lingering)
}

void Machine::State::release_held(const GroupId& id) {
    auto it = groups.find(id);
    if (it == groups.end() || it->second.no_key.empty()) return;
    std::vector<GroupLine> held;
    held.swap(it->second.no_key);
    for (const auto& l : held) {
        if (!groups.count(id)) return;
        process_line(id, l);
    }
}

void Machine::State::sync(const GroupId& id, const PublicKey* only) {
    const Group& g = groups.at(id);
    const Rank r = rank_of(g.rec);
    wire::GroupSync s{id, r.first, r.second, !has_current_key(g), g.written};
    if (only) return send(*only, s);
    for (const auto& m : g.rec.members)
        if (m.key != self.pk && !g.down.count(m.key)) send(m.key, s);
}

void Machine::State::on_sync(const PublicKey& from, const wire::GroupSync& s) {
    auto it = groups.find(s.group);
    if (it == groups.end() || it->second.forming) {
        if (!entering.count(s.group) && knows(s.group))
            send(from, wire::GroupAnswer{0, static_cast<std::uint8_t>(Answer::disconnected_group), s.group, s.epoch,
                                         s.coordinator, {}, {}});
        return;
    }
    Group& g = it->second;
    const Rank theirs{s.epoch, s.coordinator}, ours = rank_of(g.rec);
    if (!is_member(g.rec, from) && !g.lost.count(from)) {
        // Someone still on a branch we left behind: our record tells it that it is out.
        if (theirs < ours) send_record(g, from);
        ++stats.refused;
        return;
    }
    if (theirs < ours) {
        send_record(g, from);
    } else if (theirs > ours) {
        sync(s.group, &from);  // ours is behind: they answer with their record
    } else if (s.need_key && has_current_key(g)) {
        send_record(g, from);
    }
    for (const auto& c : s.written) {
        if (!find_key(g, c.epoch, c.coordinator)) continue;
        const StreamId sid{from, c.epoch, c.coordinator};
        auto n = g.next.find(sid);
        const std::uint64_t next = n == g.next.end() ? 0 : n->second;
        if (next < c.count) send(from, wire::GroupWant{s.group, c.epoch, c.coordinator, next});
    }
}

void Machine::State::on_want(const PublicKey& from, const wire::GroupWant& w) {
    auto it = groups.find(w.group);
    if (it == groups.end()) return;
    const Group& g = it->second;
    const auto* k = find_key(g, w.epoch, w.coordinator);
    if (!k || std::find(k->members.begin(), k->members.end(), from) == k->members.end()) {
        ++stats.refused;
        return;
    }
    std::size_t sent = 0;
    for (const auto& l : g.log)
        if (l.epoch == w.epoch && l.coordinator == w.coordinator && l.seq >= w.from && sent < kResendBatch) {
            GroupLine again = l;  // written through a relay: signed for the way member to member
            if (again.sig == Signature{}) again.sig = crypto.sign(self.sk, signed_part(again));
            send(from, again);
            ++sent;
        }
}

}  // namespace dc::groups
