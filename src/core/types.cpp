#include "darkchat/types.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace dc {

Addr Addr::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
    Addr r;
    r.family = 4;
    r.ip[0] = a;
    r.ip[1] = b;
    r.ip[2] = c;
    r.ip[3] = d;
    r.port = port;
    return r;
}

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
    unsigned v = 0;
    if (s.empty() || s.size() > 5) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<Addr> Addr::parse(std::string_view text, std::uint16_t default_port) {
    std::string host;
    std::optional<std::uint16_t> port = default_port;
    if (!text.empty() && text.front() == '[') {  // [v6]:port
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = std::string(text.substr(1, close - 1));
        auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = parse_port(rest.substr(1));
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {  // v4:port
        auto colon = text.find(':');
        host = std::string(text.substr(0, colon));
        port = parse_port(text.substr(colon + 1));
    } else {
        host = std::string(text);
    }
    if (!port) return std::nullopt;
    Addr a;
    a.port = *port;
    if (inet_pton(AF_INET, host.c_str(), a.ip.data()) == 1) {
        a.family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, host.c_str(), a.ip.data()) == 1) {
        a.family = 6;
        return a;
    }
    return std::nullopt;
}

bool Addr::unspecified_ip() const {
    std::size_t n = family == 4 ? 4 : 16;
    for (std::size_t i = 0; i < n; ++i)
        if (ip[i] != 0) return false;
    return true;
}

std::string Addr::ip_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == 4) inet_ntop(AF_INET, ip.data(), buf, sizeof buf);
    else if (family == 6) inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
    else return "none";
    return buf;
}

std::string Addr::to_string() const {
    if (family == 6) return "[" + ip_string() + "]:" + std::to_string(port);
    if (family == 4) return ip_string() + ":" + std::to_string(port);
    return "none";
}

std::string to_hex(ByteView b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(2 * b.size());
    for (auto c : b) {
        s.push_back(digits[c >> 4]);
        s.push_back(digits[c & 15]);
    }
    return s;
}

std::optional<Bytes> from_hex(std::string_view s) {
    if (s.size() % 2) return std::nullopt;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    Bytes out;
    out.reserve(s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += 2) {
        int hi = nib(s[i]), lo = nib(s[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    return out;
}

bool valid_user_name(std::string_view name) {
    if (name.empty() || name.size() > 32) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

}  // namespace dc
