// delayq's delay table: parsing the configuration and choosing a delay.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "rules.hpp"

using namespace dc::delayq;

namespace {

Addr addr(const char* text) {
  const auto r = parse_prefix(text);
  REQUIRE(r);
  return r->addr;
}

Table table(std::string_view text, std::uint32_t default_us = 0) {
  auto parsed = parse_table(text, default_us);
  REQUIRE(std::holds_alternative<Table>(parsed));
  return std::get<Table>(parsed);
}

ParseError error(std::string_view text) {
  auto parsed = parse_table(text, 0);
  REQUIRE(std::holds_alternative<ParseError>(parsed));
  return std::get<ParseError>(parsed);
}

}  // namespace

TEST_CASE("delays are milliseconds with up to three decimals, at most a minute") {
  CHECK(parse_delay_ms("10") == 10'000u);
  CHECK(parse_delay_ms("10ms") == 10'000u);
  CHECK(parse_delay_ms("2.5") == 2'500u);
  CHECK(parse_delay_ms("0.001") == 1u);
  CHECK(parse_delay_ms("0") == 0u);
  CHECK(parse_delay_ms("60000") == 60'000'000u);
  CHECK_FALSE(parse_delay_ms("60000.001"));
  CHECK_FALSE(parse_delay_ms("99999999999999"));
  CHECK_FALSE(parse_delay_ms("-1"));
  CHECK_FALSE(parse_delay_ms("1.2345"));
  CHECK_FALSE(parse_delay_ms("1."));
  CHECK_FALSE(parse_delay_ms(".5"));
  CHECK_FALSE(parse_delay_ms("ten"));
  CHECK_FALSE(parse_delay_ms(""));
  CHECK_FALSE(parse_delay_ms("ms"));
}

TEST_CASE("the longest matching prefix wins, else the default") {
  const auto t = table(
      "# delays of host c1\n"
      "default 30\n"
      "10.0.0.0/24 20   # the lab\n"
      "10.0.0.11 5\n"
      "fd00::/64 2.5\n");
  CHECK(t.delay_for(addr("10.0.0.11")) == 5'000u);
  CHECK(t.delay_for(addr("10.0.0.12")) == 20'000u);
  CHECK(t.delay_for(addr("10.0.1.12")) == 30'000u);
  CHECK(t.delay_for(addr("fd00::7")) == 2'500u);
  CHECK(t.delay_for(addr("fd01::7")) == 30'000u);
  // an IPv4 /0 does not swallow IPv6 peers
  const auto v4 = table("0.0.0.0/0 7\n", 1000);
  CHECK(v4.delay_for(addr("192.0.2.1")) == 7'000u);
  CHECK(v4.delay_for(addr("2001:db8::1")) == 1000u);
}

TEST_CASE("the -d default applies unless the file has a default line; a later line replaces an earlier") {
  CHECK(table("10.0.0.1 1\n", 4000).default_us == 4000u);
  CHECK(table("default 9\n", 4000).default_us == 9000u);
  const auto t = table("10.0.0.1 1\n10.0.0.1 3\n");
  CHECK(t.rules.size() == 1);
  CHECK(t.delay_for(addr("10.0.0.1")) == 3000u);
  CHECK(table("").rules.empty());
  CHECK(table("\n  \n# only a comment\r\n").rules.empty());
}

TEST_CASE("a bad line is reported with its number and what was wrong") {
  auto e = error("default 1\n10.0.0.300 5\n");
  CHECK(e.line == 2);
  CHECK(e.what.find("bad address") != std::string::npos);
  e = error("10.0.0.1 fast\n");
  CHECK(e.line == 1);
  CHECK(e.what.find("bad delay") != std::string::npos);
  CHECK(error("10.0.0.1\n").what.find("expected") != std::string::npos);
  CHECK(error("10.0.0.1 1 2\n").what.find("too many") != std::string::npos);
  CHECK(error("10.0.0.0/33 1\n").line == 1);
  CHECK(error("fd00::/129 1\n").line == 1);
  CHECK(error("10.0.0.0/ 1\n").line == 1);
}

TEST_CASE("the peer address comes from the IPv4 or IPv6 header") {
  std::uint8_t v4[20] = {0x45};
  v4[12] = 10; v4[15] = 1;   // src 10.0.0.1
  v4[16] = 10; v4[19] = 11;  // dst 10.0.0.11
  CHECK(format_addr(*packet_address(v4, true)) == "10.0.0.11");
  CHECK(format_addr(*packet_address(v4, false)) == "10.0.0.1");
  std::uint8_t v6[40] = {0x60};
  v6[8] = 0xfd; v6[23] = 1;   // src fd00::1
  v6[24] = 0xfd; v6[39] = 2;  // dst fd00::2
  CHECK(format_addr(*packet_address(v6, true)) == "fd00::2");
  CHECK(format_addr(*packet_address(v6, false)) == "fd00::1");
  CHECK_FALSE(packet_address(std::span(v4, 19), true));
  CHECK_FALSE(packet_address(std::span(v6, 39), true));
  std::uint8_t junk[40] = {0x70};
  CHECK_FALSE(packet_address(junk, true));
  CHECK_FALSE(packet_address({}, true));
}
