// What every macro and plain line does, and what the events look like on the
// terminal (session.hpp).
#include "darkchat/session.hpp"

#include <algorithm>

namespace dc::cli {

// How the user's words for a room or a group are answered when they name
// none or several of them.
struct Picking {
    const char* noun;
    const char* nouns;
    const char* match;     // what several found have in common with the words
    const char* list;      // the macro that lists them
    const char* none_yet;  // no words, and nothing to pick from
};

// The one of found, or the line saying why not.
template <typename V>
std::optional<V> Session::only_one(std::vector<V> found, const std::string& which, const Picking& p) {
    if (found.size() == 1) return std::move(found.front());
    const std::string n = std::to_string(found.size()), words = printable(which, Backslash::kept);
    const std::string list = p.list;
    if (found.empty()) say(which.empty() ? std::string(p.none_yet) : "! no " + std::string(p.noun) + " " + words + " (" + list + " lists them)");
    else if (which.empty()) say("! " + n + " " + p.nouns + ": name one by its id (" + list + " lists them)");
    else say("! " + n + " " + p.nouns + " " + p.match + " '" + words + "': give more of the id (" + list + ")");
    return std::nullopt;
}

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
    } else if (auto* g = std::get_if<groups::Event>(&e)) {
        remember(*g);
        say(render(*g, group_names()));
        follow_group(*g);
    } else if (auto* f = std::get_if<files::Event>(&e)) {
        file_event(*f);
    } else {
        say(std::get<host::Line>(e).text);
    }
}

bool Session::outbox_full() const {
    if (room_) {
        const roles::RoomClient* client = host_.room_client();
        auto waiting = client ? client->unacked(*room_) : std::nullopt;
        return waiting && *waiting >= client->config().max_outbox_per_room;
    }
    const core::Node* node = host_.node();
    if (!node || group_ || partner_.empty()) return false;
    return node->outbox_waiting(partner_) >= host_.config().node.max_outbox_per_peer;
}

bool Session::only_sends(std::string_view line) const {
    if (room_) {  // a line to a room we are still in: its outcome is the room client's events
        const roles::RoomClient* client = host_.room_client();
        return client && client->unacked(*room_) &&
               std::holds_alternative<action::Say>(parse_line(line, host_.port()));
    }
    if (!host_.node() || group_ || partner_.empty()) return false;
    return std::holds_alternative<action::Say>(parse_line(line, host_.port()));
}

std::vector<std::string> Session::complete(std::string_view line) const {
    std::vector<std::string> out;
    const std::size_t space = line.find_last_of(' ');
    const std::string_view typed = space == std::string_view::npos ? line : line.substr(space + 1);
    auto offer = [&](std::string_view word) {
        if (word.substr(0, typed.size()) == typed) out.emplace_back(word);
    };
    const std::size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos || line[start] != '\\') return out;  // a message: nothing to complete
    if (space == std::string_view::npos || space < start) {
        for (std::string_view m : macro_names()) offer(m);
    } else if (const core::Node* node = host_.node()) {
        for (const auto& u : node->users()) offer(u.name);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
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

std::optional<HistoryRequest> Session::poll_history() {
    if (histories_.empty()) return std::nullopt;
    HistoryRequest r = std::move(histories_.front());
    histories_.pop_front();
    return r;
}

void Session::handle_history(const HistoryRequest& request, const Result<std::vector<HistoryRecord>>& found) {
    if (!found) {
        say("! cannot read the history with " + request.user + ": " + found.error());
        return;
    }
    const core::Node* node = host_.node();
    const std::string self = node ? node->identity().user : std::string();
    for (const auto& m : *found) say(render_history(m, self));
    const std::size_t n = found->size();
    say("* " + std::to_string(n) + (n == 1 ? " message" : " messages") + " with " + request.user +
        (n == request.count ? " (\\history " + request.user + " N shows more)" : std::string()));
}

void Session::handle_lines(const HistoryRequest& request, const Result<std::vector<LineRecord>>& found) {
    const std::string what = (request.room ? "room " : "group ") + request.user;
    if (!found) {
        say("! cannot read the lines of " + what + ": " + found.error());
        return;
    }
    for (const auto& l : *found) say(render_history(l, group_names()));
    const std::size_t n = found->size();
    say("* " + std::to_string(n) + (n == 1 ? " line" : " lines") + " of " + what +
        (n == request.count ? " (\\history " + printable(request.user, Backslash::kept) + " N shows more)" : std::string()));
}

// \history: a user the node knows, else a group (title or id prefix), else a
// room (id prefix), else a user by that name; no words: the current conversation.
void Session::history(const action::History& a) {
    auto group_lines = [&](const groups::GroupView& g) {
        histories_.push_back({g.title.empty() ? short_id(g.id) : g.title, a.count, g.id, false});
    };
    auto room_lines = [&](const roles::RoomView& r) { histories_.push_back({roles::short_id(r.room), a.count, r.room, true}); };
    const std::string& which = a.which;
    groups::Machine* machine = host_.groups();
    roles::RoomClient* client = host_.room_client();
    if (which.empty()) {
        if (group_ && machine) {
            if (auto g = pick_group({})) group_lines(*g);
        } else if (room_ && client) {
            if (auto r = pick_room({})) room_lines(*r);
        } else if (partner_.empty()) {
            say("! no conversation: \\history <user, group or room> [n]");
        } else {
            histories_.push_back({partner_, a.count, std::nullopt, false});
        }
        return;
    }
    const bool user = valid_user_name(which);
    if (user && host_.node()->user(which)) {
        histories_.push_back({which, a.count, std::nullopt, false});
    } else if (machine && !find_groups(machine->groups(), which).empty()) {
        if (auto g = pick_group(which)) group_lines(*g);
    } else if (client && id_prefix(which) && !find_rooms(client->rooms(), which).empty()) {
        if (auto r = pick_room(which)) room_lines(*r);
    } else if (user) {
        histories_.push_back({which, a.count, std::nullopt, false});
    } else {
        say("! no user, group or room " + printable(which, Backslash::kept) + " (\\users, \\groups and \\rooms list them)");
    }
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
            } else if constexpr (std::is_same_v<T, action::SendFile> || std::is_same_v<T, action::Fetch> ||
                                 std::is_same_v<T, action::Files> || std::is_same_v<T, action::Unhold> ||
                                 std::is_same_v<T, action::CancelFile>) {
                file_action(now, a);
            } else if constexpr (std::is_same_v<T, action::Room>) {
                // \accept and \decline name a file offer by its id prefix, else a room request.
                const auto* acc = std::get_if<roles::room_cmd::Accept>(&a.command);
                const auto* dec = std::get_if<roles::room_cmd::Decline>(&a.command);
                const std::string which = acc ? acc->from : dec ? dec->from : std::string();
                if ((acc || dec) && file_answer(now, acc != nullptr, which)) return;
                const roles::RoomClient* client = host_.room_client();
                if ((acc || dec) && (!client || (!client->config().directory && client->config().relays.empty()))) {
                    // No chat request can wait without a directory or relays: it was an offer's id.
                    say(which.empty() ? "! no file offer waiting (\\files lists transfers and offers)"
                                      : "! no file offer starts with " + printable(which, Backslash::kept) +
                                            " (\\files lists the offers waiting)");
                    return;
                }
                room_action(now, a);
            } else if constexpr (std::is_same_v<T, action::Rooms> ||
                                 std::is_same_v<T, action::SwitchRoom> || std::is_same_v<T, action::Relays>) {
                room_action(now, a);
            } else if constexpr (std::is_same_v<T, action::Leave>) {
                leave(now, a.prefix);
            } else if constexpr (std::is_same_v<T, action::Connect> || std::is_same_v<T, action::Answer> ||
                                 std::is_same_v<T, action::Invite> || std::is_same_v<T, action::Remove> ||
                                 std::is_same_v<T, action::Groups> || std::is_same_v<T, action::Members> ||
                                 std::is_same_v<T, action::SwitchGroup> || std::is_same_v<T, action::Rename> ||
                                 std::is_same_v<T, action::Via>) {
                if (groups::Machine* machine = host_.groups()) group_action(now, *machine, a);
                else say("! conversation groups do not run on this port");
            } else if constexpr (std::is_same_v<T, action::History>) {
                history(a);
            } else if constexpr (std::is_same_v<T, action::SwitchChat>) {
                switch_chat(a.user);
            } else if constexpr (std::is_same_v<T, action::Say>) {
                if (room_) say_in_room(now, a.text);
                else if (group_) say_in_group(now, a.text);
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
    if (user.empty() && (room_ || group_)) {
        show_conversation();
        return;
    }
    room_.reset();
    group_.reset();
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
        if (!room_ && !group_ && partner_.empty()) {
            room_ = j->room;
            say("* lines now go to room " + roles::short_id(j->room) + " (\\chat <user> for a direct chat)");
        }
    } else if (auto* l = std::get_if<roles::room_ev::RoomLeft>(&e)) {
        if (room_ && *room_ == l->room) room_.reset();
    }
}

void Session::say_in_room(TimeMs now, const std::string& text) {
    roles::RoomClient* client = host_.room_client();
    if (!client->unacked(*room_)) {
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
    std::erase_if(all, [](const auto& r) { return r.group; });
    if (prefix.empty() && room_) {
        for (auto& r : all)
            if (r.room == *room_) return r;
    }
    static const Picking rooms{"room", "rooms", "start with", "\\rooms", "! no rooms yet: \\request <user> asks for one"};
    return only_one(find_rooms(all, prefix), prefix, rooms);
}

template <typename A>
void Session::room_action(TimeMs now, const A& a) {
    roles::RoomClient* client = host_.room_client();
    // Every user node has a room client (a group's record may name a relay), but rooms
    // of their own only one given a directory or relays.
    if (!client || (!client->config().directory && client->config().relays.empty())) {
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
        std::erase_if(rooms, [](const auto& r) { return r.group; });  // groups' rooms: \groups
        for (auto& r : rooms) say("  " + render_room(r, self) + (room_ && *room_ == r.room ? " (current)" : ""));
        say("* " + std::to_string(rooms.size()) + (rooms.size() == 1 ? " room" : " rooms"));
    } else if constexpr (std::is_same_v<A, action::SwitchRoom>) {
        if (a.prefix.empty()) {
            say(room_ ? "* lines go to room " + roles::short_id(*room_) : std::string("* no current room: \\room <id-prefix>"));
            return;
        }
        if (auto r = pick_room(a.prefix)) {
            room_ = r->room;
            group_.reset();
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

// ---- conversation groups (the group machine) --------------------------------

// A name that a group or a request gave a key, while the node pinned that name
// to another key, is marked as a chat message signed by another key is.
std::string Session::name_of(const PublicKey& key) const {
    std::string name = host_.name_of(key);
    if (name.empty()) return name;
    auto pinned = host_.pinned(name);
    return pinned && *pinned != key ? name + "?" : name;
}

std::string Session::title_of(const groups::GroupId& id) {
    if (groups::Machine* machine = host_.groups())
        if (auto g = machine->group(id)) return titles_[id] = g->title;
    auto it = titles_.find(id);
    return it == titles_.end() ? std::string() : it->second;
}

GroupNames Session::group_names() {
    return {[this](const PublicKey& key) { return name_of(key); },
            [this](const groups::GroupId& id) { return title_of(id); }};
}

// What later lines need from an event: the requests waiting for an answer,
// the titles of groups the machine forgets.
void Session::remember(const groups::Event& e) {
    if (auto* r = std::get_if<groups::ev::RequestArrived>(&e)) {
        std::erase_if(requests_, [&](const auto& q) { return q.id == r->id; });
        requests_.push_back(*r);
        // The machine keeps no more than this; the oldest it dropped cannot be answered.
        while (requests_.size() > groups::Config{}.max_requests) requests_.pop_front();
    } else if (auto* j = std::get_if<groups::ev::Joined>(&e)) {
        titles_[j->group] = j->title;
    } else if (auto* n = std::get_if<groups::ev::Renamed>(&e)) {
        titles_[n->group] = n->title;
    }
}

// The first group we join becomes the current conversation when there is
// none; a group we are out of stops being it.
void Session::follow_group(const groups::Event& e) {
    if (auto* j = std::get_if<groups::ev::Joined>(&e)) {
        if (!room_ && !group_ && partner_.empty()) {
            group_ = j->group;
            say("* lines now go to group " + group_label(j->group, group_names()) + " (\\chat <user> for a direct chat)");
        }
    } else if (auto* g = std::get_if<groups::ev::Gone>(&e)) {
        if (group_ && *group_ == g->group) group_.reset();
        // Lost, it comes back as Joined, with its title.
        if (!g->entering_again) titles_.erase(g->group);
    }
}

void Session::say_in_group(TimeMs now, const std::string& text) {
    if (auto g = pick_group({})) host_.handle_group_command(now, groups::cmd::Say{g->id, text});
}

void Session::show_conversation() {
    if (group_) say("* lines go to group " + group_label(*group_, group_names()) + " (\\chat <user> for a direct chat)");
    else if (room_) say("* lines go to room " + roles::short_id(*room_) + " (\\chat <user> for a direct chat)");
    else if (!partner_.empty()) say("* chatting with " + partner_);
    else say("* no conversation yet: \\chat <user>, \\room <id-prefix> or \\group <group>");
}

// One group by id prefix or title (empty: the current group, or the only
// one), or a problem said to the user.
std::optional<groups::GroupView> Session::pick_group(const std::string& which) {
    auto all = host_.groups()->groups();
    if (which.empty() && group_) {
        for (auto& g : all)
            if (g.id == *group_) return g;
        // Not another group in its place: the words meant this one.
        say("! group " + group_label(*group_, group_names()) + " is gone (\\groups lists the groups)");
        group_.reset();
        return std::nullopt;
    }
    static const Picking groups{"group", "groups", "match", "\\groups", "! no groups yet: \\connect <user> asks for one"};
    return only_one(find_groups(all, which), which, groups);
}

// The request \yes or \no answers: the one numbered, or the only one waiting.
std::optional<std::uint64_t> Session::pick_request(const std::optional<std::uint64_t>& n) {
    auto waiting = [&](std::uint64_t id) {
        return std::any_of(requests_.begin(), requests_.end(), [&](const auto& r) { return r.id == id; });
    };
    if (n && waiting(*n)) return n;
    if (!n && requests_.size() == 1) return requests_.front().id;
    if (requests_.empty()) {
        say(n ? "! no request " + std::to_string(*n) + " waiting" : std::string("! no request waiting"));
        return std::nullopt;
    }
    std::string numbers;
    for (auto& r : requests_) numbers += (numbers.empty() ? "" : ", ") + std::to_string(r.id);
    say(std::string(n ? "! no request " + std::to_string(*n) + " waiting" : std::string("! several requests wait")) +
        ": " + numbers + " (\\yes N or \\no N)");
    return std::nullopt;
}

// The identity key of a user the node knows, or a line saying how to find it.
std::optional<PublicKey> Session::key_of(const std::string& user) {
    auto key = host_.pinned(user);
    if (!key) say("! unknown user " + user + " (\\add " + user + " to find it first)");
    return key;
}

// \leave names a group when its words do, or when it has none and a group is
// the conversation; otherwise it is the rooms' \leave.
void Session::leave(TimeMs now, const std::string& which) {
    groups::Machine* machine = host_.groups();
    const bool group = machine && (which.empty() ? group_.has_value() : !find_groups(machine->groups(), which).empty());
    if (group) {
        if (auto g = pick_group(which)) host_.handle_group_command(now, groups::cmd::Leave{g->id});
        return;
    }
    if (!id_prefix(which)) {
        say("! no group or room " + printable(which, Backslash::kept) + " (\\groups and \\rooms list them)");
        return;
    }
    room_action(now, action::Leave{which});
}

template <typename A>
void Session::group_action(TimeMs now, groups::Machine& machine, const A& a) {
    const std::string& self = host_.node()->identity().user;
    if constexpr (std::is_same_v<A, action::Connect>) {
        if (a.user == self) {
            say("! you cannot ask yourself into a group");
            return;
        }
        if (auto key = key_of(a.user)) {
            host_.handle_group_command(now, groups::cmd::Request{*key, a.kind});
            say("* asked " + a.user + " into a new group (" + (a.kind == groups::Kind::pair ? "private" : "public") + ")");
        }
    } else if constexpr (std::is_same_v<A, action::Answer>) {
        auto id = pick_request(a.request);
        if (!id) return;
        groups::cmd::Reply reply{*id, a.yes, std::nullopt, {}};
        if (!a.group.empty()) {
            auto g = pick_group(a.group);
            if (!g) return;
            reply.into = g->id;
        }
        std::erase_if(requests_, [&](const auto& r) { return r.id == *id; });
        host_.handle_group_command(now, reply);
    } else if constexpr (std::is_same_v<A, action::Invite>) {
        if (a.user == self) {
            say("! you cannot invite yourself");
            return;
        }
        auto g = pick_group(a.group);
        auto key = g ? key_of(a.user) : std::nullopt;
        if (key) host_.handle_group_command(now, groups::cmd::Invite{g->id, *key, a.user});
    } else if constexpr (std::is_same_v<A, action::Remove>) {
        auto g = pick_group(a.group);
        if (!g) return;
        // Names in the list are the members' own: the key pinned for the name
        // comes first when it is a member, so another member calling itself so
        // is not taken for it.
        auto member = [&](auto match) { return std::find_if(g->members.begin(), g->members.end(), match); };
        auto pinned = host_.pinned(a.user);
        auto m = pinned ? member([&](const auto& x) { return x.key == *pinned; }) : g->members.end();
        if (m == g->members.end()) m = member([&](const auto& x) { return x.name == a.user; });
        auto key = m != g->members.end() ? std::optional<PublicKey>(m->key) : key_of(a.user);
        if (key) host_.handle_group_command(now, groups::cmd::Remove{g->id, *key});
    } else if constexpr (std::is_same_v<A, action::Groups>) {
        auto all = machine.groups();
        for (auto& g : all) say("  " + render_group(g, group_names()) + (group_ && *group_ == g.id ? " (current)" : ""));
        say("* " + std::to_string(all.size()) + (all.size() == 1 ? " group" : " groups"));
    } else if constexpr (std::is_same_v<A, action::Members>) {
        if (auto g = pick_group(a.group)) {
            say(render_members_header(*g));
            for (std::size_t i = 0; i < g->members.size(); ++i) say("  " + render_member(*g, i, group_names()));
        }
    } else if constexpr (std::is_same_v<A, action::SwitchGroup>) {
        if (a.group.empty()) {
            show_conversation();
        } else if (auto g = pick_group(a.group)) {
            group_ = g->id;
            room_.reset();
            say("* lines now go to group " + render_group(*g, group_names()));
        }
    } else if constexpr (std::is_same_v<A, action::Rename>) {
        if (!group_) say("! no current group: \\group <group> first");
        else host_.handle_group_command(now, groups::cmd::Rename{*group_, a.title});
    } else if constexpr (std::is_same_v<A, action::Via>) {
        if (auto g = pick_group(a.group))
            if (auto r = host_.move_group(now, g->id, a.relay); !r) say("! group " + short_id(g->id) + ": " + r.error());
    }
}

}  // namespace dc::cli
