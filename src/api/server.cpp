// The daemon API's server without I/O (api.hpp, darkchat-api(7)): request
// lines in, responses and numbered events out, the event log kept through the
// store.
#include "api/json.hpp"
#include "api/methods.hpp"

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

}  // namespace

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
    if (batch_.empty()) return unsaved_.empty() ? nullptr : &unsaved_;
    if (unsaved_.empty()) {
        unsaved_ = std::move(batch_);
    } else {
        unsaved_.insert(unsaved_.end(), batch_.begin(), batch_.end());
    }
    batch_.clear();
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

void Server::take_back(std::uint64_t after) {
    if (after >= last_) return;
    auto given = [&](const StoreOp& op) {
        auto* e = std::get_if<store_op::PutEvent>(&op);
        return e && e->event.seq > after;
    };
    std::erase_if(unsaved_, given);
    std::erase_if(batch_, given);
    while (!recent_.empty() && recent_.back().seq > after) recent_.pop_back();
    last_ = after;
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

void Server::handle_lines(const HistoryRead& read, const Result<std::vector<LineRecord>>& found) {
    if (read.id.empty()) return;
    if (!found) {
        send(read.client, error(read.id, code::read_failed, "could not read the lines: " + found.error()));
        return;
    }
    json out = json::array();
    for (auto& l : *found) out.push_back(line_json(l));
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

}  // namespace dc::api
