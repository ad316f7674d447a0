// delayq's delay table: which delay a packet gets, by the address of its peer.
// Pure code (no netlink, no clock), so it is unit tested on its own.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dc::delayq {

// An IPv4 or IPv6 address, 16 bytes; an IPv4 address is stored as ::ffff:a.b.c.d.
using Addr = std::array<std::uint8_t, 16>;

struct Rule {
  Addr addr{};
  int prefix = 128;        // in bits of the 16-byte form (IPv4 /24 is 96 + 24)
  std::uint32_t delay_us = 0;
};

// The delay table: a default and any number of prefix rules; the longest
// matching prefix wins (so `10.0.0.11 5` beats `10.0.0.0/24 20`).
class Table {
 public:
  std::uint32_t default_us = 0;
  std::vector<Rule> rules;

  [[nodiscard]] std::uint32_t delay_for(const Addr& peer) const;
};

struct ParseError {
  int line = 0;            // 1-based; 0 when the error is not about one line
  std::string what;
};

inline constexpr std::uint32_t kMaxDelayUs = 60'000'000;  // one minute
inline constexpr std::size_t kMaxRules = 4096;

// Parses a delay in milliseconds ("10", "2.5", "10ms", "0"); at most one minute
// and a precision of one microsecond.
[[nodiscard]] std::optional<std::uint32_t> parse_delay_ms(std::string_view text);

// Parses "a.b.c.d", "a.b.c.d/n", an IPv6 address, "addr/n".
[[nodiscard]] std::optional<Rule> parse_prefix(std::string_view text);

// Parses a configuration file's text. Format, one rule per line:
//   # a comment (also after a rule)
//   default 10            delay for every peer no rule matches (ms)
//   10.0.0.11 5           delay towards (or from, see --match) one address
//   10.0.0.0/24 20        ... a prefix
//   fd00::/64 2.5         ... IPv6
// `default_us` is used when the text has no `default` line.
[[nodiscard]] std::variant<Table, ParseError> parse_table(std::string_view text,
                                                          std::uint32_t default_us);

// The peer address of an IP packet (its first bytes): the destination when
// `want_destination`, else the source. nullopt for anything that is not a
// complete IPv4 or IPv6 header.
[[nodiscard]] std::optional<Addr> packet_address(std::span<const std::uint8_t> packet,
                                                 bool want_destination);

[[nodiscard]] std::string format_addr(const Addr& a);

}  // namespace dc::delayq
