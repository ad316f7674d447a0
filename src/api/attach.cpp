// darkchat attached to a running node, without I/O (api.hpp, darkchat-api(7),
// ATTACHING): typed lines become calls of "type"; what the node sends back
// becomes the lines a terminal shows.
#include "api/json.hpp"

namespace dc::api {

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
