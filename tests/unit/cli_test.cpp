#include "darkchat/cli.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::cli;

TEST_CASE("lines without a backslash are messages; blank lines are nothing") {
    auto a = parse_line("hello there  ", 7300);
    REQUIRE(std::holds_alternative<action::Say>(a));
    CHECK(std::get<action::Say>(a).text == "hello there");
    CHECK(std::holds_alternative<action::Nothing>(parse_line("   ", 7300)));
}

TEST_CASE("every macro of seed 001 parses") {
    CHECK(std::holds_alternative<action::Help>(parse_line("\\help", 1)));
    CHECK(std::get<action::List>(parse_line("\\users", 1)).which == action::Which::all);
    CHECK(std::get<action::List>(parse_line("\\online", 1)).which == action::Which::online);
    CHECK(std::get<action::List>(parse_line("\\offline", 1)).which == action::Which::offline);
    CHECK(std::get<action::SwitchChat>(parse_line("\\chat bob", 1)).user == "bob");
    auto add = std::get<action::Node>(parse_line("\\add carol", 1));
    CHECK(std::get<core::cmd::Add>(add.command).user == "carol");
    CHECK(std::holds_alternative<core::cmd::Explode>(std::get<action::Node>(parse_line("\\explode", 1)).command));
    CHECK(std::holds_alternative<core::cmd::Quit>(std::get<action::Node>(parse_line("\\quit", 1)).command));
    CHECK(std::holds_alternative<core::cmd::Quit>(std::get<action::Node>(parse_line("\\exit", 1)).command));
}

TEST_CASE("\\ping takes our own port by default, an explicit port, or a host name to resolve") {
    auto p = std::get<core::cmd::Ping>(std::get<action::Node>(parse_line("\\ping 10.0.0.3", 7301)).command);
    CHECK(p.addr.to_string() == "10.0.0.3:7301");
    p = std::get<core::cmd::Ping>(std::get<action::Node>(parse_line("\\ping 10.0.0.3 9000", 7301)).command);
    CHECK(p.addr.to_string() == "10.0.0.3:9000");
    auto r = std::get<action::Resolve>(parse_line("\\ping relay.example 9000", 7301));
    CHECK(r.host == "relay.example");
    CHECK(r.port == 9000);
    CHECK(std::holds_alternative<action::Problem>(parse_line("\\ping 10.0.0.3 99999", 1)));
    CHECK(std::holds_alternative<action::Problem>(parse_line("\\ping", 1)));
}

TEST_CASE("unknown macros and wrong arguments get one clear line") {
    auto u = std::get<action::Problem>(parse_line("\\frobnicate", 1));
    CHECK(u.text == "unknown macro \\frobnicate (\\help lists them)");
    CHECK(std::get<action::Problem>(parse_line("\\add", 1)).text == "usage: \\add <username>");
    CHECK(std::get<action::Problem>(parse_line("\\add a b", 1)).text == "usage: \\add <username>");
    CHECK(std::get<action::Problem>(parse_line("\\chat no/slash", 1)).text == "not a user name: no/slash");
}

TEST_CASE("events render as one line each") {
    core::ev::Presence p{"bob", {}, Addr::v4(127, 0, 0, 2, 7300), false, "no answer"};
    CHECK(render(p) == "* offline bob 127.0.0.2:7300 session 00000000 (no answer)");
    HistoryRecord m{{}, "bob", "alice", 0, 0, "hi"};
    CHECK(render(core::ev::Message{m, false}) == "<bob> hi");
    CHECK(render(core::ev::Message{m, true}) == "<bob -> alice> hi");
    CHECK(render(core::ev::Problem{"x"}) == "! x");
    for (auto& line : {render(p), render(core::ev::Explored{3})}) CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("help lists every macro") {
    auto h = help_text();
    for (auto m : {"\\help", "\\chat", "\\users", "\\online", "\\offline", "\\add", "\\ping", "\\explode", "\\quit", "\\exit"})
        CHECK_MESSAGE(h.find(m) != std::string::npos, m);
}
