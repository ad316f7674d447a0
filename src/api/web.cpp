// The web page's HTTP/1.1, without I/O (api.hpp, darkchat-api(7), THE WEB PAGE):
// requests parsed, checked (token, Host, Origin) and turned into the Server's
// requests; its answers and events turned into HTTP responses and server-sent
// events.
#include "api/json.hpp"

#include <algorithm>
#include <cctype>

namespace dc::api {

namespace {

constexpr std::size_t kMaxHead = 16 * 1024;
constexpr std::size_t kMaxBody = 1 << 20;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t");
    return std::string(s.substr(b, e - b + 1));
}

// The value of key in a query string (no decoding: our values are hex and digits).
std::string query_value(std::string_view query, std::string_view key) {
    std::size_t start = 0;
    while (start <= query.size()) {
        auto amp = query.find('&', start);
        auto part = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
        auto eq = part.find('=');
        if (eq != std::string_view::npos && part.substr(0, eq) == key) return std::string(part.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        start = amp + 1;
    }
    return {};
}

// A query value as the page encodes it (encodeURIComponent): %XX and + undone.
std::string url_decoded(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
            out.push_back(static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(v[i] == '+' ? ' ' : v[i]);
        }
    }
    return out;
}

std::string cookie_value(std::string_view cookies, std::string_view key) {
    std::size_t start = 0;
    while (start < cookies.size()) {
        auto semi = cookies.find(';', start);
        auto part = trim(cookies.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start));
        auto eq = part.find('=');
        if (eq != std::string::npos && part.substr(0, eq) == key) return part.substr(eq + 1);
        if (semi == std::string_view::npos) break;
        start = semi + 1;
    }
    return {};
}

// Equal, in a time that does not depend on where they differ.
bool same(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
    return d == 0;
}

const char* reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
    }
}

// What every response says: nothing is cached, nothing is fetched from elsewhere.
constexpr const char* kCommonHeaders =
    "Cache-Control: no-store\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'\r\n";

}  // namespace

struct Web::Conn {
    std::string in;
    bool head_done = false;
    std::string method, target, host, origin, cookie, auth, last_event_id;
    std::size_t length = 0;
    enum class Kind { http, rpc, events } kind = Kind::http;
    bool done = false;  // a response was sent (or is the stream)
};

Web::Web(Server& server, std::string token, std::uint16_t port)
    : server_(server), token_(std::move(token)), port_(port) {}

Web::~Web() = default;

void Web::handle_connect(ClientId conn) { conns_[conn] = std::make_unique<Conn>(); }

void Web::handle_disconnect(ClientId conn) {
    auto it = conns_.find(conn);
    if (it == conns_.end()) return;
    if (it->second->kind != Conn::Kind::http) server_.handle_disconnect(conn);
    conns_.erase(it);
}

void Web::respond(ClientId conn, int status, std::string_view type, const std::string& body,
                  const std::string& extra_headers) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
    r += kCommonHeaders;
    if (!type.empty()) r += "Content-Type: " + std::string(type) + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    r += extra_headers;
    r += "Connection: close\r\n\r\n";
    r += body;
    out_.push_back({conn, std::move(r), true});
    if (auto it = conns_.find(conn); it != conns_.end()) it->second->done = true;
}

void Web::handle_bytes(TimeMs now, ClientId conn, std::string_view bytes) {
    auto it = conns_.find(conn);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    if (c.done || c.kind != Conn::Kind::http) return;  // one request per connection
    c.in.append(bytes);
    if (!c.head_done) {
        auto end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.in.size() > kMaxHead) respond(conn, 431, "text/plain", "request head too large\n");
            return;
        }
        std::string head = c.in.substr(0, end);
        c.in.erase(0, end + 4);
        c.head_done = true;
        auto line_end = head.find("\r\n");
        std::string first = head.substr(0, line_end);
        auto sp1 = first.find(' '), sp2 = first.rfind(' ');
        if (sp1 == std::string::npos || sp2 == sp1 || first.compare(sp2 + 1, 7, "HTTP/1.") != 0) {
            respond(conn, 400, "text/plain", "not an HTTP/1 request\n");
            return;
        }
        c.method = first.substr(0, sp1);
        c.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
        std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
            auto e = head.find("\r\n", pos);
            std::string h = head.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
            pos = e == std::string::npos ? head.size() : e + 2;
            auto colon = h.find(':');
            if (colon == std::string::npos) continue;
            auto name = lower(h.substr(0, colon));
            auto value = trim(std::string_view(h).substr(colon + 1));
            if (name == "host") c.host = value;
            else if (name == "origin") c.origin = value;
            else if (name == "cookie") c.cookie = value;
            else if (name == "authorization") c.auth = value;
            else if (name == "last-event-id") c.last_event_id = value;
            else if (name == "content-length") {
                if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos) {
                    respond(conn, 400, "text/plain", "bad Content-Length\n");
                    return;
                }
                c.length = std::stoul(value);
            } else if (name == "transfer-encoding") {
                respond(conn, 400, "text/plain", "chunked bodies are not taken\n");
                return;
            }
        }
        // An upload may be large: who sends it is checked before its body is read.
        if (c.method == "POST" && c.target.substr(0, c.target.find('?')) == "/upload") {
            if (!admitted(conn, c)) return;
            if (c.length > kMaxUpload) {
                respond(conn, 413, "text/plain", "a file of at most 32 MiB\n");
                return;
            }
        } else if (c.length > kMaxBody) {
            respond(conn, 413, "text/plain", "body larger than 1 MiB\n");
            return;
        }
    }
    if (c.in.size() < c.length) return;
    request(now, conn, c);
}

// Only this node's own address: a page of another site that resolves its
// name to 127.0.0.1 (DNS rebinding) or posts to it across origins is refused;
// and only with the token. Refused: answered, and false.
bool Web::admitted(ClientId conn, const Conn& c) {
    const std::string port = std::to_string(port_);
    const bool host_ok = c.host == "127.0.0.1:" + port || c.host == "localhost:" + port;
    const bool origin_ok =
        c.origin.empty() || c.origin == "http://127.0.0.1:" + port || c.origin == "http://localhost:" + port;
    if (!host_ok || !origin_ok) {
        respond(conn, 403, "text/plain", "only pages of this node, at 127.0.0.1:" + port + "\n");
        return false;
    }
    auto q = c.target.find('?');
    std::string query = q == std::string::npos ? std::string() : c.target.substr(q + 1);
    std::string token = query_value(query, "token");
    // Cookies do not tell ports apart: each node's cookie is named after its port.
    if (token.empty()) token = cookie_value(c.cookie, "darkchat_token_" + port);
    if (token.empty() && c.auth.rfind("Bearer ", 0) == 0) token = c.auth.substr(7);
    if (!same(token, token_)) {
        respond(conn, 401, "text/plain",
                "open the address darkchat printed, with its token (web_token in the data directory)\n");
        return false;
    }
    return true;
}

void Web::request(TimeMs now, ClientId conn, Conn& c) {
    if (!admitted(conn, c)) return;
    const std::string port = std::to_string(port_);
    const std::string cookie = "darkchat_token_" + port;
    auto q = c.target.find('?');
    std::string path = c.target.substr(0, q);
    std::string query = q == std::string::npos ? std::string() : c.target.substr(q + 1);
    if (path == "/" && c.method == "GET") {
        respond(conn, 200, "text/html; charset=utf-8", std::string(page()),
                "Set-Cookie: " + cookie + "=" + token_ + "; HttpOnly; SameSite=Strict; Path=/\r\n");
    } else if (path == "/upload" && c.method == "POST") {
        Upload u{conn, url_decoded(query_value(query, "to")), url_decoded(query_value(query, "name")),
                 c.in.substr(0, c.length), url_decoded(query_value(query, "group"))};
        if (u.to.empty() == u.group.empty() || u.name.empty() || u.bytes.empty()) {
            respond(conn, 400, "application/json",
                    R"({"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"to or group, name and a body are needed"}})");
            return;
        }
        c.done = true;
        uploads_.push_back(std::move(u));
    } else if (path == "/rpc" && c.method == "POST") {
        std::string body = c.in.substr(0, c.length);
        if (body.find('\n') != std::string::npos) body.erase(std::remove(body.begin(), body.end(), '\n'), body.end());
        json req = json::parse(body, nullptr, false);
        if (!req.is_object() || !req.contains("id")) {
            // Nothing would answer a notification, or a batch, on this connection.
            respond(conn, 400, "application/json",
                    R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"one request with an id per POST"}})");
            return;
        }
        if (req.value("method", "") == "subscribe") {
            respond(conn, 400, "application/json",
                    R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"events come from GET /events"}})");
            return;
        }
        c.kind = Conn::Kind::rpc;
        server_.handle_connect(conn);
        server_.handle_bytes(now, conn, body + "\n");
    } else if (path == "/events" && c.method == "GET") {
        std::string after = query_value(query, "after");
        if (after.empty()) after = c.last_event_id;
        if (!after.empty() && (after.size() > 19 || after.find_first_not_of("0123456789") != std::string::npos)) {
            respond(conn, 400, "text/plain", "after must be a number\n");
            return;
        }
        c.kind = Conn::Kind::events;
        c.done = true;
        std::string head = "HTTP/1.1 200 OK\r\n";
        head += kCommonHeaders;
        head += "Content-Type: text/event-stream\r\nConnection: keep-alive\r\n\r\n";
        out_.push_back({conn, std::move(head), false});
        server_.handle_connect(conn);
        std::string sub = R"({"jsonrpc":"2.0","id":0,"method":"subscribe")";
        if (!after.empty()) sub += R"(,"params":{"after":)" + after + "}";
        server_.handle_bytes(now, conn, sub + "}\n");
    } else if (path.rfind("/image/", 0) == 0 && c.method == "GET") {
        auto img = server_.image(path.substr(7));
        if (!img) {
            respond(conn, 404, "text/plain", "no such image\n");
            return;
        }
        c.done = true;
        reads_.push_back({conn, img->first, img->second});
    } else if (path == "/" || path == "/rpc" || path == "/events" || path == "/upload") {
        respond(conn, 405, "text/plain", "method not allowed\n");
    } else {
        respond(conn, 404, "text/plain", "not found\n");
    }
}

void Web::handle_output(Output o) {
    auto it = conns_.find(o.client);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    if (c.kind == Conn::Kind::rpc) {
        // The answer, and then the connection closes.
        std::string body = o.bytes;
        while (!body.empty() && body.back() == '\n') body.pop_back();
        c.kind = Conn::Kind::http;
        server_.handle_disconnect(o.client);
        respond(o.client, 200, "application/json", body);
        return;
    }
    if (c.kind != Conn::Kind::events) return;
    std::string sse;
    std::size_t start = 0;
    while (start < o.bytes.size()) {
        auto nl = o.bytes.find('\n', start);
        if (nl == std::string::npos) break;
        json m = json::parse(std::string_view(o.bytes).substr(start, nl - start), nullptr, false);
        start = nl + 1;
        if (!m.is_object() || !m.contains("method")) continue;  // the answer to our subscribe
        auto dumped = dump(m["params"]);
        if (m["method"] == "event") {
            sse += "id: " + m["params"].value("seq", json(0)).dump() + "\ndata: " + dumped + "\n\n";
        } else {
            sse += "event: " + m["method"].get<std::string>() + "\ndata: " + dumped + "\n\n";
        }
    }
    if (!sse.empty() || o.close) out_.push_back({o.client, std::move(sse), o.close});
}

std::optional<Web::ImageRead> Web::poll_read() {
    if (reads_.empty()) return std::nullopt;
    ImageRead r = std::move(reads_.front());
    reads_.pop_front();
    return r;
}

void Web::handle_image(const ImageRead& r, const Result<std::string>& bytes) {
    if (!conns_.count(r.conn)) return;
    if (!bytes) {
        respond(r.conn, 404, "text/plain", "cannot read the image: " + bytes.error() + "\n");
        return;
    }
    respond(r.conn, 200, "image/" + r.type, *bytes);
}

std::optional<Web::Upload> Web::poll_upload() {
    if (uploads_.empty()) return std::nullopt;
    Upload u = std::move(uploads_.front());
    uploads_.pop_front();
    return u;
}

void Web::handle_uploaded(TimeMs now, const Upload& u, const Result<std::string>& path) {
    auto it = conns_.find(u.conn);
    if (it == conns_.end()) return;
    if (!path) {
        respond(u.conn, 200, "application/json",
                dump(json{{"jsonrpc", "2.0"}, {"id", 1},
                          {"error", {{"code", code::refused}, {"message", "cannot keep the file: " + path.error()}}}}));
        return;
    }
    // Offered as send_file offers a file; the answer is the response.
    it->second->kind = Conn::Kind::rpc;
    it->second->done = false;
    server_.handle_connect(u.conn);
    json params{{"path", *path}};
    if (u.group.empty()) params["to"] = u.to;
    else params["group"] = u.group;
    json req{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "send_file"}, {"params", std::move(params)}};
    server_.handle_bytes(now, u.conn, dump(req) + "\n");
}

std::optional<Output> Web::poll_output() {
    if (out_.empty()) return std::nullopt;
    Output o = std::move(out_.front());
    out_.pop_front();
    return o;
}

}  // namespace dc::api
