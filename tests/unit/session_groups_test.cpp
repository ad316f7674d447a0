// The terminal's group macros (darkchat(1), GROUPS), typed as lines on whole
// hosts on the simulated network in virtual time: what each user's terminal
// shows is compared whole, as scripts parse it.
#include "../support/host_net.hpp"

#include "darkchat/cli.hpp"
#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

#include <cctype>
#include <regex>

using namespace dc;
using namespace dc::test;

namespace {


std::size_t count_containing(const std::vector<std::string>& lines, const std::string& part) {
    return static_cast<std::size_t>(std::count_if(
        lines.begin(), lines.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; }));
}

// Users started and linked to each other, none with a chat partner.
std::vector<HostPeer*> users(HostNet& net, std::initializer_list<const char*> names) {
    std::vector<HostPeer*> out;
    for (auto n : names) out.push_back(&net.add(n));
    for (auto* p : out) net.start(*p);
    for (std::size_t i = 0; i < out.size(); ++i)
        for (std::size_t j = i + 1; j < out.size(); ++j) net.link(*out[i], *out[j]);
    return out;
}

// The number in the last request line p showed since m from `from` (a pattern); 0 when none.
std::uint64_t request_number(const HostPeer& p, std::size_t m, const std::string& from) {
    std::regex re(R"(\* )" + from + R"( (asks you into a new group \((public|private)\)|invites you into group [0-9a-f]{8}.*): \\yes (\d+) or \\no (\d+))");
    std::uint64_t n = 0;
    for (auto& l : p.since(m)) {
        std::smatch s;
        if (std::regex_match(l, s, re) && s[3] == s[4]) n = std::stoull(s[3]);
    }
    return n;
}

// a asks b into a new public group, and b says a plain \yes; the new group as a sees it.
groups::GroupView connect(HostNet& net, HostPeer& a, HostPeer& b) {
    std::vector<groups::GroupId> before;
    for (auto& g : a.host->groups()->groups()) before.push_back(g.id);
    std::size_t mb = b.mark();
    net.type(a, "\\connect " + b.name);
    net.run_for(500);
    {
        LINES(b, mb);
        REQUIRE(request_number(b, mb, a.name) != 0);
    }
    net.type(b, "\\yes");
    net.run_for(1500);
    std::optional<groups::GroupView> made;
    for (auto& g : a.host->groups()->groups())
        if (std::find(before.begin(), before.end(), g.id) == before.end()) {
            REQUIRE(!made);
            made = g;
        }
    REQUIRE(made);
    REQUIRE(b.host->groups()->group(made->id));
    return *made;
}

std::string id_of(const groups::GroupView& g) { return cli::short_id(g.id); }

}  // namespace

TEST_CASE("\\connect refuses an unknown user and oneself, and a private request says private on both ends") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    std::size_t m = alice.mark(), mb = bob.mark();
    net.type(alice, "\\connect carol");
    net.type(alice, "\\connect alice");
    net.type(alice, "\\connect bob private");
    net.run_for(500);
    {
        LINES(alice, m);
        CHECK(alice.since(m) == std::vector<std::string>{
                                    "! unknown user carol (\\add carol to find it first)",
                                    "! you cannot ask yourself into a group",
                                    "* asked bob into a new group (private)",
                                });
    }
    {
        LINES(bob, mb);
        CHECK(count_matching(bob.since(mb), R"(\* alice asks you into a new group \(private\): \\yes (\d+) or \\no \1)") == 1);
        CHECK(count_containing(bob.since(mb), "(public)") == 0);
    }
    // No group before bob answers.
    CHECK(alice.host->groups()->groups().empty());
}

TEST_CASE("a request shows its number; a plain \\yes joins, and both see the members, coordinator first") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    std::size_t m = alice.mark(), mb = bob.mark();
    net.type(alice, "\\connect bob");
    net.run_for(500);
    std::uint64_t n = request_number(bob, mb, "alice");
    {
        LINES(bob, mb);
        REQUIRE(n != 0);
        CHECK(bob.since(mb) == std::vector<std::string>{"* alice asks you into a new group (public): \\yes " +
                                                        std::to_string(n) + " or \\no " + std::to_string(n)});
    }
    mb = bob.mark();
    net.type(bob, "\\yes");
    net.run_for(1500);
    auto all = alice.host->groups()->groups();
    REQUIRE(all.size() == 1);
    auto g = all.front();
    REQUIRE(bob.host->groups()->group(g.id));
    CHECK(bob.host->groups()->group(g.id)->epoch == g.epoch);
    // The one asked makes the group: it coordinates.
    const std::string joined_line =
        "* joined group " + id_of(g) + " at epoch " + std::to_string(g.epoch) + " with bob (coordinator), alice";
    {
        LINES(alice, m);
        CHECK(alice.shown("* asked bob into a new group (public)", m));
        CHECK(alice.shown("* bob said yes to your request", m));
        CHECK(alice.shown(joined_line, m));
    }
    {
        LINES(bob, mb);
        CHECK(bob.shown(joined_line, mb));
        CHECK(count_matching(bob.since(mb), R"(! .*)") == 0);
    }
    // Answered, the request is not waiting any more.
    mb = bob.mark();
    net.type(bob, "\\yes");
    CHECK(bob.since(mb) == std::vector<std::string>{"! no request waiting"});
}

TEST_CASE("a joined group becomes the conversation only when there is none") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    std::size_t m = alice.mark(), mb = bob.mark();
    net.type(alice, "\\chat bob");
    auto g = connect(net, alice, bob);
    const std::string now_there = "* lines now go to group " + id_of(g) + " (\\chat <user> for a direct chat)";
    {
        LINES(alice, m);  // alice chats with bob: that stays her conversation
        CHECK(!alice.shown(now_there, m));
        CHECK(!alice.session->group());
        CHECK(alice.session->partner() == "bob");
    }
    {
        LINES(bob, mb);  // bob had none: the group is his
        CHECK(bob.shown(now_there, mb));
        REQUIRE(bob.session->group());
        CHECK(*bob.session->group() == g.id);
    }
    m = alice.mark();
    mb = bob.mark();
    net.type(alice, "\\group");
    net.type(bob, "\\group");
    CHECK(alice.since(m) == std::vector<std::string>{"* chatting with bob"});
    CHECK(bob.since(mb) == std::vector<std::string>{"* lines go to group " + id_of(g) + " (\\chat <user> for a direct chat)"});
}

TEST_CASE("a plain line goes to the current group, not to the chat partner") {
    HostNet net;
    auto u = users(net, {"alice", "bob", "carol"});
    auto &alice = *u[0], &bob = *u[1], &carol = *u[2];
    net.type(alice, "\\chat carol");
    auto g = connect(net, alice, bob);
    net.type(bob, "\\title plans");
    net.run_for(1000);
    net.type(alice, "\\group " + id_of(g));
    std::size_t m = alice.mark(), mb = bob.mark(), mc = carol.mark();
    net.type(alice, "see you at eight");
    net.run_for(1000);
    {
        LINES(bob, mb);
        CHECK(bob.since(mb) == std::vector<std::string>{"[" + id_of(g) + " plans] <alice> see you at eight"});
    }
    {
        LINES(alice, m);
        CHECK(alice.since(m) == std::vector<std::string>{"* sent to [" + id_of(g) + " plans]: see you at eight"});
    }
    {
        LINES(carol, mc);
        CHECK(count_containing(carol.since(mc), "see you at eight") == 0);
    }
    CHECK(alice.host->node()->outbox_waiting("carol") == 0);
    // Back to the partner, a plain line goes to carol again.
    net.type(alice, "\\chat carol");
    mc = carol.mark();
    net.type(alice, "and to you");
    net.run_for(500);
    CHECK(carol.shown("<alice> and to you", mc));
}

TEST_CASE("\\yes with two requests waiting lists them; an unknown number is refused; \\no N answers and forgets N") {
    HostNet net;
    auto u = users(net, {"alice", "bob", "carol"});
    auto &alice = *u[0], &bob = *u[1], &carol = *u[2];
    std::size_t mb = bob.mark();
    net.type(alice, "\\connect bob");
    net.run_for(500);
    std::uint64_t from_alice = request_number(bob, mb, "alice");
    net.type(carol, "\\connect bob");
    net.run_for(500);
    std::uint64_t from_carol = request_number(bob, mb, "carol");
    {
        LINES(bob, mb);
        REQUIRE(from_alice != 0);
        REQUIRE(from_carol != 0);
        REQUIRE(from_alice != from_carol);
    }
    const std::string numbers = std::to_string(from_alice) + ", " + std::to_string(from_carol);
    mb = bob.mark();
    net.type(bob, "\\yes");
    net.type(bob, "\\yes 99");
    CHECK(bob.since(mb) == std::vector<std::string>{
                               "! several requests wait: " + numbers + " (\\yes N or \\no N)",
                               "! no request 99 waiting: " + numbers + " (\\yes N or \\no N)",
                           });
    CHECK(bob.host->groups()->groups().empty());

    std::size_t m = alice.mark(), mc = carol.mark();
    mb = bob.mark();
    net.type(bob, "\\no " + std::to_string(from_alice));
    net.run_for(1000);
    {
        LINES(alice, m);
        CHECK(alice.shown("* bob said no to your request", m));
    }
    CHECK(alice.host->groups()->groups().empty());
    // Only carol's waits now: a plain \yes takes it, and \no for alice's finds nothing.
    net.type(bob, "\\yes");
    net.run_for(1500);
    net.type(bob, "\\no " + std::to_string(from_alice));
    {
        LINES(bob, mb);
        CHECK(bob.shown_prefix("* joined group ", mb));
        CHECK(bob.since(mb).back() == "! no request " + std::to_string(from_alice) + " waiting");
    }
    {
        LINES(carol, mc);
        CHECK(carol.shown("* bob said yes to your request", mc));
        CHECK(carol.shown_prefix("* joined group ", mc));
    }
    CHECK(bob.host->groups()->groups().size() == 1);
}

namespace {

// alice and bob in a group (bob coordinates), the group current for alice; then
// carol, whom alice knows, invited by alice and entered. The group as alice sees it.
groups::GroupView three_of_us(HostNet& net, HostPeer& alice, HostPeer& bob, HostPeer& carol) {
    auto g = connect(net, alice, bob);
    REQUIRE(alice.session->group());
    std::size_t mc = carol.mark();
    net.type(alice, "\\invite carol");
    net.run_for(3000);
    std::uint64_t n = request_number(carol, mc, "(?:alice|bob)");
    {
        LINES(carol, mc);
        REQUIRE(n != 0);
    }
    net.type(carol, "\\yes");
    net.run_for(8000);
    auto v = alice.host->groups()->group(g.id);
    REQUIRE(v);
    REQUIRE(v->members.size() == 3);
    return *v;
}

}  // namespace

TEST_CASE("\\invite without a group invites into the current one; the invited enters, and all three list the same members") {
    HostNet net;
    auto u = users(net, {"alice", "bob", "carol"});
    auto &alice = *u[0], &bob = *u[1], &carol = *u[2];
    auto g = connect(net, alice, bob);
    REQUIRE(alice.session->group());
    std::size_t m = alice.mark(), mb = bob.mark(), mc = carol.mark();
    net.type(alice, "\\invite carol");
    net.run_for(3000);
    std::uint64_t n = 0;
    {
        LINES(carol, mc);
        auto l = carol.since(mc);
        REQUIRE(l.size() == 1);
        std::smatch s;
        std::regex re(R"(\* (alice|bob) invites you into group )" + id_of(g) + R"(: \\yes (\d+) or \\no \2)");
        REQUIRE(std::regex_match(l[0], s, re));
        n = std::stoull(s[2]);
    }
    mc = carol.mark();
    net.type(carol, "\\yes " + std::to_string(n));
    net.run_for(8000);
    auto v = bob.host->groups()->group(g.id);
    REQUIRE(v);
    REQUIRE(v->members.size() == 3);
    CHECK(v->epoch > g.epoch);
    const std::string entered = "* group " + id_of(g) + ": carol entered (epoch " + std::to_string(v->epoch) + ")";
    {
        LINES(alice, m);
        CHECK(alice.shown(entered, m));
    }
    {
        LINES(bob, mb);
        CHECK(bob.shown(entered, mb));
    }
    {
        LINES(carol, mc);
        CHECK(carol.shown("* joined group " + id_of(g) + " at epoch " + std::to_string(v->epoch) +
                              " with bob (coordinator), alice, carol",
                          mc));
    }
    const std::vector<std::string> members = {
        "* group " + id_of(g) + " epoch " + std::to_string(v->epoch) + ", key held:",
        "  bob " + crypto::fingerprint(bob.id.pk) + " (coordinator)",
        "  alice " + crypto::fingerprint(alice.id.pk),
        "  carol " + crypto::fingerprint(carol.id.pk),
    };
    for (HostPeer* p : {&alice, &bob, &carol}) {
        std::size_t k = p->mark();
        net.type(*p, "\\members " + id_of(g));
        LINES(*p, k);
        CHECK(p->since(k) == members);
    }
}

TEST_CASE("\\title: too long or without a current group is refused; a rename shows on every member") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    std::size_t m = alice.mark();
    net.type(alice, "\\title x");
    net.type(alice, "\\title " + std::string(65, 't'));
    CHECK(alice.since(m) == std::vector<std::string>{
                                "! no current group: \\group <group> first",
                                "! a group title is at most 64 bytes (this one has 65)",
                            });
    auto g = connect(net, alice, bob);
    m = alice.mark();
    std::size_t mb = bob.mark();
    net.type(alice, "\\title " + std::string(65, 't'));
    net.run_for(1000);
    CHECK(alice.since(m) == std::vector<std::string>{"! a group title is at most 64 bytes (this one has 65)"});
    CHECK(alice.host->groups()->group(g.id)->title.empty());
    CHECK(bob.since(mb).empty());

    net.type(alice, "\\title old gang");
    net.run_for(1000);
    for (HostPeer* p : {&alice, &bob}) {
        LINES(*p, p == &alice ? m : mb);
        CHECK(p->shown("* group " + id_of(g) + ": alice named it \"old gang\"", p == &alice ? m : mb));
        CHECK(p->host->groups()->group(g.id)->title == "old gang");
    }
    // At most 64 bytes is taken.
    net.type(alice, "\\title " + std::string(64, 't'));
    net.run_for(1000);
    CHECK(bob.host->groups()->group(g.id)->title == std::string(64, 't'));
}

TEST_CASE("\\groups lists every group, marks the current one, and ends with the count") {
    HostNet net;
    auto u = users(net, {"alice", "bob", "carol"});
    auto &alice = *u[0], &bob = *u[1], &carol = *u[2];
    std::size_t m = alice.mark();
    net.type(alice, "\\groups");
    CHECK(alice.since(m) == std::vector<std::string>{"* 0 groups"});
    auto first = connect(net, alice, bob);  // current: alice had no conversation
    auto second = connect(net, alice, carol);
    auto fa = alice.host->groups()->group(first.id), sa = alice.host->groups()->group(second.id);
    REQUIRE(fa);
    REQUIRE(sa);
    auto line = [](const groups::GroupView& g, const char* coordinator) {
        return "  " + id_of(g) + " public epoch " + std::to_string(g.epoch) + ", 2 members, coordinator " + coordinator;
    };
    m = alice.mark();
    net.type(alice, "\\groups");
    {
        LINES(alice, m);
        auto l = alice.since(m);
        REQUIRE(l.size() == 3);
        CHECK(std::count(l.begin(), l.end(), line(*fa, "bob") + " (current)") == 1);
        CHECK(std::count(l.begin(), l.end(), line(*sa, "carol")) == 1);
        CHECK(l.back() == "* 2 groups");
    }
    net.type(alice, "\\group " + id_of(second));
    m = alice.mark();
    net.type(alice, "\\groups");
    {
        LINES(alice, m);
        auto l = alice.since(m);
        REQUIRE(l.size() == 3);
        CHECK(std::count(l.begin(), l.end(), line(*fa, "bob")) == 1);
        CHECK(std::count(l.begin(), l.end(), line(*sa, "carol") + " (current)") == 1);
        CHECK(l.back() == "* 2 groups");
    }
    std::size_t mb = bob.mark();
    net.type(bob, "\\groups");
    CHECK(bob.since(mb) == std::vector<std::string>{line(*fa, "bob") + " (current)", "* 1 group"});
}

namespace {

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string hex_of(const groups::GroupId& id) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (auto b : id) s += {hex[b >> 4], hex[b & 0xf]};
    return s;
}

// The shortest prefix of g's id (at least 4 digits) that no other group of all starts with.
std::string unique_prefix(const groups::GroupView& g, const std::vector<groups::GroupView>& all) {
    const std::string h = hex_of(g.id);
    for (std::size_t n = 4; n <= h.size(); ++n) {
        bool alone = std::none_of(all.begin(), all.end(),
                                  [&](auto& o) { return o.id != g.id && hex_of(o.id).rfind(h.substr(0, n), 0) == 0; });
        if (alone) return h.substr(0, n);
    }
    return h;
}

}  // namespace

TEST_CASE("a group is found by its title with spaces, by an id prefix in either case; several or none are refused") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    // Groups until two ids start with the same digit: at most 17 (16 digits).
    std::vector<groups::GroupView> made;
    std::string shared;
    for (int i = 0; i < 17 && shared.empty(); ++i) {
        made.push_back(connect(net, alice, bob));
        for (std::size_t j = 0; j + 1 < made.size() && shared.empty(); ++j)
            if (hex_of(made[j].id)[0] == hex_of(made.back().id)[0]) shared = hex_of(made.back().id).substr(0, 1);
    }
    REQUIRE(!shared.empty());
    auto all = alice.host->groups()->groups();
    REQUIRE(all.size() == made.size());
    const auto sharing = std::count_if(all.begin(), all.end(), [&](auto& g) { return hex_of(g.id)[0] == shared[0]; });

    // The first group gets a title of several words; it is alice's current group.
    const auto& titled = made.front();
    net.type(alice, "\\title old  friends");
    net.run_for(1000);
    REQUIRE(alice.host->groups()->group(titled.id)->title == "old  friends");
    // Another group, with a letter in its id when there is one, for the cases.
    groups::GroupView other = made.at(1);
    for (auto& g : made)
        if (g.id != titled.id && hex_of(g.id).find_first_of("abcdef") < 8) other = g;
    auto other_now = *alice.host->groups()->group(other.id);
    auto titled_now = *alice.host->groups()->group(titled.id);
    // Up to a letter at least, so that its upper case differs.
    std::string prefix = unique_prefix(other_now, all);
    const auto letter = hex_of(other.id).find_first_of("abcdef");
    REQUIRE(letter < 8);
    if (prefix.size() <= letter) prefix = hex_of(other.id).substr(0, letter + 1);
    REQUIRE(upper(prefix) != prefix);

    std::size_t m = alice.mark();
    net.type(alice, "\\group " + upper(prefix));
    net.type(alice, "\\group old  friends");
    net.type(alice, "\\group " + prefix);
    net.type(alice, "\\group " + shared);
    net.type(alice, "\\group Old  Friends");
    net.type(alice, "\\group old friends");
    net.type(alice, "\\members nosuch");
    {
        LINES(alice, m);
        const std::string to_other = "* lines now go to group " + id_of(other) + " public epoch " +
                                     std::to_string(other_now.epoch) + ", 2 members, coordinator bob";
        CHECK(alice.since(m) ==
              std::vector<std::string>{
                  to_other,
                  "* lines now go to group " + id_of(titled) + " \"old  friends\" public epoch " +
                      std::to_string(titled_now.epoch) + ", 2 members, coordinator bob",
                  to_other,
                  "! " + std::to_string(sharing) + " groups match '" + shared + "': give more of the id (\\groups)",
                  "! no group Old  Friends (\\groups lists them)",
                  "! no group old friends (\\groups lists them)",
                  "! no group nosuch (\\groups lists them)",
              });
    }
    // A refused name leaves the conversation where it was.
    REQUIRE(alice.session->group());
    CHECK(*alice.session->group() == other.id);
}

TEST_CASE("\\chat and \\room leave the group conversation; \\group alone says where lines go") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    auto g = connect(net, alice, bob);
    REQUIRE(alice.session->group());
    std::string room = net.open_room(alice, bob);
    REQUIRE(!room.empty());
    CHECK(!alice.session->room());  // a group was the conversation: the room does not take it

    std::size_t m = alice.mark(), mb = bob.mark();
    net.type(alice, "\\group");
    net.type(alice, "\\room " + room);
    net.type(alice, "\\group");
    net.type(alice, "\\group " + id_of(g));
    net.type(alice, "\\chat bob");
    net.type(alice, "\\group");
    net.type(alice, "just to bob");
    net.run_for(500);
    {
        LINES(alice, m);
        auto l = alice.since(m);
        REQUIRE(l.size() >= 6);
        CHECK(l[0] == "* lines go to group " + id_of(g) + " (\\chat <user> for a direct chat)");
        CHECK(l[1].rfind("* lines now go to room " + room + " on relay ", 0) == 0);
        CHECK(l[2] == "* lines go to room " + room + " (\\chat <user> for a direct chat)");
        CHECK(l[3].rfind("* lines now go to group " + id_of(g) + " public epoch ", 0) == 0);
        CHECK(l[4] == "* chatting with bob (online)");
        CHECK(l[5] == "* chatting with bob");
        CHECK(count_matching(l, R"(\* queued [0-9a-f]{8} to bob)") == 1);
        CHECK(count_containing(l, "* sent to [") == 0);
    }
    CHECK(!alice.session->group());
    CHECK(!alice.session->room());
    {
        LINES(bob, mb);
        CHECK(bob.shown("<alice> just to bob", mb));
        CHECK(count_containing(bob.since(mb), "just to bob") == 1);
    }
}

TEST_CASE("\\remove: refused to a member that does not coordinate; the coordinator's removes, and the removed reads no more") {
    HostNet net;
    auto u = users(net, {"alice", "bob", "carol"});
    auto &alice = *u[0], &bob = *u[1], &carol = *u[2];
    auto g = three_of_us(net, alice, bob, carol);
    REQUIRE(carol.session->group());  // carol had no conversation: the group became hers
    CHECK(*carol.session->group() == g.id);

    std::size_t m = alice.mark(), mc = carol.mark();
    net.type(alice, "\\remove carol");
    net.run_for(1000);
    {
        LINES(alice, m);
        CHECK(alice.since(m) ==
              std::vector<std::string>{"! group " + id_of(g) + ": only the coordinator (bob) removes members"});
    }
    CHECK(alice.host->groups()->group(g.id)->members.size() == 3);
    CHECK(carol.since(mc).empty());

    m = alice.mark();
    mc = carol.mark();
    std::size_t mb = bob.mark();
    net.type(bob, "\\remove carol");
    net.run_for(3000);
    auto v = bob.host->groups()->group(g.id);
    REQUIRE(v);
    REQUIRE(v->members.size() == 2);
    const std::string removed = "* group " + id_of(g) + ": bob removed carol (epoch " + std::to_string(v->epoch) + ")";
    {
        LINES(alice, m);
        CHECK(alice.shown(removed, m));
    }
    {
        LINES(bob, mb);
        CHECK(bob.shown(removed, mb));
    }
    {
        LINES(carol, mc);
        CHECK(carol.shown("* bob removed you from group " + id_of(g), mc));
    }
    CHECK(!carol.session->group());
    CHECK(!carol.host->groups()->group(g.id));

    mc = carol.mark();
    mb = bob.mark();
    net.type(alice, "after carol left");
    net.run_for(2000);
    CHECK(bob.shown("[" + id_of(g) + "] <alice> after carol left", mb));
    {
        LINES(carol, mc);
        CHECK(count_containing(carol.since(mc), "after carol left") == 0);
    }
    mc = carol.mark();
    net.type(carol, "\\group");
    net.type(carol, "still here?");
    CHECK(carol.since(mc) == std::vector<std::string>{
                                 "* no conversation yet: \\chat <user>, \\room <id-prefix> or \\group <group>",
                                 "! no chat partner: \\chat <username> first",
                             });
}

TEST_CASE("\\leave leaves the current group; the last member sees it ceased, by its title") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    auto g = connect(net, alice, bob);
    net.type(bob, "\\title picnic");
    net.run_for(1000);
    REQUIRE(bob.session->group());
    std::size_t m = alice.mark(), mb = bob.mark();
    net.type(alice, "\\leave");
    net.run_for(2000);
    {
        LINES(alice, m);
        CHECK(alice.since(m) == std::vector<std::string>{"* you left group " + id_of(g) + " \"picnic\""});
    }
    {
        LINES(bob, mb);
        CHECK(bob.shown("* group " + id_of(g) + " \"picnic\" ceased (fewer than two members)", mb));
    }
    CHECK(!alice.session->group());
    CHECK(!bob.session->group());
    CHECK(alice.host->groups()->groups().empty());
    CHECK(bob.host->groups()->groups().empty());
    m = alice.mark();
    net.type(alice, "\\groups");
    net.type(alice, "\\group");
    CHECK(alice.since(m) == std::vector<std::string>{
                                "* 0 groups",
                                "* no conversation yet: \\chat <user>, \\room <id-prefix> or \\group <group>",
                            });
}

TEST_CASE("control bytes in a member's title or line come out escaped, never raw") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    auto g = connect(net, alice, bob);
    std::size_t mb = bob.mark();
    net.type(alice, "\\title a\x1b[2Jb");
    net.run_for(1000);
    net.type(alice, "\x1b[31mred\x07 C:\\x");
    net.run_for(1000);
    net.type(bob, "\\groups");
    net.type(bob, "\\members");
    {
        LINES(bob, mb);
        auto l = bob.since(mb);
        CHECK(bob.shown("* group " + id_of(g) + ": alice named it \"a\\x1b[2Jb\"", mb));
        CHECK(bob.shown("[" + id_of(g) + " a\\x1b[2Jb] <alice> \\x1b[31mred\\x07 C:\\\\x", mb));
        CHECK(bob.shown_prefix("  " + id_of(g) + " \"a\\x1b[2Jb\" public epoch ", mb));
        CHECK(bob.shown_prefix("* group " + id_of(g) + " \"a\\x1b[2Jb\" epoch ", mb));
    }
    for (HostPeer* p : {&alice, &bob})
        for (auto& line : p->lines) {
            CAPTURE(line);
            CHECK(std::none_of(line.begin(), line.end(), [](char c) {
                auto b = static_cast<unsigned char>(c);
                return b < 0x20 || b == 0x7f;
            }));
        }
}

TEST_CASE("kill -9 of a member: after the restart \\groups lists the group, and a line typed then reaches the others") {
    HostNet net;
    auto u = users(net, {"alice", "bob", "carol"});
    auto &alice = *u[0], &bob = *u[1], &carol = *u[2];
    auto g = three_of_us(net, alice, bob, carol);

    net.kill(alice);
    net.run_for(100);
    net.start(alice);
    std::size_t m = alice.mark();
    net.type(alice, "\\groups");
    {
        LINES(alice, m);
        auto l = alice.since(m);
        REQUIRE(l.size() == 2);
        CHECK(count_matching({l[0]}, "  " + id_of(g) + R"( public epoch \d+, 3 members, coordinator bob)") == 1);
        CHECK(l[1] == "* 1 group");
    }
    net.run_for(6000);  // the others find alice back
    m = alice.mark();
    std::size_t mb = bob.mark(), mc = carol.mark();
    net.type(alice, "\\group " + id_of(g));
    net.type(alice, "back again");
    net.run_for(3000);
    {
        LINES(alice, m);
        CHECK(alice.shown("* sent to [" + id_of(g) + "]: back again", m));
    }
    for (auto [p, k] : {std::pair{&bob, mb}, std::pair{&carol, mc}}) {
        LINES(*p, k);
        CHECK(count_containing(p->since(k), "back again") == 1);
        CHECK(p->shown("[" + id_of(g) + "] <alice> back again", k));
    }
}

TEST_CASE("\\history of a group shows its lines as they were shown, with their time, by title or id, across a restart") {
    HostNet net;
    auto u = users(net, {"alice", "bob", "carol"});
    auto &alice = *u[0], &bob = *u[1];
    auto g = connect(net, alice, bob);
    net.type(bob, "\\title plans");
    net.run_for(1000);
    net.type(alice, "\\group " + id_of(g));
    net.type(alice, "see you at eight");
    net.run_for(1000);
    net.type(bob, "\\group plans");
    net.type(bob, "or nine \x1b[2J");
    net.run_for(1000);

    std::size_t m = alice.mark();
    net.type(alice, "\\history");
    auto all = alice.since(m);
    REQUIRE(all.size() == 3);
    std::regex when(R"(\d{4}-\d\d-\d\d \d\d:\d\d .*)");
    for (std::size_t i = 0; i < 2; ++i) CHECK(std::regex_match(all[i], when));
    const std::string label = "[" + id_of(g) + " plans]";
    CHECK(all[0].substr(17) == "* sent to " + label + ": see you at eight");
    CHECK(all[1].substr(17) == label + " <bob> or nine \\x1b[2J");  // escaped as when it arrived
    CHECK(all[2] == "* 2 lines of group plans");

    // By title or id prefix from any conversation, the newest n; a user's name is a chat.
    net.type(alice, "\\chat carol");
    m = alice.mark();
    net.type(alice, "\\history plans 1");
    net.type(alice, "\\history " + id_of(g) + " 5");
    net.type(alice, "\\history bob");
    net.type(alice, "\\history nothing here");
    CHECK(alice.since(m) == std::vector<std::string>{all[1], "* 1 line of group plans (\\history plans N shows more)",
                                                     all[0], all[1], "* 2 lines of group plans",
                                                     "* 0 messages with bob",
                                                     "! no user, group or room nothing here (\\users, \\groups and "
                                                     "\\rooms list them)"});

    // Kept on disk: bob, killed and started again, reads the same lines.
    net.kill(bob);
    net.start(bob);
    std::size_t mb = bob.mark();
    net.type(bob, "\\history plans");
    auto after = bob.since(mb);
    REQUIRE(after.size() == 3);
    CHECK(after[0].substr(17) == label + " <alice> see you at eight");
    CHECK(after[1].substr(17) == "* sent to " + label + ": or nine \\x1b[2J");
    CHECK(after[2] == "* 2 lines of group plans");
}

TEST_CASE("a group keeps its newest lines only, each once") {
    HostNet net;
    auto u = users(net, {"alice", "bob"});
    auto &alice = *u[0], &bob = *u[1];
    auto g = connect(net, alice, bob);
    net.type(alice, "\\group " + id_of(g));
    const std::size_t n = kLinesKept + 5;
    for (std::size_t i = 0; i < n; ++i) {
        net.type(alice, "line " + std::to_string(i));
        if (i % 50 == 49) net.run_for(2000);
    }
    net.run_for(5000);
    for (auto* p : {&alice, &bob}) {
        auto kept = p->store.conversation_lines(g.id, 2 * n);
        REQUIRE(kept.size() == kLinesKept);
        CHECK(kept.front().text == "line 5");
        CHECK(kept.back().text == "line " + std::to_string(n - 1));
    }
}
