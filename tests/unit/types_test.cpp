#include "darkchat/types.hpp"

#include <doctest/doctest.h>

using dc::Addr;

TEST_CASE("addresses parse and print, v4 and v6, with and without port") {
    auto a = Addr::parse("127.0.0.5:7301");
    REQUIRE(a);
    CHECK(a->family == 4);
    CHECK(a->port == 7301);
    CHECK(a->to_string() == "127.0.0.5:7301");
    auto b = Addr::parse("10.0.0.9", 7300);
    REQUIRE(b);
    CHECK(b->to_string() == "10.0.0.9:7300");
    auto c = Addr::parse("[::1]:9");
    REQUIRE(c);
    CHECK(c->family == 6);
    CHECK(c->to_string() == "[::1]:9");
    auto d = Addr::parse("fe80::1", 5);
    REQUIRE(d);
    CHECK(d->to_string() == "[fe80::1]:5");
    CHECK(Addr::parse("0.0.0.0:1")->unspecified_ip());
    CHECK_FALSE(Addr::parse("1.2.3.4:1")->unspecified_ip());
}

TEST_CASE("bad addresses are refused") {
    for (const char* s : {"", "1.2.3", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:x", "[::1", "[::1]x", "host:12", "::1:2:3:zz"})
        CHECK_MESSAGE(!Addr::parse(s), s);
}

TEST_CASE("user names") {
    CHECK(dc::valid_user_name("alice"));
    CHECK(dc::valid_user_name("Bob_2.x-y"));
    CHECK_FALSE(dc::valid_user_name(""));
    CHECK_FALSE(dc::valid_user_name("a b"));
    CHECK_FALSE(dc::valid_user_name("\\quit"));
    CHECK_FALSE(dc::valid_user_name(std::string(33, 'a')));
    CHECK(dc::valid_user_name(std::string(32, 'a')));
}

TEST_CASE("hex round trip") {
    dc::Bytes b{0x00, 0x7f, 0x80, 0xff};
    CHECK(dc::to_hex(b) == "007f80ff");
    CHECK(*dc::from_hex("007F80ff") == b);
    CHECK_FALSE(dc::from_hex("abc"));
    CHECK_FALSE(dc::from_hex("zz"));
}
