// What the tests of conversation groups carried by whole hosts share: users
// started and linked on the one simulated network, answering requests, waiting
// until every member holds one list, and the record of lines written against
// which what each reader showed is checked (groups_hosts_test.cpp,
// groups_relay_test.cpp).
#pragma once

#include "../support/host_net.hpp"
#include "sim_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace dc::test {


sim::NetModel lossy(double loss) {
    sim::NetModel m;
    m.latency = 5;
    m.jitter = 3;
    m.loss = loss;
    return m;
}


std::string name_for(std::size_t i) { return "user" + std::to_string(i); }

// a pings b (again, while the ping or its answer is lost), then each adds the other.
void link(HostNet& net, HostPeer& a, HostPeer& b) {
    for (int i = 0; i < 10; ++i) {
        net.type(a, "\\ping " + b.addr.to_string());
        net.run_for(300);
        auto u = a.host->node()->user(b.name);
        if (u && !u->sessions.empty()) break;
    }
    net.type(a, "\\add " + b.name);
    net.type(b, "\\add " + a.name);
    net.run_for(500);
}

// n users started, each linked to the first (who will coordinate).
std::vector<HostPeer*> users(HostNet& net, std::size_t n) {
    std::vector<HostPeer*> out;
    for (std::size_t i = 0; i < n; ++i) {
        auto& p = net.add(name_for(i));
        net.start(p);
        out.push_back(&p);
    }
    for (std::size_t i = 1; i < n; ++i) link(net, *out[0], *out[i]);
    return out;
}

// Says yes to every invitation or request that reached p and was not answered yet.
class Answering {
public:
    void yes(HostNet& net, HostPeer& p, const std::string& title = {}) {
        auto asked = events_of<groups::ev::RequestArrived>(p);
        auto& done = answered_[&p];
        for (auto& r : asked) {
            if (done.count(r.id)) continue;
            done.insert(r.id);
            net.group(p, groups::cmd::Reply{r.id, true, std::nullopt, title});
        }
    }
    void yes_all(HostNet& net, const std::vector<HostPeer*>& ps) {
        for (auto* p : ps)
            if (p->host) yes(net, *p);
    }

private:
    std::map<const HostPeer*, std::set<std::uint64_t>> answered_;
};

bool member_of(const groups::GroupView& v, const PublicKey& k) {
    return std::any_of(v.members.begin(), v.members.end(), [&](const groups::Member& m) { return m.key == k; });
}

std::vector<PublicKey> keys_of(const std::vector<groups::Member>& ms) {
    std::vector<PublicKey> out;
    for (auto& m : ms) out.push_back(m.key);
    return out;
}

// Every one of ps is up, holds group id with exactly ps in it (by key, any
// order), all with the same list (order too) and epoch, each with the key.
bool agreed(const std::vector<HostPeer*>& ps, const groups::GroupId& id) {
    std::optional<groups::GroupView> first;
    for (auto* p : ps) {
        if (!p->host) return false;
        auto v = p->host->groups()->group(id);
        if (!v || !v->has_key || v->members.size() != ps.size()) return false;
        for (auto* q : ps)
            if (!member_of(*v, q->id.pk)) return false;
        if (!first) first = v;
        else if (v->epoch != first->epoch || !(v->members == first->members)) return false;
    }
    return true;
}

// Runs until agreed(ps, id), answering yes to whatever is asked meanwhile.
bool settle(HostNet& net, Answering& answering, const std::vector<HostPeer*>& ps, const groups::GroupId& id,
            TimeMs limit) {
    TimeMs end = net.now() + limit;
    while (net.now() < end) {
        answering.yes_all(net, ps);
        if (agreed(ps, id)) return true;
        net.run_for(250);
    }
    return agreed(ps, id);
}

// b asks a for a group and a says yes: a coordinates. The group's id.
groups::GroupId found(HostNet& net, Answering& answering, HostPeer& a, HostPeer& b) {
    net.group(b, groups::cmd::Request{a.id.pk, groups::Kind::open});
    bool asked = net.run_until([&] { return !events_of<groups::ev::RequestArrived>(a).empty(); }, 20000);
    REQUIRE(asked);
    answering.yes(net, a, "plans");
    bool made = net.run_until([&] { return a.host->groups()->groups().size() == 1; }, 20000);
    REQUIRE(made);
    return a.host->groups()->groups().front().id;
}

// ps[0] makes a group with ps[1], then invites the rest at once; all say yes.
groups::GroupId make_group(HostNet& net, Answering& answering, const std::vector<HostPeer*>& ps, TimeMs limit) {
    auto id = found(net, answering, *ps[0], *ps[1]);
    for (std::size_t i = 2; i < ps.size(); ++i)
        net.group(*ps[0], groups::cmd::Invite{id, ps[i]->id.pk, ps[i]->name});
    bool ok = settle(net, answering, ps, id, limit);
    REQUIRE(ok);
    CHECK(ps[0]->host->groups()->group(id)->members.front().key == ps[0]->id.pk);
    return id;
}

std::string bracketed(const std::vector<std::string>& v) {
    std::string out;
    for (auto& x : v) out += "[" + x + "]";
    return out;
}

std::size_t gone_count(const HostPeer& p, const groups::GroupId& id) {
    std::size_t n = 0;
    for (auto& g : events_of<groups::ev::Gone>(p)) n += g.group == id;
    return n;
}

// A line as written: by whom, its text, who were members (the author's list)
// then, and how often each of ps had been out of the group (Gone) by then.
struct Written {
    const HostPeer* author;
    std::string text;
    std::set<PublicKey> members;
    std::map<const HostPeer*, std::size_t> gone;
};

void say(HostNet& net, HostPeer& p, const groups::GroupId& id, const std::string& text, std::vector<Written>& log,
         const std::vector<HostPeer*>& ps) {
    auto v = p.host->groups()->group(id);
    REQUIRE(v);
    std::set<PublicKey> ms;
    for (auto& m : v->members) ms.insert(m.key);
    std::map<const HostPeer*, std::size_t> gone;
    for (auto* q : ps) gone[q] = gone_count(*q, id);
    net.group(p, groups::cmd::Say{id, text});
    log.push_back({&p, text, std::move(ms), std::move(gone)});
}

// Whether p has stayed in the group since w was written.
bool stayed(const Written& w, const HostPeer& p, const groups::GroupId& id) {
    auto it = w.gone.find(&p);
    return it != w.gone.end() && it->second == gone_count(p, id);
}

// The texts p was shown in group id from author, in the order shown (own lines left out).
std::vector<std::string> shown_from(const HostPeer& p, const groups::GroupId& id, const PublicKey& author) {
    std::vector<std::string> out;
    for (auto& l : events_of<groups::ev::Line>(p))
        if (!l.own && l.group == id && l.author == author) out.push_back(l.text);
    return out;
}

// What each reader must show of each author: the lines written while the reader
// was a member (in the author's list), by an author and for a reader that both
// stayed members from then on (never out, and members at the end: in `now`), in
// the author's order.
// Strict: a reader out for a while (lost, then in again) is not let off the
// lines written before it went out.
std::vector<std::string> expected(const std::vector<Written>& log, const HostPeer& reader, const HostPeer& author,
                                  const groups::GroupId& id, const std::set<PublicKey>& now, bool strict = false) {
    std::vector<std::string> out;
    if (!now.count(author.id.pk) || !now.count(reader.id.pk)) return out;
    for (auto& w : log)
        if (w.author == &author && w.members.count(reader.id.pk) && (strict || stayed(w, reader, id)) &&
            stayed(w, author, id))
            out.push_back(w.text);
    return out;
}

// Every line of `log` that must reach a reader reached it once, in its author's
// order; a reader shows nothing else but lines of `log` (nothing twice).
bool all_shown(const std::vector<Written>& log, const std::vector<HostPeer*>& ps, const groups::GroupId& id,
               const std::set<PublicKey>& now, bool strict = false) {
    for (auto* r : ps)
        for (auto* a : ps) {
            if (r == a) continue;
            auto want = expected(log, *r, *a, id, now, strict);
            auto got = shown_from(*r, id, a->id.pk);
            // Lines shown beyond what is required are allowed only if written (checked below).
            std::vector<std::string> got_required;
            for (auto& g : got)
                if (std::find(want.begin(), want.end(), g) != want.end()) got_required.push_back(g);
            if (got_required != want) return false;
        }
    return true;
}

void check_lines(const std::vector<Written>& log, const std::vector<HostPeer*>& ps, const groups::GroupId& id,
                 const std::set<PublicKey>& now, bool strict = false) {
    for (auto* r : ps)
        for (auto* a : ps) {
            if (r == a) continue;
            CAPTURE(r->name);
            CAPTURE(a->name);
            auto want = expected(log, *r, *a, id, now, strict);
            auto got = shown_from(*r, id, a->id.pk);
            std::vector<std::string> got_required;
            for (auto& g : got)
                if (std::find(want.begin(), want.end(), g) != want.end()) got_required.push_back(g);
            INFO("want " << bracketed(want) << "; shown " << bracketed(got));
            CHECK(got_required == want);
            // Nothing twice, nothing that was not written by that author.
            std::set<std::string> seen;
            for (auto& g : got) {
                CHECK(seen.insert(g).second);
                bool written = std::any_of(log.begin(), log.end(),
                                           [&](const Written& w) { return w.author == a && w.text == g; });
                CHECK(written);
            }
        }
}

std::set<PublicKey> member_set(const HostPeer& p, const groups::GroupId& id) {
    std::set<PublicKey> out;
    if (auto v = p.host->groups()->group(id))
        for (auto& m : v->members) out.insert(m.key);
    return out;
}


}  // namespace dc::test
