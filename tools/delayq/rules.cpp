#include "rules.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace dc::delayq {
namespace {

constexpr std::string_view kSpace = " \t\r";

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

bool matches(const Rule& r, const Addr& a) {
  const int full = r.prefix / 8;
  const int rest = r.prefix % 8;
  if (std::memcmp(r.addr.data(), a.data(), static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (r.addr[static_cast<std::size_t>(full)] & mask) == (a[static_cast<std::size_t>(full)] & mask);
}

Addr v4_mapped(const std::uint8_t* four) {
  Addr a{};
  a[10] = 0xff;
  a[11] = 0xff;
  std::memcpy(a.data() + 12, four, 4);
  return a;
}

}  // namespace

std::uint32_t Table::delay_for(const Addr& peer) const {
  int best = -1;
  std::uint32_t delay = default_us;
  for (const auto& r : rules) {
    if (r.prefix > best && matches(r, peer)) {
      best = r.prefix;
      delay = r.delay_us;
    }
  }
  return delay;
}

std::optional<std::uint32_t> parse_delay_ms(std::string_view text) {
  if (text.ends_with("ms")) text.remove_suffix(2);
  if (text.empty() || text.size() > 16) return std::nullopt;
  const auto dot = text.find('.');
  const auto whole_part = text.substr(0, dot);
  std::uint64_t whole = 0;
  if (whole_part.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(whole_part.data(), whole_part.data() + whole_part.size(), whole);
  if (ec != std::errc{} || p != whole_part.data() + whole_part.size()) return std::nullopt;
  std::uint64_t frac_us = 0;
  if (dot != std::string_view::npos) {
    const auto frac = text.substr(dot + 1);
    if (frac.empty() || frac.size() > 3) return std::nullopt;   // microseconds at most
    for (std::size_t i = 0; i < 3; ++i) {
      frac_us *= 10;
      if (i < frac.size()) {
        if (frac[i] < '0' || frac[i] > '9') return std::nullopt;
        frac_us += static_cast<std::uint64_t>(frac[i] - '0');
      }
    }
  }
  if (whole > kMaxDelayUs / 1000) return std::nullopt;
  const std::uint64_t us = whole * 1000 + frac_us;
  if (us > kMaxDelayUs) return std::nullopt;
  return static_cast<std::uint32_t>(us);
}

std::optional<Rule> parse_prefix(std::string_view text) {
  Rule r;
  const auto slash = text.find('/');
  const std::string host(text.substr(0, slash));
  bool v4 = false;
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
    v4 = true;
    r.addr = v4_mapped(buf);
  } else if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    std::memcpy(r.addr.data(), buf, 16);
  } else {
    return std::nullopt;
  }
  const int max_bits = v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const auto len = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (len.empty() || ec != std::errc{} || p != len.data() + len.size() || bits < 0 || bits > max_bits) {
      return std::nullopt;
    }
  }
  r.prefix = v4 ? 96 + bits : bits;
  return r;
}

std::variant<Table, ParseError> parse_table(std::string_view text, std::uint32_t default_us) {
  Table t;
  t.default_us = default_us;
  int lineno = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const auto sp = line.find_first_of(kSpace);
    if (sp == std::string_view::npos) {
      return ParseError{lineno, "expected '<address>[/<prefix>] <ms>' or 'default <ms>', got '" +
                                    std::string(line) + "'"};
    }
    const auto key = line.substr(0, sp);
    const auto value = trim(line.substr(sp));
    if (value.find_first_of(kSpace) != std::string_view::npos) {
      return ParseError{lineno, "too many fields in '" + std::string(line) + "'"};
    }
    const auto delay = parse_delay_ms(value);
    if (!delay) {
      return ParseError{lineno, "bad delay '" + std::string(value) +
                                    "' (milliseconds, e.g. 10 or 2.5, at most 60000)"};
    }
    if (key == "default") {
      t.default_us = *delay;
      continue;
    }
    auto rule = parse_prefix(key);
    if (!rule) {
      return ParseError{lineno, "bad address '" + std::string(key) + "' (IPv4 or IPv6, optionally /prefix)"};
    }
    if (t.rules.size() >= kMaxRules) {
      return ParseError{lineno, "more than " + std::to_string(kMaxRules) + " rules"};
    }
    rule->delay_us = *delay;
    // A later line for the same prefix replaces the earlier one.
    const auto same = std::find_if(t.rules.begin(), t.rules.end(), [&](const Rule& o) {
      return o.prefix == rule->prefix && matches(o, rule->addr);
    });
    if (same != t.rules.end()) *same = *rule;
    else t.rules.push_back(*rule);
  }
  return t;
}

std::optional<Addr> packet_address(std::span<const std::uint8_t> p, bool want_destination) {
  if (p.empty()) return std::nullopt;
  const int version = p[0] >> 4;
  if (version == 4) {
    if (p.size() < 20) return std::nullopt;
    return v4_mapped(p.data() + (want_destination ? 16 : 12));
  }
  if (version == 6) {
    if (p.size() < 40) return std::nullopt;
    Addr a;
    std::memcpy(a.data(), p.data() + (want_destination ? 24 : 8), 16);
    return a;
  }
  return std::nullopt;
}

std::string format_addr(const Addr& a) {
  char buf[INET6_ADDRSTRLEN];
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.data(), kMapped, 12) == 0) {
    inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  }
  return buf;
}

}  // namespace dc::delayq
