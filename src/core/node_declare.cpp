// The node: its own declaration, and the DarkChat messages about presence
// (declareOnline/Offline, requestPing, requestUserList, deliverKnownList).
#include "core/node_state.hpp"

namespace dc::core {

void Node::State::redeclare(bool online_now) {
    wire::Declaration d;
    d.user = id.user;
    d.key = id.pk;
    d.session = id.session;
    d.online = online_now;
    d.super_client = cfg.super_client;
    d.addr = self_addr();
    d.issued = now;
    d.links = presence.my_links();
    d.kx = kx.current().pk;
    d.hold_kx = hold_pk;
    store(store_op::PutSession{own.declare(env, std::move(d), now)});
}

SymmetricKey Node::State::handled_key(Crypto& crypto, const Identity& id) {
    constexpr std::string_view context = "darkchat handled declarations";
    SymmetricKey key{};
    crypto.hash(key, ByteView(id.sk), ByteView(reinterpret_cast<const std::uint8_t*>(context.data()), context.size()));
    return key;
}

std::vector<Addr> Node::State::declaration_targets(bool all) const {
    std::vector<Addr> out;
    for (auto* e : presence.watched_users()) {
        auto& [n, u] = *e;
        for (auto& [sid, s] : u.sessions) {
            if (presence.is_self(n, sid)) continue;
            if (all || s.online() || s.lost) out.push_back(s.rec.addr);
        }
    }
    for (auto& a : cfg.servers) out.push_back(a);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void Node::State::ask_user_list(const Addr& to, std::vector<std::string> want, std::string after, std::size_t pages) {
    wire::RequestUserList r;
    r.want = want;
    r.after = after;
    r.nonce = requests.add(PendingKind::user_list, nonce(), now,
                           std::make_unique<ListQuestion>(ListQuestion{to, std::move(want), std::move(after), pages}));
    send(to, wire::MsgType::request_user_list, wire::encode(r));
}

std::optional<wire::Declaration> Node::State::open_declaration(const wire::SignedBlob& blob) {
    auto d = wire::decode_declaration(blob.body);
    if (!d) {
        ++stats.malformed;
        return std::nullopt;
    }
    if (!env.verify(blob, d->key)) {
        ++stats.bad_signature;
        return std::nullopt;
    }
    if (!key_ok(d->user, d->key)) return std::nullopt;
    return std::move(d).value();
}

void Node::State::on_declare(const wire::Header& h, const Addr& back, const wire::Declare& p, bool online_type) {
    auto d = open_declaration(p.decl);
    if (!d) return;
    if (d->online != online_type) {
        ++stats.malformed;
        return;
    }
    bool direct = h.from_user == d->user && h.from_session == d->session;
    if (direct && h.from_key != d->key) {
        ++stats.wrong_key;
        return;
    }
    Addr addr = d->addr;
    if (addr.unspecified_ip()) {
        if (direct) {
            auto port = addr.port;
            addr = back;
            addr.port = port ? port : back.port;
        } else if (p.seen.valid()) {
            addr = p.seen;
        }
    }
    // Answers to our own requests are welcome whoever sends them.
    // A challenge of ours is answered once per session: a replayed answer is stale.
    bool solicited = false;
    if (p.nonce) {
        auto* pe = requests.find(p.nonce);
        if (pe && pe->first_answer(h.from_user, h.from_session)) {
            solicited = true;
            Pending& pd = *pe;
            if (pd.kind == PendingKind::explode) {
                ++pd.answers;
                event(ev::Explored{pd.answers});
            } else if (pd.kind == PendingKind::ping) {
                event(ev::Notice{"ping: " + d->user + " answered from " + addr.to_string()});
            }
        }
    }
    bool is_own_explode = p.explode && d->user == id.user && d->session == id.session;
    if (is_own_explode) return;
    // A declaration that lists us makes its author a contact (links are edges).
    bool new_edge = !presence.relevant(d->user) && has(d->links, id.user);
    if (new_edge && presence.contact_count() >= wire::kMaxLinks) new_edge = false;  // no room for more edges
    bool keep = solicited || presence.relevant(d->user) || new_edge || (p.explode && p.hops == 0);
    if (keep && users.size() >= cfg.max_users && !users.count(d->user)) keep = false;
    if (keep) {
        bool newer = accept_declaration(*d, p.decl, addr);
        // An answer to our challenge proves its sender alive; a repeated
        // declaration alone does not (it could be a replay).
        if (solicited) heard_from(h.from_user, h.from_session);
        // A watched session we heard of through someone else may not know
        // where we are; a contact's session that does not list us (it
        // answered a \\ping made before we linked it) does not know we
        // linked it, and would not take our chat or answer our probes.
        auto du = users.find(d->user);
        if (newer && own.online() && d->online && du != users.end() && presence.watched(du->second) &&
            !presence.is_self(d->user, d->session) &&
            (!direct || (presence.is_contact(du->second) && !has(d->links, id.user))))
            send(addr, declare_type(), declare_payload(0, false, false, 0));
        // News of a contact that will not be forwarded otherwise (it came with
        // no hops left): pass it on, so our contacts' two-hop view stays whole.
        if (newer && p.hops == 0 && !p.explode && du != users.end() && presence.is_contact(du->second))
            spread(*d, p.decl, addr);
    } else {
        ++stats.unsolicited;
    }

    if (!remember_handled(d->session, d->seq, p.nonce)) return;  // acted on already

    // Forward along the declarer's links: its status reaches everyone within two hops.
    auto du = users.find(d->user);
    bool from_contact = du != users.end() && (presence.watched(du->second));
    if (p.hops > 0 && (from_contact || p.explode)) forward_declaration(*d, p, addr);

    if (p.explode && !presence.is_self(d->user, d->session)) {
        // \explode: everyone reached answers the originator directly.
        send(addr, declare_type(), declare_payload(0, false, false, p.nonce));
    } else if (p.reply && direct && own.online()) {
        send(addr, declare_type(), declare_payload(0, false, false, p.nonce));
        // A node that wants an answer has just (re)started: tell it what we know.
    }
}

void Node::State::forward_declaration(const wire::Declaration& d, const wire::Declare& p, const Addr& addr) {
    wire::Declare f = p;
    f.hops = static_cast<std::uint8_t>(p.hops - 1);
    f.reply = false;
    f.seen = addr;
    auto payload = wire::encode(f);
    auto type = d.online ? wire::MsgType::declare_online : wire::MsgType::declare_offline;
    std::set<Addr> done;
    for (auto* e : presence.watched_users()) {
        auto& [n, u] = *e;
        for (auto& [sid, s] : u.sessions) {
            if (presence.is_self(n, sid) || (n == d.user && sid == d.session)) continue;
            if (!s.online()) continue;
            if (done.insert(s.rec.addr).second) send(s.rec.addr, type, payload);
        }
    }
}

void Node::State::spread(const wire::Declaration& d, const wire::SignedBlob& blob, const Addr& addr) {
    if (!own.online()) return;
    remember_handled(d.session, d.seq, 0);
    wire::Declare p;
    p.decl = blob;
    p.hops = 1;  // forward_declaration takes one off
    forward_declaration(d, p, addr);
}

void Node::State::on_request_ping(const wire::Header& h, const Addr& back, const wire::RequestPing& p) {
    bool for_me = p.target_user.empty() || (p.target_user == id.user &&
                                            (p.target_session == kAnySession || p.target_session == id.session));
    if (p.hops == 0 || for_me) {
        if (!for_me || !own.online()) return;
        // Deliver a declareOnline to the requester. A request made directly is
        // answered at its source address; a forwarded one at the address the
        // requester gave to the common neighbour.
        Addr to = h.from_user == p.requester_user ? back : p.requester_addr;
        send(to, wire::MsgType::declare_online, declare_payload(0, false, false, p.nonce));
        // To an address only claimed (passed on by a neighbour): no reflection either.
        if (to != back && !tx_out.empty()) tx_out.back().t.stream = true;
        return;
    }
    // We are the common neighbour: pass the request on to the target's sessions,
    // and tell the requester where we know the target to be.
    auto it = users.find(p.target_user);
    if (it == users.end()) return;
    wire::RequestPing f = p;
    f.hops = 0;
    if (h.from_user == p.requester_user) f.requester_addr = back;
    wire::DeliverKnownList list;
    list.nonce = p.nonce;
    for (auto& [sid, s] : it->second.sessions) {
        if (p.target_session != kAnySession && sid != p.target_session) continue;
        if (s.online()) send(s.rec.addr, wire::MsgType::request_ping, wire::encode(f));
        list.sessions.push_back(known(s));
    }
    if (!list.sessions.empty()) send(back, wire::MsgType::deliver_known_list, wire::encode(list));
}

void Node::State::on_request_user_list(const wire::Header& h, const Addr& back, const wire::RequestUserList& p) {
    // Who the requester is linked to: from its own declaration, if we have it.
    // Names are views into the request, our entries and their links (nothing
    // here changes them), sorted once: no set of copies per request or page.
    auto sorted = [](std::vector<std::string_view>& v) {
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
    };
    std::vector<std::string_view> names;
    names.push_back(h.from_user);  // its other sessions
    auto req = users.find(h.from_user);
    if (req != users.end())
        for (auto l : req->second.links) names.push_back(l);
    for (auto& w : p.want)
        if (valid_user_name(w)) names.push_back(w);
    names.push_back(id.user);
    sorted(names);
    // ... and who those are linked to: the requester's two-hop neighbourhood.
    std::vector<std::string_view> all = names;
    const std::vector<std::string> mine = presence.my_links();
    for (auto n : names) {
        if (n == id.user) {
            all.insert(all.end(), mine.begin(), mine.end());
            continue;
        }
        auto it = users.find(n);
        if (it == users.end()) continue;
        for (auto l : it->second.links) all.push_back(l);
    }
    // Users who list the requester are linked to it too.
    presence.for_each_listing(h.from_user, [&](const std::string& n) { all.push_back(n); });
    sorted(all);
    // The answer in pages, users in name order: each page stops before the first user
    // whose sessions would take it past the byte budget (one TCP frame) or the count,
    // and names the last user it holds, where the requester asks the next page from.
    wire::DeliverKnownList out;
    out.nonce = p.nonce;
    std::size_t bytes = kListOverhead;
    auto fits = [&](const wire::KnownSession& k) {
        std::size_t b = known_size(k);
        if (out.sessions.size() >= wire::kMaxListEntries || bytes + b > cfg.max_list_bytes) return false;
        bytes += b;
        return true;
    };
    if (p.after.empty() && own.online()) {
        wire::KnownSession me{own.blob(), self_addr(), true, now};
        if (fits(me)) out.sessions.push_back(std::move(me));
    }
    const std::string_view* last = nullptr;  // the last user whose sessions are all in this page
    bool cut = false;                        // a user's sessions alone pass the budget: some are left out
    for (auto it = std::upper_bound(all.begin(), all.end(), std::string_view(p.after)); it != all.end(); ++it) {
        auto u = users.find(*it);
        if (u == users.end()) continue;
        std::size_t held = out.sessions.size(), held_bytes = bytes;
        bool whole = true;
        for (auto& [sid, s] : u->second.sessions) {
            if (presence.is_self(*it, sid) || (*it == h.from_user && sid == h.from_session)) continue;
            auto k = known(s);
            if (!fits(k)) {
                whole = false;
                break;
            }
            out.sessions.push_back(std::move(k));
        }
        if (whole) {
            last = &*it;
            continue;
        }
        if (last) {  // this user starts the next page
            out.sessions.resize(held);
            bytes = held_bytes;
            out.next = *last;
        } else {  // alone it does not fit: what fitted goes, and the next page starts after it
            cut = true;
            out.next = *it;
        }
        break;
    }
    out.complete = cfg.super_client && out.next.empty() && !cut;
    send(back, wire::MsgType::deliver_known_list, wire::encode(out));
}

std::size_t Node::State::known_size(const wire::KnownSession& k) {
    auto bin = [](std::size_t n) { return n + (n < 256 ? 2 : n < 65536 ? 3 : 5); };
    std::size_t ip = k.addr.family == 4 ? 4 : k.addr.family == 6 ? 16 : 0;
    return 1 + 1 + bin(k.decl.body.size()) + bin(sizeof(Signature)) + (1 + 2 + bin(ip) + 3) + 1 + 9;
}

void Node::State::on_belief(const wire::Header& h, const wire::DeliverKnownList& p) {
    auto c = users.find(h.from_user);
    if (!request || !request->authenticated || c == users.end() || !presence.is_contact(c->second) ||
        p.sessions.size() != 1) {
        ++stats.unsolicited;
        return;
    }
    auto& ks = p.sessions.front();
    auto d = open_declaration(ks.decl);
    if (!d) return;
    auto u = users.find(d->user);
    if (u == users.end() || !c->second.links.contains(d->user)) {
        ++stats.unsolicited;
        return;
    }
    auto st = u->second.sessions.find(d->session);
    if (st == u->second.sessions.end() || st->second.rec.seq < d->seq) {
        Addr addr = d->addr.unspecified_ip() ? ks.addr : d->addr;
        accept_declaration(*d, ks.decl, addr);
        st = u->second.sessions.find(d->session);
        if (st == u->second.sessions.end()) return;
    }
    if (st->second.rec.seq != d->seq) return;
    presence.believe(u->second, st->second, h.from_user, ks.online);
    // Our question to it is unanswered: its answer, when it comes, may be older than this.
    if (auto cs = c->second.sessions.find(h.from_session); cs != c->second.sessions.end() && cs->second.list_asked)
        presence.told_while_asked(h.from_session, {d->session, ks.last_seen, ks.online});
}

void Node::State::on_known_list(const wire::Header& h, const Addr& back, const wire::DeliverKnownList& p) {
    if (p.nonce == 0) {
        on_belief(h, p);
        return;
    }
    auto* pe = requests.find(p.nonce);
    if (!pe || !pe->first_answer(h.from_user, h.from_session)) {
        ++stats.unsolicited;
        return;
    }
    // The answer goes on: ask for its next page where we asked for this one. Names
    // only go up from page to page, and the pages of one question are bounded.
    if (auto q = std::move(pe->list);
        q && !p.next.empty() && p.next > q->after && q->pages < wire::kMaxListPages)
        ask_user_list(q->to, std::move(q->want), p.next, q->pages + 1);
    auto from = users.find(h.from_user);
    if (from != users.end())
        if (auto fs = from->second.sessions.find(h.from_session); fs != from->second.sessions.end())
            fs->second.list_asked = 0;
    heard_from(h.from_user, h.from_session);
    // A contact's answer also says which of our two-hop users it sees online.
    bool from_contact = from != users.end() && presence.is_contact(from->second);
    for (auto& ks : p.sessions) {
        auto d = open_declaration(ks.decl);
        if (!d) continue;
        Addr addr = d->addr.unspecified_ip() ? ks.addr : d->addr;
        if (d->addr.unspecified_ip() && d->user == h.from_user && d->session == h.from_session) addr = back;
        // We keep what concerns our neighbourhood, and the answering node itself.
        if (!presence.relevant(d->user) && d->user != h.from_user && !has(d->links, id.user)) continue;
        if (users.size() >= cfg.max_users && !users.count(d->user)) continue;
        bool newer = accept_declaration(*d, ks.decl, addr);
        auto& u = users[d->user];
        auto st = u.sessions.find(d->session);
        if (st == u.sessions.end()) continue;
        Session& s = st->second;
        // A session we watch and have not heard from ourselves: introduce ourselves.
        if (presence.watched(u) && newer && s.rec.online && !presence.is_self(d->user, d->session) && own.online())
            send(s.rec.addr, declare_type(), declare_payload(0, true, false, add_pending(PendingKind::probe)));
        if (newer && presence.is_contact(u)) spread(*d, ks.decl, s.rec.addr);
        if (from_contact && s.rec.seq == d->seq && from->second.links.contains(d->user) &&
            !presence.answer_older(h.from_session, {d->session, ks.last_seen, ks.online}))
            presence.believe(u, s, h.from_user, ks.online);
    }
    presence.answered(h.from_session);
}

}  // namespace dc::core
