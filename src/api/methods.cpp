// The daemon API's methods: see methods.hpp.
#include "api/methods.hpp"

#include "darkchat/cli.hpp"
#include "darkchat/crypto.hpp"

#include <algorithm>

namespace dc::api {

namespace {

json user_json(const core::UserView& u) {
    json sessions = json::array();
    for (auto& s : u.sessions)
        sessions.push_back({{"session", to_hex(s.session)}, {"address", s.addr.to_string()}, {"online", s.online},
                            {"last_seen", s.last_seen}, {"super_client", s.super_client}});
    return {{"name", u.name}, {"online", u.online()}, {"contact", u.contact}, {"linked_us", u.linked_us},
            {"two_hop", u.two_hop}, {"via", u.via}, {"sessions", sessions}};
}

json group_json(const groups::GroupView& g, const host::Host& host) {
    json members = json::array();
    for (std::size_t i = 0; i < g.members.size(); ++i) {
        auto& m = g.members[i];
        std::string pinned = host.name_of(m.key);
        members.push_back({{"name", m.name}, {"key", to_hex(m.key)}, {"fingerprint", crypto::fingerprint(m.key)},
                           {"pinned_as", pinned}, {"coordinator", i == 0}});
    }
    return {{"id", to_hex(g.id)}, {"title", g.title}, {"private", g.kind == groups::Kind::pair}, {"epoch", g.epoch},
            {"members", members}, {"has_key", g.has_key},
            {"relay", g.relay ? json(g.relay->addr.to_string()) : json(nullptr)}};
}

// The room client of a node that has rooms of its own (a directory or relays); every
// user node has one, for groups whose lines go through a relay.
const roles::RoomClient* rooms_of(const host::Host& host) {
    const auto* client = const_cast<host::Host&>(host).room_client();
    if (!client || (!client->config().directory && client->config().relays.empty())) return nullptr;
    return client;
}
constexpr const char* kNoRooms = "this node runs no rooms (start it with --dir or --relays)";

// The one room of ours (not a group's) whose id starts with `which`.
Result<roles::RoomView> pick_room(const roles::RoomClient& client, const std::string& which) {
    auto rooms = client.rooms();
    std::erase_if(rooms, [](const auto& r) { return r.group; });
    auto found = cli::id_prefix(which) ? cli::find_rooms(rooms, which) : std::vector<roles::RoomView>{};
    if (which.empty() || found.empty()) return err("no room " + which);
    if (found.size() > 1) return err("several rooms start with " + which + ": give more of the id");
    return found.front();
}

// The one group that `which` names (a title, or a prefix of its id in hex).
Result<groups::GroupView> pick_group(const host::Host& host, const std::string& which) {
    auto* machine = const_cast<host::Host&>(host).groups();
    auto found = cli::find_groups(machine->groups(), which);
    if (which.empty()) return err("name the group (its title or the start of its id)");
    if (found.empty()) return err("no group " + which);
    if (found.size() > 1) return err("several groups match " + which + ": give more of the id");
    return found.front();
}

// The group or the room named in a call about shared files (the caller checked that
// one of them is given): a room's id stands for a group's to the file part.
Result<files::GroupId> shared_in(const host::Host& host, const std::string& group, const std::string& room) {
    if (!group.empty()) {
        auto g = pick_group(host, group);
        if (!g) return err(g.error());
        return g->id;
    }
    auto* client = rooms_of(host);
    if (!client) return err(kNoRooms);
    auto r = pick_room(*client, room);
    if (!r) return err(r.error());
    return r->room;
}

Result<PublicKey> key_of(const host::Host& host, const std::string& user) {
    auto key = host.pinned(user);
    if (!key) return err("unknown user " + user + " (add it first)");
    return *key;
}

constexpr std::size_t kMaxText = 64 * 1024;

// \accept or \decline of an offer, through the node's terminal session (which
// keeps the offers waiting), as the method type does.
Answer file_answer(const Call& c, const char* macro) {
    auto id = c.str("id");
    if (id.empty() || id.size() > 32 || id.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        return fail(code::invalid_params, "id must be hex, the start of a file's id");
    c.reads.push_back(Typed{c.client, c.id, macro + id});
    return later();
}

// Lines said to someone: checked as the terminal checks a typed line.
std::optional<Answer> bad_text(const std::string& text) {
    if (text.empty()) return fail(code::invalid_params, "text is empty");
    if (text.size() > kMaxText) return fail(code::invalid_params, "text longer than 65536 bytes");
    return std::nullopt;
}

}  // namespace

const std::vector<Method>& table() {
    static const std::vector<Method> t = {
        {{"chat", "Send a message to a user (stored and retried until it is delivered).",
          {{"to", "string", true, "the user"}, {"text", "string", true, "the message, up to 64 KiB"}},
          "true; the message then shows as events queued, held and delivered"},
         [](const Call& c) {
             auto to = c.str("to"), text = c.str("text");
             if (auto bad = bad_text(text)) return *bad;
             if (to == c.node().identity().user) return fail(code::refused, "you cannot chat with yourself");
             if (!c.node().user(to)) return fail(code::refused, "unknown user " + to + " (add it first)");
             c.node().handle_command(c.now, core::cmd::Chat{to, text});
             return ok();
         }},
        {{"users", "The users this node knows, with their sessions.",
          {{"which", "string", false, "all (the default), online or offline"}},
          "an array of users"},
         [](const Call& c) {
             auto which = c.str("which");
             cli::action::Which w = cli::action::Which::all;
             if (which == "online") w = cli::action::Which::online;
             else if (which == "offline") w = cli::action::Which::offline;
             else if (!which.empty() && which != "all") return fail(code::invalid_params, "which: all, online or offline");
             json out = json::array();
             for (auto& u : c.node().users())
                 if (cli::matches(u, w)) out.push_back(user_json(u));
             return ok(out);
         }},
        {{"add", "Add a contact: find its sessions through the users we know.",
          {{"user", "string", true, "the user"}}, "true"},
         [](const Call& c) {
             auto user = c.str("user");
             if (user.empty()) return fail(code::invalid_params, "user is empty");
             c.node().handle_command(c.now, core::cmd::Add{user});
             return ok();
         }},
        {{"ping", "Declare ourselves to a node at an address (the first contact).",
          {{"host", "string", true, "an IP address or a host name"},
           {"port", "integer", false, "its port (default: our own)"}},
          "true once the address is known"},
         [](const Call& c) {
             auto host = c.str("host");
             auto port = c.integer("port").value_or(c.host.port());
             if (port <= 0 || port > 65535) return fail(code::invalid_params, "port must be 1 to 65535");
             if (auto a = Addr::parse(host, static_cast<std::uint16_t>(port))) {
                 c.node().handle_command(c.now, core::cmd::Ping{*a});
                 return ok();
             }
             if (host.empty()) return fail(code::invalid_params, "host is empty");
             c.reads.push_back(Resolve{c.client, c.id, host, static_cast<std::uint16_t>(port)});
             return later();
         }},
        {{"explode", "Ask the super-clients and contacts for every user they know.", {}, "true"},
         [](const Call& c) {
             c.node().handle_command(c.now, core::cmd::Explode{});
             return ok();
         }},
        {{"keys", "The keys pinned for users, and any other key seen for them.",
          {{"user", "string", false, "one user (default: everyone)"}}, "an array of keys"},
         [](const Call& c) {
             json out = json::array();
             for (auto& k : c.node().keys(c.str("user"))) {
                 json j{{"user", k.user}, {"pinned", nullptr}, {"other", nullptr}};
                 if (k.pinned) j["pinned"] = crypto::fingerprint(*k.pinned);
                 if (k.other) j["other"] = crypto::fingerprint(*k.other);
                 out.push_back(j);
             }
             return ok(out);
         }},
        {{"trust", "Accept the new key seen for a user, named by its fingerprint.",
          {{"user", "string", true, "the user"}, {"fingerprint", "string", true, "the new key's fingerprint"}},
          "true"},
         [](const Call& c) {
             c.node().handle_command(c.now, core::cmd::Trust{c.str("user"), c.str("fingerprint")});
             return ok();
         }},
        {{"history", "Stored messages with a user, or the lines kept of a group or a room, oldest first.",
          {{"user", "string", false, "the user (one of user, group and room)"},
           {"group", "string", false, "a group: its title or the start of its id"},
           {"room", "string", false, "a room: the start of its id"},
           {"count", "integer", false, "how many of the newest (default 20, at most 1000)"}},
          "an array of messages, or of lines"},
         [](const Call& c) {
             auto count = c.integer("count").value_or(static_cast<std::int64_t>(cli::action::kHistoryDefault));
             if (count < 1 || count > static_cast<std::int64_t>(cli::action::kHistoryMax))
                 return fail(code::invalid_params, "count must be 1 to 1000");
             const auto n = static_cast<std::size_t>(count);
             const bool user = c.params.contains("user"), group = c.params.contains("group"), room = c.params.contains("room");
             if (user + group + room != 1) return fail(code::invalid_params, "give one of user, group and room");
             HistoryRead read{c.client, c.id, c.str("user"), n, std::nullopt};
             if (group) {
                 auto g = pick_group(c.host, c.str("group"));
                 if (!g) return fail(code::refused, g.error());
                 read.conversation = g->id;
             } else if (room) {
                 auto* client = rooms_of(c.host);
                 if (!client) return fail(code::unavailable, kNoRooms);
                 auto r = pick_room(*client, c.str("room"));
                 if (!r) return fail(code::refused, r.error());
                 read.conversation = r->room;
             }
             c.reads.push_back(std::move(read));
             return later();
         }},
        {{"groups", "The conversation groups we are in.", {}, "an array of groups"},
         [](const Call& c) {
             json out = json::array();
             for (auto& g : c.host.groups()->groups()) out.push_back(group_json(g, c.host));
             return ok(out);
         }},
        {{"members", "One group, with its members (the first is the coordinator).",
          {{"group", "string", true, "its title or the start of its id"}}, "a group"},
         [](const Call& c) {
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             return ok(group_json(*g, c.host));
         }},
        {{"connect", "Ask a user into a new group.",
          {{"user", "string", true, "the user"}, {"private", "boolean", false, "a private group of exactly two"}},
          "true; the answer comes as events"},
         [](const Call& c) {
             auto user = c.str("user");
             if (user == c.node().identity().user) return fail(code::refused, "you cannot ask yourself into a group");
             auto key = key_of(c.host, user);
             if (!key) return fail(code::refused, key.error());
             c.host.handle_group_command(c.now, groups::cmd::Request{*key, c.flag("private") ? groups::Kind::pair
                                                                                             : groups::Kind::open});
             return ok();
         }},
        {{"answer", "Answer a request that arrived (event group.request).",
          {{"request", "integer", true, "the request's number"}, {"yes", "boolean", true, "take the asker in"},
           {"group", "string", false, "take it into this group of ours (default: a new one)"}},
          "true"},
         [](const Call& c) {
             groups::cmd::Reply reply{static_cast<std::uint64_t>(*c.integer("request")), c.flag("yes"), std::nullopt, {}};
             if (auto which = c.str("group"); !which.empty()) {
                 auto g = pick_group(c.host, which);
                 if (!g) return fail(code::refused, g.error());
                 reply.into = g->id;
             }
             c.host.handle_group_command(c.now, reply);
             return ok();
         }},
        {{"invite", "Invite a user into a group (through its coordinator).",
          {{"user", "string", true, "the user"}, {"group", "string", true, "the group"}}, "true"},
         [](const Call& c) {
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             auto user = c.str("user");
             if (user == c.node().identity().user) return fail(code::refused, "you cannot invite yourself");
             auto key = key_of(c.host, user);
             if (!key) return fail(code::refused, key.error());
             c.host.handle_group_command(c.now, groups::cmd::Invite{g->id, *key, user});
             return ok();
         }},
        {{"remove", "Remove a member from a group (the coordinator's act).",
          {{"user", "string", true, "the member"}, {"group", "string", true, "the group"}}, "true"},
         [](const Call& c) {
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             auto user = c.str("user");
             auto pinned = c.host.pinned(user);
             auto m = std::find_if(g->members.begin(), g->members.end(),
                                   [&](auto& x) { return pinned ? x.key == *pinned : x.name == user; });
             if (m == g->members.end()) return fail(code::refused, user + " is not a member");
             c.host.handle_group_command(c.now, groups::cmd::Remove{g->id, m->key});
             return ok();
         }},
        {{"leave", "Leave a group.", {{"group", "string", true, "the group"}}, "true"},
         [](const Call& c) {
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             c.host.handle_group_command(c.now, groups::cmd::Leave{g->id});
             return ok();
         }},
        {{"title", "Change a group's display name.",
          {{"group", "string", true, "the group"}, {"title", "string", true, "the new name"}}, "true"},
         [](const Call& c) {
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             c.host.handle_group_command(c.now, groups::cmd::Rename{g->id, c.str("title")});
             return ok();
         }},
        {{"via", "Move a group's lines onto our best relay, or back to member to member (coordinator only).",
          {{"group", "string", true, "the group"}, {"to", "string", true, "\"relay\" or \"peers\""}},
          "true; it shows as event group.moved"},
         [](const Call& c) {
             auto to = c.str("to");
             if (to != "relay" && to != "peers") return fail(code::invalid_params, "to: \"relay\" or \"peers\"");
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             if (auto r = c.host.move_group(c.now, g->id, to == "relay"); !r) return fail(code::refused, r.error());
             return ok();
         }},
        {{"say", "Say a line in a group or a room.",
          {{"group", "string", false, "the group (one of group and room)"},
           {"room", "string", false, "a room: the start of its id"},
           {"text", "string", true, "the line"}},
          "true; it shows as event group.line, or room.line once everyone has it"},
         [](const Call& c) {
             auto text = c.str("text");
             if (auto bad = bad_text(text)) return *bad;
             if (c.params.contains("group") == c.params.contains("room"))
                 return fail(code::invalid_params, "give one of group and room");
             if (c.params.contains("room")) {
                 auto* client = rooms_of(c.host);
                 if (!client) return fail(code::unavailable, kNoRooms);
                 auto r = pick_room(*client, c.str("room"));
                 if (!r) return fail(code::refused, r.error());
                 c.host.room_client()->handle_command(c.now, roles::room_cmd::Send{r->room, text});
                 return ok();
             }
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             c.host.handle_group_command(c.now, groups::cmd::Say{g->id, text});
             return ok();
         }},
        {{"rooms", "The rooms on relays we are in.", {}, "an array of rooms"},
         [](const Call& c) {
             auto* client = rooms_of(c.host);
             if (!client) return fail(code::unavailable, kNoRooms);
             json out = json::array();
             for (auto& r : client->rooms())
                 if (!r.group) out.push_back({{"id", to_hex(r.room)}, {"relay", r.relay.to_string()}, {"epoch", r.epoch},
                                {"members", r.members}, {"joined", r.joined}, {"unacked", r.unacked}});
             return ok(out);
         }},
        {{"files", "File transfers under way, and the files held for groups and rooms.", {}, "an array of transfers"},
         [](const Call& c) {
             json out = json::array();
             for (auto& t : c.host.files()->transfers()) {
                 json j{{"id", to_hex(t.id)}, {"sending", t.side == files::Side::sending},
                        {"held", t.side == files::Side::holding}, {"phase", static_cast<int>(t.phase)},
                        {"peer", c.host.name_of(t.peer)}, {"name", t.name}, {"size", t.size}, {"chunks", t.chunks},
                        {"have", t.have}};
                 if (t.group != files::GroupId{}) j["group"] = to_hex(t.group);
                 out.push_back(std::move(j));
             }
             return ok(out);
         }},
        {{"send_file",
          "Offer a file to a contact, or share it with a group or a room (\\send): it is read for its manifest, then offered.",
          {{"to", "string", false, "the contact (one of to, group and room)"},
           {"group", "string", false, "the group: its title or the start of its id"},
           {"room", "string", false, "a room: the start of its id"},
           {"path", "string", true, "the file, an absolute path on the node's machine"}},
          "true once offered or shared; then events file.accepted or file.declined, file.delivered"},
         [](const Call& c) {
             auto path = c.str("path");
             if (path.empty() || path.front() != '/') return fail(code::invalid_params, "path must be absolute");
             auto to = c.str("to");
             if (!to.empty() + !c.str("group").empty() + !c.str("room").empty() != 1)
                 return fail(code::invalid_params, "give one of to, group and room");
             if (!to.empty()) {
                 if (!c.host.pinned(to)) return fail(code::refused, "unknown user " + to + " (add it first)");
                 c.reads.push_back(FileSend{c.client, c.id, to, path, {}, {}});
                 return later();
             }
             auto g = shared_in(c.host, c.str("group"), c.str("room"));
             if (!g) return fail(code::refused, g.error());
             c.reads.push_back(FileSend{c.client, c.id, {}, path, *g, {}});
             return later();
         }},
        {{"fetch_file", "Ask the members of a group or a room for the file shared there under a name (\\fetch).",
          {{"group", "string", false, "the group: its title or the start of its id (one of group and room)"},
           {"room", "string", false, "a room: the start of its id"},
           {"name", "string", true, "the file's name as it was shared"}},
          "true once asked; then file.accepted ... file.completed, or file.failed when no member holds it"},
         [](const Call& c) {
             auto name = c.str("name");
             if (name.empty()) return fail(code::invalid_params, "name is empty");
             if (c.str("group").empty() == c.str("room").empty()) return fail(code::invalid_params, "give one of group and room");
             auto g = shared_in(c.host, c.str("group"), c.str("room"));
             if (!g) return fail(code::refused, g.error());
             c.reads.push_back(FileSend{c.client, c.id, {}, {}, *g, name});
             return later();
         }},
        {{"accept_file", "Accept a file offered (event file.offered), into the download folder (\\accept).",
          {{"id", "string", true, "the offer's id, or the start of it in hex"}},
          "{lines}: what the terminal said; then file.progress and file.completed"},
         [](const Call& c) { return file_answer(c, "\\accept "); }},
        {{"decline_file", "Refuse a file offered (\\decline).", {{"id", "string", true, "the offer's id, or its start"}},
          "{lines}: what the terminal said"},
         [](const Call& c) { return file_answer(c, "\\decline "); }},
        {{"unhold_file", "Stop serving a file held for a group or a room (\\unhold); the file itself stays.",
          {{"id", "string", true, "the file's id, or the start of it in hex (method files, held true)"}},
          "{lines}: what the terminal said"},
         [](const Call& c) { return file_answer(c, "\\unhold "); }},
        {{"quit", "Stop the node (it says goodbye to its contacts first).", {}, "true"},
         [](const Call&) { return ok(); }},
        {{"subscribe", "Receive every event as notification \"event\", starting after the one numbered after.",
          {{"after", "integer", false, "the seq of the last event seen (default: the newest, so only new ones)"}},
          "{next, last}: the seq of the first event to come, and the newest there is"},
         [](const Call&) { return ok(); }},
        {{"unsubscribe", "Receive no more events.", {}, "true"}, [](const Call&) { return ok(); }},
        {{"type", "A line as typed at the node's terminal: a macro or a message to the current conversation.",
          {{"line", "string", true, "the line, without its newline"}},
          "{lines}: what the terminal said in answer; what follows comes as events"},
         [](const Call& c) {
             auto line = c.str("line");
             if (line.size() > kMaxText) return fail(code::invalid_params, "line longer than 65536 bytes");
             if (line.find('\n') != std::string::npos) return fail(code::invalid_params, "one line, without a newline");
             c.reads.push_back(Typed{c.client, c.id, line});
             return later();
         }},
        {{"rpc.discover", "This API described as an OpenRPC document.", {}, "the document"},
         [](const Call&) { return ok(json::parse(openrpc())); }},
    };
    return t;
}

bool type_ok(const json& v, std::string_view type) {
    if (type == "string") return v.is_string();
    if (type == "integer") return v.is_number_integer();
    if (type == "boolean") return v.is_boolean();
    return false;
}


const std::vector<MethodInfo>& methods() {
    static const std::vector<MethodInfo> infos = [] {
        std::vector<MethodInfo> out;
        for (auto& m : table()) out.push_back(m.info);
        return out;
    }();
    return infos;
}

std::string openrpc() {
    json ms = json::array();
    for (auto& m : methods()) {
        json params = json::array();
        for (auto& p : m.params)
            params.push_back({{"name", p.name}, {"summary", p.summary}, {"required", p.required},
                              {"schema", {{"type", p.type}}}});
        ms.push_back({{"name", m.name}, {"summary", m.summary}, {"paramStructure", "by-name"}, {"params", params},
                      {"result", {{"name", "result"}, {"summary", m.result}, {"schema", json::object()}}}});
    }
    json doc{{"openrpc", "1.2.6"},
             {"info", {{"title", "darkchat daemon API"}, {"version", DARKCHAT_VERSION}}},
             {"methods", ms}};
    return doc.dump(2) + "\n";
}

}  // namespace dc::api
