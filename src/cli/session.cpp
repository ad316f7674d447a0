// What every macro and plain line does, and what the events look like on the
// terminal (session.hpp).
#include "darkchat/session.hpp"

namespace dc::cli {

void Session::handle_overlong(std::size_t bytes) {
    say("! line too long (" + std::to_string(bytes) + " bytes, at most " + std::to_string(kMaxInputLine) +
        "): nothing of it was sent");
}

void Session::handle_event(const host::Event& e) {
    if (auto* c = std::get_if<core::Event>(&e)) {
        say(render(*c));
    } else if (auto* r = std::get_if<roles::RoomEvent>(&e)) {
        say(render(*r));
        follow_room(*r);
    } else if (auto* l = std::get_if<host::Line>(&e)) {
        say(l->text);
    }
}

bool Session::outbox_full() const {
    const core::Node* node = host_.node();
    if (!node || room_ || partner_.empty()) return false;
    return node->outbox_waiting(partner_) >= host_.config().node.max_outbox_per_peer;
}

bool Session::only_sends(std::string_view line) const {
    if (!host_.node() || room_ || partner_.empty()) return false;
    return std::holds_alternative<action::Say>(parse_line(line, host_.port()));
}

std::optional<std::string> Session::poll_line() {
    if (lines_.empty()) return std::nullopt;
    std::string l = std::move(lines_.front());
    lines_.pop_front();
    return l;
}

std::optional<ResolveRequest> Session::poll_resolve() {
    if (resolves_.empty()) return std::nullopt;
    ResolveRequest r = std::move(resolves_.front());
    resolves_.pop_front();
    return r;
}

void Session::handle_resolved(TimeMs now, const ResolveRequest& request, const Result<Addr>& addr) {
    if (!addr) {
        say("! cannot resolve " + request.host + (addr.error().empty() ? std::string() : ": " + addr.error()));
        return;
    }
    Addr a = *addr;
    a.port = request.port;
    host_.node()->handle_command(now, core::cmd::Ping{a});
}

void Session::handle_line(TimeMs now, std::string_view line) {
    core::Node* node = host_.node();
    if (!node) return;  // a directory or relay takes no macros
    const std::string& self = node->identity().user;
    auto act = parse_line(line, host_.port());
    std::visit(
        [&](auto& a) {
            using T = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<T, action::Node>) {
                if (std::holds_alternative<core::cmd::Quit>(a.command)) host_.handle_quit(now);  // rooms are left too
                else node->handle_command(now, a.command);
            } else if constexpr (std::is_same_v<T, action::Resolve>) {
                resolves_.push_back({a.host, a.port});
            } else if constexpr (std::is_same_v<T, action::Help>) {
                std::string h = help_text();
                std::size_t pos = 0, nl;
                while ((nl = h.find('\n', pos)) != std::string::npos) {
                    say(h.substr(pos, nl - pos));
                    pos = nl + 1;
                }
            } else if constexpr (std::is_same_v<T, action::List>) {
                std::size_t n = 0;
                for (auto& u : node->users()) {
                    if (u.name == self && u.sessions.empty()) continue;
                    if (!matches(u, a.which)) continue;
                    say("  " + render_user(u, now) + (u.name == self ? " (you)" : ""));
                    ++n;
                }
                say("* " + std::to_string(n) + (n == 1 ? " user" : " users"));
            } else if constexpr (std::is_same_v<T, action::Room> || std::is_same_v<T, action::Rooms> ||
                                 std::is_same_v<T, action::SwitchRoom> || std::is_same_v<T, action::Leave> ||
                                 std::is_same_v<T, action::Relays>) {
                room_action(now, a);
            } else if constexpr (std::is_same_v<T, action::SwitchChat>) {
                switch_chat(a.user);
            } else if constexpr (std::is_same_v<T, action::Say>) {
                if (room_) say_in_room(now, a.text);
                else if (partner_.empty()) say("! no chat partner: \\chat <username> first");
                else node->handle_command(now, core::cmd::Chat{partner_, a.text});
            } else if constexpr (std::is_same_v<T, action::Keys>) {
                auto keys = node->keys(a.user);
                if (!a.user.empty() && keys.empty()) say("! unknown user " + a.user);
                for (auto& k : keys) say("  " + render_key(k) + (k.user == self ? " (you)" : ""));
            } else if constexpr (std::is_same_v<T, action::Problem>) {
                say("! " + a.text);
            }
        },
        act);
}

void Session::switch_chat(const std::string& user) {
    if (user.empty() && room_) {
        say("* lines go to room " + roles::short_id(*room_) + " (\\chat <user> for a direct chat)");
        return;
    }
    room_.reset();
    if (user.empty()) {
        say(partner_.empty() ? "* no chat partner yet: \\chat <username>" : "* chatting with " + partner_);
        return;
    }
    partner_ = user;
    core::Node* node = host_.node();
    auto u = node->user(user);
    // Only where a message would be taken into the outbox (the node refuses
    // one to a user it has no key for and did not add).
    if (u && !u->contact) {
        auto k = node->keys(user);
        if (k.empty() || !k.front().pinned) u.reset();
    }
    if (!u) say("* chatting with " + user + " (not known yet: \\add " + user + " to find it)");
    else say("* chatting with " + user + (u->online() ? " (online)" : " (offline: messages wait in the outbox)"));
}

// ---- rooms on relays (the room client) ------------------------------------

// The first room we join becomes the current one when nothing else is.
void Session::follow_room(const roles::RoomEvent& e) {
    if (auto* j = std::get_if<roles::room_ev::RoomJoined>(&e)) {
        if (!room_ && partner_.empty()) {
            room_ = j->room;
            say("* lines now go to room " + roles::short_id(j->room) + " (\\chat <user> for a direct chat)");
        }
    } else if (auto* l = std::get_if<roles::room_ev::RoomLeft>(&e)) {
        if (room_ && *room_ == l->room) room_.reset();
    }
}

void Session::say_in_room(TimeMs now, const std::string& text) {
    roles::RoomClient* client = host_.room_client();
    bool there = false;
    for (auto& r : client->rooms()) there = there || r.room == *room_;
    if (!there) {
        say("! room " + roles::short_id(*room_) + " is gone (\\rooms lists the rooms)");
        room_.reset();
        return;
    }
    client->handle_command(now, roles::room_cmd::Send{*room_, text});
}

// One room by id prefix (empty: the current room, or the only one), or a
// problem said to the user.
std::optional<roles::RoomView> Session::pick_room(const std::string& prefix) {
    auto all = host_.room_client()->rooms();
    if (prefix.empty() && room_) {
        for (auto& r : all)
            if (r.room == *room_) return r;
    }
    auto found = find_rooms(all, prefix);
    if (found.size() == 1) return found.front();
    if (found.empty()) say(prefix.empty() ? "! no rooms yet: \\request <user> asks for one" : "! no room " + prefix + " (\\rooms lists them)");
    else if (prefix.empty()) say("! " + std::to_string(found.size()) + " rooms: name one by its id (\\rooms lists them)");
    else say("! " + std::to_string(found.size()) + " rooms start with '" + prefix + "': give more of the id (\\rooms)");
    return std::nullopt;
}

template <typename A>
void Session::room_action(TimeMs now, const A& a) {
    roles::RoomClient* client = host_.room_client();
    if (!client) {
        say("! rooms need a directory or relays: start darkchat with --dir HOST[:PORT] or --relays H:P,...");
        return;
    }
    const std::string& self = host_.node()->identity().user;
    if constexpr (std::is_same_v<A, action::Room>) {
        roles::RoomCommand c = a.command;
        if (auto* r = std::get_if<roles::room_cmd::Request>(&c)) {
            // Without a directory the invite goes straight to the peer: what the node knows of it.
            for (auto& user : r->users) {
                if (user == self) {
                    say("! you cannot ask yourself for a chat");
                    return;
                }
                roles::PeerInfo p;
                p.user = user;
                if (auto key = host_.pinned(user)) p.key = *key;
                p.addrs = host_.addresses_of(user);
                r->peers.push_back(std::move(p));
            }
        }
        client->handle_command(now, c);
    } else if constexpr (std::is_same_v<A, action::Rooms>) {
        auto rooms = client->rooms();
        for (auto& r : rooms) say("  " + render_room(r, self) + (room_ && *room_ == r.room ? " (current)" : ""));
        say("* " + std::to_string(rooms.size()) + (rooms.size() == 1 ? " room" : " rooms"));
    } else if constexpr (std::is_same_v<A, action::SwitchRoom>) {
        if (a.prefix.empty()) {
            say(room_ ? "* lines go to room " + roles::short_id(*room_) : std::string("* no current room: \\room <id-prefix>"));
            return;
        }
        if (auto r = pick_room(a.prefix)) {
            room_ = r->room;
            say("* lines now go to room " + render_room(*r, self));
        }
    } else if constexpr (std::is_same_v<A, action::Leave>) {
        if (auto r = pick_room(a.prefix)) client->handle_command(now, roles::room_cmd::Leave{r->room});
    } else if constexpr (std::is_same_v<A, action::Relays>) {
        auto relays = client->relays();
        for (auto& r : relays) say("  " + render_relay(r));
        say("* " + std::to_string(relays.size()) + (relays.size() == 1 ? " relay" : " relays") +
            (host_.config().roles.directory ? std::string(client->directory_alive() ? ", directory answers" : ", directory not answering")
                                             : std::string(", no directory")));
    }
}

}  // namespace dc::cli
