// The node: the user's commands (\\add, \\ping, \\explode, \\quit, \\trust; \\chat is in node_chat.cpp).
#include "core/node_state.hpp"

namespace dc::core {

void Node::State::trust_key(const std::string& name, const std::string& fingerprint) {
    auto u = users.find(name);
    auto key = trust.accept(name, fingerprint, u != users.end());
    if (!key) {
        event(ev::Problem{key.error()});
        return;
    }
    // Re-pin. Sessions signed by the old key are forgotten; the new key's
    // sessions come with its next declarations, so ask where it is.
    User& usr = u->second;
    // The parts riding on the node knew the user by the old key: it is gone
    // for them; the new key's sessions bring it back (tell_user_status).
    if (usr.told_online) {
        if (*usr.told_online && usr.key_known) asides_out.push_back(aside::UserStatus{name, usr.rec.key, false});
        usr.told_online.reset();
    }
    for (auto& [sid, sess] : usr.sessions) store(store_op::DeleteSession{name, sid});
    usr.sessions.clear();
    presence.set_links(usr, NameList{});
    presence.links_moved();
    usr.rec.key = *key;
    usr.key_known = true;
    store(store_op::PutUser{usr.rec});
    event(ev::Notice{name + "'s key is now " + crypto::fingerprint(usr.rec.key)});
    for (auto& a : cfg.servers) ask_user_list(a, {name});
    for (auto& [n, o] : users)
        if (presence.is_contact(o))
            for (auto& [sid, sess] : o.sessions)
                if (sess.online()) ask_user_list(sess.rec.addr, {name});
}

void Node::State::add(const std::string& name) {
    if (!valid_user_name(name)) {
        event(ev::Problem{"not a user name: " + name});
        return;
    }
    if (name == id.user) {
        event(ev::Problem{"you cannot add yourself"});
        return;
    }
    auto& u = users[name];
    if (u.rec.name.empty()) {
        u.rec.name = name;
        u.rec.first_seen = now;
    }
    if (u.rec.contact) {
        event(ev::Notice{name + " is already a contact"});
        return;
    }
    u.rec.contact = true;
    presence.links_moved();
    store(store_op::PutUser{u.rec});
    event(ev::Linked{name, false});
    redeclare(true);
    declare_to_all(false, true);
    for (auto& [sid, s] : u.sessions)
        if (s.online()) show_presence(u, s, "already known");
    // Known already (say, from \\ping): learn its neighbourhood now.
    for (auto& [sid, s] : u.sessions)
        if (s.online()) {
            ask_user_list(s.rec.addr);
            break;
        }
    if (presence.online_sessions(name).empty()) {
        // Ask everyone we can reach where the new contact is.
        std::set<Addr> asked;
        for (auto& a : cfg.servers)
            if (asked.insert(a).second) ask_user_list(a, {name});
        // Contacts first, then anyone else we know to be online (a node
        // bootstrapped with \ping may know no contact yet).
        for (int pass = 0; pass < 2; ++pass)
            for (auto& [n, o] : users) {
                if (presence.watched(o) != (pass == 0)) continue;
                for (auto& [sid, s] : o.sessions)
                    if (s.online() && !presence.is_self(n, sid) && asked.size() < kMaxLookups &&
                        asked.insert(s.rec.addr).second)
                        ask_user_list(s.rec.addr, {name});
            }
        event(ev::Notice{"looking for " + name + " (asked " + std::to_string(asked.size()) + " nodes)"});
    }
}

void Node::State::ping(const Addr& to) {
    wire::RequestPing rp;
    rp.requester_user = id.user;
    rp.requester_session = id.session;
    rp.requester_addr = self_addr();
    rp.nonce = add_pending(PendingKind::ping);
    rp.hops = 0;
    send(to, wire::MsgType::request_ping, wire::encode(rp));
    ask_user_list(to);
    event(ev::Notice{"ping sent to " + to.to_string()});
}

void Node::State::explode() {
    auto n = add_pending(PendingKind::explode);
    auto payload = declare_payload(1, false, true, n);
    remember_handled(id.session, own.seq(), n);
    auto targets = declaration_targets(false);
    for (auto& a : targets) send(a, declare_type(), payload);
    event(ev::Notice{"explode: declaration pushed to " + std::to_string(targets.size()) +
                     " sessions and their neighbours"});
}

void Node::State::quit() {
    if (!own.online()) {
        quitting = true;
        return;
    }
    redeclare(false);
    declare_to_all(false, false);
    quitting = true;
}

}  // namespace dc::core
