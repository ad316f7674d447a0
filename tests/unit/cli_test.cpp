#include "darkchat/cli.hpp"
#include "darkchat/session.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::cli;
using namespace std::string_literals;

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

TEST_CASE("the macro table is what the parser takes, what \\help lists and what Tab completes") {
    std::vector<std::string> listed;  // the macros \help names, in its order
    std::string h = help_text();
    for (std::size_t pos = 0; pos < h.size(); pos = h.find('\n', pos) + 1) {
        std::string first = h.substr(pos, h.find_first_of(" \n", pos) - pos);
        listed.push_back(first);
        if (h.compare(pos, 15, "\\quit or \\exit ") == 0) listed.push_back("\\exit");
    }
    std::vector<std::string> table(macro_names().begin(), macro_names().end());
    CHECK(listed == table);
    for (const auto& m : table) {
        auto a = parse_line(m + " bob", 1);
        auto* p = std::get_if<action::Problem>(&a);
        CHECK_MESSAGE((!p || p->text.rfind("unknown macro", 0) != 0), m);
    }
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

// ---- a peer's text on our terminal ------------------------------------------------------

namespace {

const std::string fffd = "\xef\xbf\xbd";  // U+FFFD REPLACEMENT CHARACTER

// No byte that a terminal takes as control: C0, DEL, and C1 as UTF-8 (C2 80..9F).
bool no_control_bytes(const std::string& s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x20 || b == 0x7f) return false;
        if (b == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("a peer's C0 controls and DEL are shown escaped: \\n \\r \\t, the rest as \\xHH") {
    CHECK(printable("line\nbreak") == "line\\nbreak");
    CHECK(printable("over\rwrite") == "over\\rwrite");
    CHECK(printable("a\tb") == "a\\tb");
    CHECK(printable("nul\0byte"s) == "nul\\x00byte");  // NUL inside the string, not its end
    CHECK(printable("bell\x07") == "bell\\x07");
    CHECK(printable("abc\b\b\bxyz") == "abc\\x08\\x08\\x08xyz");
    CHECK(printable("del\x7f") == "del\\x7f");
    CHECK(printable("\x1f") == "\\x1f");
    std::string all;
    for (int c = 0; c < 0x20; ++c) all += static_cast<char>(c);
    all += '\x7f';
    auto shown = printable(all);
    CHECK(no_control_bytes(shown));
    CHECK(shown.substr(0, 12) == "\\x00\\x01\\x02");
    CHECK(shown.size() == 30 * 4 + 3 * 2);  // 29 C0 and DEL as \xHH; \t \n \r
}

TEST_CASE("escape sequences from a peer are shown as text, not run") {
    CHECK(printable("\x1b[2J") == "\\x1b[2J");                     // clear the screen
    CHECK(printable("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07");  // set the window title
    CHECK(printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
    CHECK(printable("ok\rfake line from alice") == "ok\\rfake line from alice");
}

TEST_CASE("C1 controls and bidi overrides and isolates from a peer are shown as \\uHHHH") {
    CHECK(printable("\xc2\x9b" "2J") == "\\u009b2J");  // U+009B CSI
    CHECK(printable("\xc2\x80\xc2\x85\xc2\x9f") == "\\u0080\\u0085\\u009f");
    CHECK(printable("abc\xe2\x80\xae" "fdp.exe") == "abc\\u202efdp.exe");  // RIGHT-TO-LEFT OVERRIDE
    CHECK(printable("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad") == "\\u202a\\u202b\\u202c\\u202d");
    CHECK(printable("\xe2\x81\xa6x\xe2\x81\xa7y\xe2\x81\xa8z\xe2\x81\xa9") == "\\u2066x\\u2067y\\u2068z\\u2069");
    // Their neighbours are ordinary text.
    CHECK(printable("\xc2\xa0") == "\xc2\xa0");          // U+00A0 NO-BREAK SPACE
    CHECK(printable("\xe2\x80\xa9") == "\xe2\x80\xa9");  // U+2029, before U+202A
    CHECK(printable("\xe2\x81\xaa") == "\xe2\x81\xaa");  // U+206A, after U+2069
    // A raw 0x9b byte (CSI on 8-bit terminals) is not UTF-8.
    CHECK(printable("\x9b" "2J") == fffd + "2J");
}

TEST_CASE("a peer's backslash is doubled, so it cannot fake an escape") {
    CHECK(printable("C:\\dir") == "C:\\\\dir");
    CHECK(printable("\\x1b[2J") == "\\\\x1b[2J");  // typed, not an ESC
    CHECK(printable("\\x1b[2J") != printable("\x1b[2J"));
    CHECK(printable("\\u202e") != printable("\xe2\x80\xae"));
    // Lines darkchat writes itself keep theirs (they name macros) and still escape controls.
    CHECK(printable("\\trust bob \x1b[2J", Backslash::kept) == "\\trust bob \\x1b[2J");
}

TEST_CASE("invalid UTF-8 from a peer is shown as U+FFFD, one per maximal subpart") {
    CHECK(printable("\xc0\xaf") == fffd + fffd);                      // overlong '/'
    CHECK(printable("\xe0\x80\xaf") == fffd + fffd + fffd);           // overlong, three bytes
    CHECK(printable("\xf0\x80\x80\xaf") == fffd + fffd + fffd + fffd);  // overlong, four bytes
    CHECK(printable("\xed\xa0\x80") == fffd + fffd + fffd);           // the surrogate U+D800
    CHECK(printable("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // above U+10FFFF
    CHECK(printable("\xf5\x80") == fffd + fffd);
    CHECK(printable("\xff\xfe") == fffd + fffd);
    CHECK(printable("\x80") == fffd);                                 // a stray continuation byte
    CHECK(printable("\xe4\xb8x") == fffd + "x");                      // cut short: one for the two bytes
    CHECK(printable("end\xf0\x9f\x98") == "end" + fffd);              // cut short at the end
    // The example of the Unicode standard (chapter 3.9, table 3-8).
    CHECK(printable("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64") ==
          "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d");
}

TEST_CASE("valid UTF-8 from a peer is shown unchanged") {
    for (std::string s : {"plain ascii ~!@#$%^&*()", "caf\xc3\xa9", "\xe4\xb8\xad\xe6\x96\x87", "\xf0\x9f\x98\x80",
                          "\xf4\x8f\xbf\xbf" /* U+10FFFF */, "\xef\xbf\xbd", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"})
        CHECK(printable(s) == s);
    CHECK(printable("") == "");
}

TEST_CASE("events show a peer's text escaped") {
    HistoryRecord m{{}, "bob", "alice", 0, 0, "\x1b[2J\0hi\r\x07\xc2\x9b\xe2\x80\xae\xff"s};
    std::string text = "\\x1b[2J\\x00hi\\r\\x07\\u009b\\u202e" + fffd;
    CHECK(render(core::ev::Message{m, false}) == "<bob> " + text);
    CHECK(render(core::ev::Message{m, true}) == "<bob -> alice> " + text);
    CHECK(render(core::ev::Message{m, false, true}) == "<bob?> " + text + "   [not bob's pinned key]");
    // Names are checked at the wire (valid_user_name), and shown escaped all the same.
    HistoryRecord odd{{}, "b\x1b" "ob", "alice", 0, 0, "hi"};
    CHECK(render(core::ev::Message{odd, false}) == "<b\\x1bob> hi");
    CHECK(render(core::ev::Linked{"b\rob", true}) == "* b\\rob linked you");
    CHECK(render(core::ev::Delivered{{}, "b\nob"}) == "* delivered 00000000 to b\\nob");
    CHECK(render(core::ev::Held{{}, "b\nob", "car\x1bol"}) == "* held 00000000 for b\\nob by car\\x1bol");
    auto warning = render(core::ev::KeyWarning{"b\x07ob", {}, {}});
    CHECK(no_control_bytes(warning));
    CHECK(warning.find("b\\x07ob in person") != std::string::npos);
    CHECK(render(core::ev::Problem{"x\x1b[2J"}) == "! x\\x1b[2J");
    CHECK(render(core::ev::Notice{"\\keys b\x08ob"}) == "* \\keys b\\x08ob");

    core::UserView u;
    u.name = "m\x1b[2Jallory";
    u.via = {"c\rarol"};
    u.two_hop = true;
    CHECK(render_user(u, 0) == "m\\x1b[2Jallory offline via c\\rarol | no known session");
    CHECK(render_key(core::KeyView{"m\x07" "allory", {}, {}}) == "m\\x07allory (no key yet)");
}

TEST_CASE("\\history: a last number is the count, but a lone id of decimal digits names a room or group") {
    auto h = [](const char* line) { return std::get<action::History>(parse_line(line, 1)); };
    CHECK(h("\\history").which.empty());
    CHECK(h("\\history 5").count == 5);
    CHECK(h("\\history 5").which.empty());
    CHECK(h("\\history bob 30").which == "bob");
    CHECK(h("\\history bob 30").count == 30);
    // A room's id shown as 8 hex digits may be all decimal digits: more than 4 digits alone is an id.
    CHECK(h("\\history 20816394").which == "20816394");
    CHECK(h("\\history 20816394").count == action::kHistoryDefault);
    CHECK(h("\\history 20816394 7").which == "20816394");
    CHECK(h("\\history 20816394 7").count == 7);
    CHECK(std::holds_alternative<action::Problem>(parse_line("\\history bob 20816394", 1)));
}

TEST_CASE("\\files folds a file to a contact into one line: what each session it went to did") {
    using wire::FileSessionReply;
    using wire::Reply;
    auto sid = [](std::uint8_t b) {
        SessionId s{};
        s.fill(b);
        return s;
    };
    auto r = [&](std::uint8_t b, Reply x) { return FileSessionReply{sid(b), static_cast<std::uint8_t>(x)}; };
    files::TransferView offer;
    CHECK(sessions_state({offer}) == "offered");
    offer.replies = {r(1, Reply::waiting), r(2, Reply::waiting), r(3, Reply::waiting)};
    CHECK(sessions_state({offer}) == "0 of 3 sessions received, 3 waiting");
    offer.replies = {r(1, Reply::received), r(2, Reply::received), r(3, Reply::declined)};
    CHECK(sessions_state({offer}) == "2 of 3 sessions received, 1 declined");
    // The sessions' own transfers beside the offer: counted once, by the offer's list.
    files::TransferView one, other;
    one.session = sid(1);
    other.session = sid(4);  // a record the offer does not list
    offer.replies = {r(1, Reply::receiving), r(2, Reply::received), r(3, Reply::cancelled)};
    CHECK(sessions_state({offer, one, other}) == "1 of 4 sessions received, 2 receiving, 1 cancelled");
    offer.replies = {r(1, Reply::failed)};
    CHECK(sessions_state({offer}) == "0 of 1 session received, 1 failed");
    CHECK(sessions_state({one}) == "0 of 1 session received, 1 receiving");
}
