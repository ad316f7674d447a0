// The daemon API's server without I/O (api.hpp, darkchat-api(7)): request
// lines in, responses and numbered events out, the event log kept through the
// store.
#include "api/json.hpp"

#include "darkchat/cli.hpp"
#include "darkchat/crypto.hpp"

#include <algorithm>

namespace dc::api {

struct Server::Client {
    std::string in;            // bytes of a request line not complete yet
    bool subscribed = false;
    std::uint64_t next = 1;    // the next event to send it
    bool reading = false;      // a LogRead for it is out
    std::size_t sent = 0;      // bytes of events sent since it last drained
    bool closed = false;       // told to close: nothing more is read or sent
};

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string response(const std::string& id, const json& result) {
    return R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":)" + dump(result) + "}\n";
}

std::string error(const std::string& id, int code, const std::string& message) {
    json e{{"code", code}, {"message", message}};
    return R"({"jsonrpc":"2.0","id":)" + id + R"(,"error":)" + dump(e) + "}\n";
}

std::string notification(std::string_view method, const std::string& params) {
    return R"({"jsonrpc":"2.0","method":")" + std::string(method) + R"(","params":)" + params + "}\n";
}

// What a method's handler answers: a result, an error, or later (a read is out).
struct Answer {
    json result;
    int code = 0;
    std::string message;
    bool later = false;
};
Answer fail(int code, std::string message) { return {nullptr, code, std::move(message), false}; }
Answer ok(json result = true) { return {std::move(result), 0, {}, false}; }
Answer later() { return {nullptr, 0, {}, true}; }

struct Call {
    TimeMs now;
    host::Host& host;
    ClientId client;
    const std::string& id;
    const json& params;
    std::deque<Read>& reads;

    std::string str(const char* name) const {
        auto it = params.find(name);
        return it == params.end() ? std::string() : it->get<std::string>();
    }
    std::optional<std::int64_t> integer(const char* name) const {
        auto it = params.find(name);
        if (it == params.end()) return std::nullopt;
        return it->get<std::int64_t>();
    }
    bool flag(const char* name) const {
        auto it = params.find(name);
        return it != params.end() && it->get<bool>();
    }
    core::Node& node() const { return *host.node(); }
};

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
            {"members", members}, {"has_key", g.has_key}};
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
        return fail(code::invalid_params, "id must be hex, the start of an offer's id");
    c.reads.push_back(Typed{c.client, c.id, macro + id});
    return later();
}

using Handler = Answer (*)(const Call&);

struct Method {
    MethodInfo info;
    Handler run;
};

// Lines said to someone: checked as the terminal checks a typed line.
std::optional<Answer> bad_text(const std::string& text) {
    if (text.empty()) return fail(code::invalid_params, "text is empty");
    if (text.size() > kMaxText) return fail(code::invalid_params, "text longer than 65536 bytes");
    return std::nullopt;
}

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
        {{"history", "Stored messages with a user, oldest first.",
          {{"user", "string", true, "the user"}, {"count", "integer", false, "how many of the newest (default 20, at most 1000)"}},
          "an array of messages"},
         [](const Call& c) {
             auto count = c.integer("count").value_or(static_cast<std::int64_t>(cli::action::kHistoryDefault));
             if (count < 1 || count > static_cast<std::int64_t>(cli::action::kHistoryMax))
                 return fail(code::invalid_params, "count must be 1 to 1000");
             c.reads.push_back(HistoryRead{c.client, c.id, c.str("user"), static_cast<std::size_t>(count)});
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
        {{"say", "Say a line in a group.", {{"group", "string", true, "the group"}, {"text", "string", true, "the line"}},
          "true; it shows as event group.line"},
         [](const Call& c) {
             auto text = c.str("text");
             if (auto bad = bad_text(text)) return *bad;
             auto g = pick_group(c.host, c.str("group"));
             if (!g) return fail(code::refused, g.error());
             c.host.handle_group_command(c.now, groups::cmd::Say{g->id, text});
             return ok();
         }},
        {{"rooms", "The rooms on relays we are in.", {}, "an array of rooms"},
         [](const Call& c) {
             auto* client = c.host.room_client();
             if (!client) return fail(code::unavailable, "this node runs no rooms (start it with --dir or --relays)");
             json out = json::array();
             for (auto& r : client->rooms())
                 out.push_back({{"id", to_hex(r.room)}, {"relay", r.relay.to_string()}, {"epoch", r.epoch},
                                {"members", r.members}, {"joined", r.joined}, {"unacked", r.unacked}});
             return ok(out);
         }},
        {{"files", "File transfers under way.", {}, "an array of transfers"},
         [](const Call& c) {
             json out = json::array();
             for (auto& t : c.host.files()->transfers())
                 out.push_back({{"id", to_hex(t.id)}, {"sending", t.side == files::Side::sending},
                                {"phase", static_cast<int>(t.phase)}, {"peer", c.host.name_of(t.peer)},
                                {"name", t.name}, {"size", t.size}, {"chunks", t.chunks}, {"have", t.have}});
             return ok(out);
         }},
        {{"send_file", "Offer a file to a contact (\\send): it is read for its manifest, then offered.",
          {{"to", "string", true, "the contact"}, {"path", "string", true, "the file, an absolute path on the node's machine"}},
          "true once offered; then events file.accepted or file.declined, file.delivered"},
         [](const Call& c) {
             auto path = c.str("path");
             if (path.empty() || path.front() != '/') return fail(code::invalid_params, "path must be absolute");
             auto to = c.str("to");
             if (!c.host.pinned(to)) return fail(code::refused, "unknown user " + to + " (add it first)");
             c.reads.push_back(FileSend{c.client, c.id, to, path});
             return later();
         }},
        {{"accept_file", "Accept a file offered (event file.offered), into the download folder (\\accept).",
          {{"id", "string", true, "the offer's id, or the start of it in hex"}},
          "{lines}: what the terminal said; then file.progress and file.completed"},
         [](const Call& c) { return file_answer(c, "\\accept "); }},
        {{"decline_file", "Refuse a file offered (\\decline).", {{"id", "string", true, "the offer's id, or its start"}},
          "{lines}: what the terminal said"},
         [](const Call& c) { return file_answer(c, "\\decline "); }},
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

}  // namespace

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

Server::Server(host::Host& host, Config config, std::uint64_t last_event)
    : host_(host), config_(config), last_(last_event), stored_(last_event) {}

Server::~Server() = default;

void Server::handle_connect(ClientId client) { clients_[client] = std::make_unique<Client>(); }

void Server::handle_disconnect(ClientId client) { clients_.erase(client); }

void Server::send(ClientId client, std::string bytes, bool close) {
    auto it = clients_.find(client);
    if (it == clients_.end() || it->second->closed) return;
    if (close) it->second->closed = true;
    out_.push_back({client, std::move(bytes), close});
}

void Server::handle_bytes(TimeMs now, ClientId client, std::string_view bytes) {
    auto it = clients_.find(client);
    if (it == clients_.end()) return;
    Client* c = it->second.get();
    std::size_t start = 0;
    while (start < bytes.size() && !c->closed) {
        auto nl = bytes.find('\n', start);
        auto piece = bytes.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        if (c->in.size() + piece.size() > config_.max_request) {
            send(client, error("null", code::invalid_request,
                               "request longer than " + std::to_string(config_.max_request) + " bytes"),
                 true);
            return;
        }
        c->in.append(piece);
        if (nl == std::string_view::npos) break;
        start = nl + 1;
        std::string line = std::move(c->in);
        c->in.clear();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        request(now, client, line);
        if (!clients_.count(client)) return;
    }
}

void Server::request(TimeMs now, ClientId client, std::string_view line) {
    json req = json::parse(line, nullptr, false);
    if (req.is_discarded()) {
        send(client, error("null", code::parse_error, "not JSON"));
        return;
    }
    if (req.is_array()) {
        send(client, error("null", code::invalid_request, "batches are not taken: one request per line"));
        return;
    }
    std::string id;  // empty for a notification: nothing answers it, not even a read's result
    bool notification = true;
    if (req.is_object()) {
        if (auto i = req.find("id"); i != req.end()) {
            if (!i->is_string() && !i->is_number_integer() && !i->is_null()) {
                send(client, error("null", code::invalid_request, "id must be a string, an integer or null"));
                return;
            }
            id = dump(*i);
            notification = false;
        }
    }
    auto reply = [&](const Answer& a) {
        if (notification || a.later) return;
        send(client, a.code ? error(id, a.code, a.message) : response(id, a.result));
    };
    if (!req.is_object() || req.value("jsonrpc", json()) != "2.0" || !req.contains("method") ||
        !req["method"].is_string()) {
        reply(fail(code::invalid_request, "not a JSON-RPC 2.0 request"));
        return;
    }
    const std::string method = req["method"].get<std::string>();
    auto& t = table();
    auto m = std::find_if(t.begin(), t.end(), [&](const Method& x) { return x.info.name == method; });
    if (m == t.end()) {
        reply(fail(code::method_not_found, "no method " + method + " (rpc.discover lists them)"));
        return;
    }
    static const json empty = json::object();
    const json* params = &empty;
    if (auto p = req.find("params"); p != req.end()) {
        if (!p->is_object()) {
            reply(fail(code::invalid_params, "params must be an object (by name)"));
            return;
        }
        params = &*p;
    }
    for (auto& [k, v] : params->items()) {
        auto spec = std::find_if(m->info.params.begin(), m->info.params.end(), [&](const Param& x) { return x.name == k; });
        if (spec == m->info.params.end()) {
            reply(fail(code::invalid_params, method + " takes no parameter " + k));
            return;
        }
        if (!type_ok(v, spec->type)) {
            reply(fail(code::invalid_params, k + " must be " + std::string(spec->type == "integer" ? "an " : "a ") +
                                                 std::string(spec->type)));
            return;
        }
    }
    for (auto& p : m->info.params)
        if (p.required && !params->contains(p.name)) {
            reply(fail(code::invalid_params, method + " needs " + std::string(p.name)));
            return;
        }
    Client& c = *clients_.at(client);
    if (method == "subscribe") {
        auto after = params->contains("after") ? (*params)["after"].get<std::int64_t>() : static_cast<std::int64_t>(last_);
        if (after < 0) {
            reply(fail(code::invalid_params, "after must not be negative"));
            return;
        }
        // A seq from another log (the data directory was replaced): from its start.
        c.next = static_cast<std::uint64_t>(after) > last_ ? 1 : static_cast<std::uint64_t>(after) + 1;
        c.subscribed = true;
        reply(ok({{"next", c.next}, {"last", last_}}));
        deliver(client);
        return;
    }
    if (method == "unsubscribe") c.subscribed = false;
    if (method == "quit") quit_ = true;
    reply(m->run(Call{now, host_, client, id, *params, reads_}));
}

struct Server::Json {
    json value;
};

void Server::handle_progress(TimeMs now, const files::TransferView& t, std::uint64_t bytes, std::string_view line) {
    log_event(now,
              Json{{{"kind", "file.progress"}, {"id", to_hex(t.id)}, {"name", t.name},
                    {"from", {{"name", host_.name_of(t.peer)}, {"key", to_hex(t.peer)}}}, {"size", t.size},
                    {"have", bytes}}},
              line);
}

void Server::handle_event(TimeMs now, const host::Event& e, std::string_view line) {
    if (auto* f = std::get_if<files::Event>(&e))
        if (auto* done = std::get_if<files::ev::Completed>(f); done && done->image) {
            images_.push_back({to_hex(done->id), {done->path, done->image->type}});
            while (images_.size() > 256) images_.pop_front();
        }
    log_event(now, Json{event_json(e, host_)}, line);
}

std::optional<std::pair<std::string, std::string>> Server::image(const std::string& id) const {
    for (auto it = images_.rbegin(); it != images_.rend(); ++it)
        if (it->first == id) return it->second;
    return std::nullopt;
}

void Server::log_event(TimeMs now, Json&& event, std::string_view line) {
    json& j = event.value;
    j["seq"] = ++last_;
    j["at"] = now;
    j["line"] = line;
    EventRecord r{last_, now, dump(j)};
    batch_.push_back(store_op::PutEvent{r});
    if (last_ > config_.keep && last_ % 1024 == 0) {
        trimmed_ = std::max(trimmed_, last_ - config_.keep);
        batch_.push_back(store_op::DeleteEvents{trimmed_});
    }
    recent_.push_back(std::move(r));
    while (recent_.size() > config_.recent) recent_.pop_front();
}

const std::vector<StoreOp>* Server::poll_store() {
    if (batch_out_) {
        batch_out_ = false;
        return nullptr;
    }
    if (batch_.empty()) return nullptr;
    if (unsaved_.empty()) {
        unsaved_ = std::move(batch_);
    } else {
        unsaved_.insert(unsaved_.end(), batch_.begin(), batch_.end());
    }
    batch_.clear();
    batch_out_ = true;
    return &unsaved_;
}

void Server::handle_store_applied() {
    unsaved_.clear();
    stored_ = last_;
    deliver_all();
}

void Server::handle_store_failed() {
    // Kept in unsaved_ for the next batch; the events go out meanwhile: a full
    // disk should not silence the clients.
    stored_ = last_;
    deliver_all();
}

void Server::deliver_all() {
    for (auto& [id, c] : clients_) deliver(id);
}

void Server::deliver(ClientId id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    Client& c = *it->second;
    while (c.subscribed && !c.reading && !c.closed && c.next <= stored_ && c.sent < config_.window) {
        if (!recent_.empty() && c.next >= recent_.front().seq) {
            const EventRecord& r = recent_[c.next - recent_.front().seq];
            auto n = notification("event", r.body);
            c.sent += n.size();
            ++c.next;
            send(id, std::move(n));
            continue;
        }
        if (c.next <= trimmed_) {
            send(id, notification("gap", dump(json{{"from", c.next}, {"to", trimmed_}})));
            c.next = trimmed_ + 1;
            continue;
        }
        c.reading = true;
        reads_.push_back(LogRead{id, c.next - 1, config_.page});
    }
}

void Server::handle_drained(ClientId client) {
    auto it = clients_.find(client);
    if (it == clients_.end()) return;
    it->second->sent = 0;
    deliver(client);
}

std::optional<Read> Server::poll_read() {
    if (reads_.empty()) return std::nullopt;
    Read r = std::move(reads_.front());
    reads_.pop_front();
    return r;
}

void Server::handle_log(const LogRead& read, const Result<std::vector<EventRecord>>& events) {
    auto it = clients_.find(read.client);
    if (it == clients_.end()) return;
    Client& c = *it->second;
    c.reading = false;
    // What the log no longer has (trimmed, or unreadable) is said as a gap, up
    // to the first event it has or the oldest one in memory.
    std::uint64_t first = recent_.empty() ? stored_ + 1 : recent_.front().seq;
    if (events && !events->empty()) first = std::min(first, events->front().seq);
    if (c.next < first) {
        json gap{{"from", c.next}, {"to", first - 1}};
        if (!events) gap["why"] = events.error();
        send(read.client, notification("gap", dump(gap)));
        c.next = first;
    }
    if (events)
        for (auto& e : *events) {
            if (e.seq != c.next || e.seq > stored_ || c.sent >= config_.window) break;
            auto n = notification("event", e.body);
            c.sent += n.size();
            ++c.next;
            send(read.client, std::move(n));
        }
    deliver(read.client);
}

void Server::handle_history(const HistoryRead& read, const Result<std::vector<HistoryRecord>>& found) {
    if (read.id.empty()) return;
    if (!found) {
        send(read.client, error(read.id, code::read_failed, "could not read the history: " + found.error()));
        return;
    }
    json out = json::array();
    for (auto& m : *found) out.push_back(history_json(m));
    send(read.client, response(read.id, out));
}

void Server::handle_resolved(TimeMs now, const Resolve& r, const Result<Addr>& addr) {
    if (!addr) {
        if (r.id.empty()) return;
        send(r.client, error(r.id, code::read_failed,
                             "cannot resolve " + r.host + (addr.error().empty() ? "" : ": " + addr.error())));
        return;
    }
    Addr a = *addr;
    a.port = r.port;
    host_.node()->handle_command(now, core::cmd::Ping{a});
    if (!r.id.empty()) send(r.client, response(r.id, true));
}

void Server::handle_typed(const Typed& t, const std::vector<std::string>& said) {
    if (t.id.empty()) return;
    send(t.client, response(t.id, json{{"lines", said}}));
}

void Server::handle_file_offered(const FileSend& f, const std::vector<std::string>& said) {
    if (f.id.empty()) return;
    for (auto& l : said)
        if (!l.empty() && l.front() == '!') {
            send(f.client, error(f.id, code::refused, l.substr(std::min<std::size_t>(2, l.size()))));
            return;
        }
    send(f.client, response(f.id, true));
}

std::optional<Output> Server::poll_output() {
    if (out_.empty()) return std::nullopt;
    Output o = std::move(out_.front());
    out_.pop_front();
    return o;
}

std::string AttachClient::hello() {
    ++waiting_;
    return R"({"jsonrpc":"2.0","id":)" + std::to_string(++next_id_) + R"(,"method":"subscribe"})" "\n";
}

std::string AttachClient::typed(std::string_view line) {
    ++waiting_;
    json req{{"jsonrpc", "2.0"}, {"id", ++next_id_}, {"method", "type"}, {"params", {{"line", line}}}};
    return dump(req) + "\n";
}

void AttachClient::handle_bytes(std::string_view bytes) {
    in_.append(bytes);
    std::size_t nl;
    while ((nl = in_.find('\n')) != std::string::npos) {
        json m = json::parse(std::string_view(in_).substr(0, nl), nullptr, false);
        in_.erase(0, nl + 1);
        if (!m.is_object()) continue;
        const bool has_params = m.contains("params") && m["params"].is_object();
        if (m.value("method", "") == "event" && has_params) {
            if (auto l = m["params"].value("line", ""); !l.empty()) {
                // An event the session said several lines for comes joined by newlines.
                std::size_t start = 0, end;
                while ((end = l.find('\n', start)) != std::string::npos) {
                    lines_.push_back(l.substr(start, end - start));
                    start = end + 1;
                }
                lines_.push_back(l.substr(start));
            }
        } else if (m.value("method", "") == "gap" && has_params) {
            lines_.push_back("! events " + m["params"].value("from", json(0)).dump() + " to " +
                             m["params"].value("to", json(0)).dump() + " are no longer in the node's log");
        } else if (m.contains("id")) {
            if (waiting_ > 0) --waiting_;
            if (auto e = m.find("error"); e != m.end() && e->is_object()) {
                lines_.push_back("! " + e->value("message", std::string("error")));
            } else if (auto r = m.find("result"); r != m.end() && r->is_object() && r->contains("lines")) {
                for (auto& l : (*r)["lines"])
                    if (l.is_string()) lines_.push_back(l.get<std::string>());
            }
        }
    }
}

std::optional<std::string> AttachClient::poll_line() {
    if (lines_.empty()) return std::nullopt;
    auto l = std::move(lines_.front());
    lines_.pop_front();
    return l;
}

}  // namespace dc::api
