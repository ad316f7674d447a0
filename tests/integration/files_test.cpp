// Files between two real darkchat processes on 127.0.0.1, by the macros of
// darkchat(1), FILES: offered, accepted, received byte for byte under the download
// folder; kill -9 of the receiver and of the sender in the middle, and the transfer
// goes on from the chunks stored; a download folder on a full file system (a small tmpfs,
// root only) stops a transfer with one line and lets it go on once there is room.
#include "harness.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace dc::it;

namespace {

long long size_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

// The id in "* file ID offered by WHO: ...".
std::string offered_id(Proc& p, const std::string& who, std::size_t mark) {
    std::string line = p.wait_for(re("^\\* file [0-9a-f]{8} offered by " + quote(who) + ": "), 10, mark);
    return line.substr(7, 8);
}

// alice and bob linked, alice chatting with bob, each with its own download folder
// (bob's is bob_downloads when given).
void pair(Net& net, const std::string& bob_downloads = {}) {
    for (std::string n : {"alice", "bob"}) {
        const std::string dl = n == "bob" && !bob_downloads.empty() ? bob_downloads : net.tmp.sub(n + "-dl");
        net.start(n, Net::Opts{.server = false, .extra = {"--downloads", dl}});
    }
    link(net, "alice", "bob");
    net.proc("alice").send("\\chat bob");
}

}  // namespace

TEST_CASE("a file of a few MiB goes from alice to bob, accepted by its id, and arrives byte for byte") {
    Net net;
    pair(net);
    Proc& alice = net.proc("alice");
    Proc& bob = net.proc("bob");
    const std::string src = net.tmp.sub("src") + "/report.bin";
    const std::string data = random_file(src, 3 * 1024 * 1024 + 12345, 1);
    std::size_t mb = bob.mark(), ma = alice.mark();
    alice.send("\\send " + src);
    std::string id = offered_id(bob, "alice", mb);
    // The sender is told the offer went out, and to how many of bob's sessions.
    alice.wait_for(exactly("* file " + id + " offered to bob: report.bin (" + std::to_string(data.size()) +
                           " bytes, 1 session online)"),
                   5, ma);
    bob.wait_for(exactly("* \\accept " + id + " to take it, \\decline " + id + " to refuse it"), 5, mb);
    bob.send("\\accept " + id);
    alice.wait_for(exactly("* file " + id + " accepted by bob"), 10, ma);
    const std::string saved = net.tmp.sub("bob-dl") + "/report.bin";
    bob.wait_for(exactly("* file " + id + " received from alice: " + saved), 30, mb);
    alice.wait_for(exactly("* file " + id + " delivered to bob"), 10, ma);
    CHECK(read_file(saved) == data);
    CHECK(size_of(saved + ".part") == -1);
    // The same name again gets a new one, never over the first.
    mb = bob.mark();
    alice.send("\\send " + src);
    id = offered_id(bob, "alice", mb);
    bob.send("\\accept " + id);
    bob.wait_for(exactly("* file " + id + " received from alice: " + net.tmp.sub("bob-dl") + "/report (1).bin"), 30, mb);
    CHECK(read_file(net.tmp.sub("bob-dl") + "/report (1).bin") == data);
    CHECK(read_file(saved) == data);
}

TEST_CASE("a declined file is not written, and the sender is told") {
    Net net;
    pair(net);
    Proc& alice = net.proc("alice");
    Proc& bob = net.proc("bob");
    const std::string src = net.tmp.sub("src") + "/no.bin";
    random_file(src, 5000, 2);
    std::size_t mb = bob.mark(), ma = alice.mark();
    alice.send("\\send " + src);
    std::string id = offered_id(bob, "alice", mb);
    bob.send("\\decline " + id);
    alice.wait_for(exactly("! file " + id + " declined by bob"), 10, ma);
    CHECK(size_of(net.tmp.sub("bob-dl") + "/no.bin") == -1);
}

// Kills `who` by pid once bob's partial file holds some chunks and not all, restarts it,
// and checks the file arrives whole without bob's partial file starting over.
void killed_mid_transfer(const std::string& who) {
    Net net;
    pair(net);
    const std::string src = net.tmp.sub("src") + "/big.bin";
    const std::size_t size = 48 * 1024 * 1024;
    const std::string data = random_file(src, size, 3);
    std::size_t mb = net.proc("bob").mark();
    net.proc("alice").send("\\send " + src);
    std::string id = offered_id(net.proc("bob"), "alice", mb);
    net.proc("bob").send("\\accept " + id);
    const std::string saved = net.tmp.sub("bob-dl") + "/big.bin";
    // Wait (bounded) until some chunks are on disk.
    long long part = -1;
    for (int i = 0; i < 2000 && part < 2 * 1024 * 1024; ++i) {
        sleep_for(0.005);
        part = size_of(saved + ".part");
    }
    REQUIRE_MESSAGE(part >= 2 * 1024 * 1024, "no chunks on disk in time");
    REQUIRE_MESSAGE(size_of(saved) == -1, "the transfer ended before the kill: make the file larger");
    net.kill9(who);
    const long long at_kill = size_of(saved + ".part");
    net.start(who, Net::Opts{.server = false, .extra = {"--downloads", net.tmp.sub(who + "-dl")}});
    Proc& bob = net.proc("bob");
    mb = who == "bob" ? 0 : mb;
    bob.wait_for(exactly("* file " + id + " received from alice: " + saved), 60, mb);
    CHECK(read_file(saved) == data);
    CHECK(at_kill > 0);
    // Went on from what was stored: the first progress line after a restart of bob
    // (when one came before the end) already counts chunks.
    if (who == "bob")
        for (auto& l : bob.lines()) {
            auto slash = l.find("/" + std::to_string(size) + " ");
            if (l.rfind("~ file " + id + " ", 0) != 0 || slash == std::string::npos) continue;
            CHECK(std::stoll(l.substr(l.rfind(' ', slash) + 1)) > 0);
            break;
        }
}

TEST_CASE("kill -9 of the receiver mid-transfer: restarted, it goes on from the chunks stored and the file is whole") {
    killed_mid_transfer("bob");
}

TEST_CASE("kill -9 of the sender mid-transfer: restarted, it serves the rest and the file is whole") {
    killed_mid_transfer("alice");
}

// A tmpfs of `mib` MiB mounted on a directory of its own (root only), unmounted and
// removed when the test case ends, also when it fails. Declared before the Net, so
// that the processes that write into it are stopped first.
struct SmallFs {
    std::string dir;
    bool mounted = false;
    explicit SmallFs(int mib) {
        char tmpl[] = "/tmp/darkchat-smallfs-XXXXXX";
        if (!::mkdtemp(tmpl)) return;
        dir = tmpl;
        const std::string opts = "size=" + std::to_string(mib) + "m,mode=0700";
        mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    }
    ~SmallFs() {
        if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
        if (!dir.empty()) ::rmdir(dir.c_str());
    }
};

TEST_CASE("a full download folder stops the transfer with one line, keeps nothing unchecked, and goes on once there is room") {
    if (::geteuid() != 0) {
        MESSAGE("SKIPPED: mounting a small tmpfs for the full disk needs root");
        std::fprintf(stderr, "SKIPPED: a full download folder: mounting a small tmpfs needs root\n");
        return;
    }
    SmallFs fs(8);
    REQUIRE_MESSAGE(fs.mounted, "could not mount a tmpfs on " << fs.dir);
    Net net;
    pair(net, fs.dir);
    Proc& alice = net.proc("alice");
    Proc& bob = net.proc("bob");
    // 6 MiB of filler leaves about 2 MiB free for a file of 5 MiB.
    const std::string filler = fs.dir + "/filler";
    random_file(filler, 6 * 1024 * 1024, 4);
    const std::string src = net.tmp.sub("src") + "/movie.bin";
    const std::string data = random_file(src, 5 * 1024 * 1024 + 777, 5);
    std::size_t mb = bob.mark();
    alice.send("\\send " + src);
    std::string id = offered_id(bob, "alice", mb);
    bob.send("\\accept " + id);
    const std::string saved = fs.dir + "/movie.bin";
    bob.wait_for(exactly("! file " + id + ": cannot write " + saved + ".part: No space left on device (the chunks are "
                         "fetched again once there is room)"),
                 30, mb);
    // It waits: a few retries later still one line, and nothing under the final name.
    sleep_for(5);
    CHECK(bob.count(re("cannot write"), mb) == 1);
    CHECK(bob.count(re("^\\* file " + id + " received"), mb) == 0);
    CHECK(size_of(saved) == -1);
    // Room again: it goes on from where it was, and the file is the one sent.
    std::filesystem::remove(filler);
    bob.wait_for(exactly("* file " + id + ": writing again"), 30, mb);
    bob.wait_for(exactly("* file " + id + " received from alice: " + saved), 60, mb);
    CHECK(read_file(saved) == data);
    CHECK(size_of(saved + ".part") == -1);
    CHECK(bob.count(re("cannot write"), mb) == 1);
}

TEST_CASE("--auto-accept takes a contact's file at once, with nothing typed at the receiver") {
    Net net;
    net.start("alice", Net::Opts{.server = false, .extra = {"--downloads", net.tmp.sub("alice-dl")}});
    net.start("bob", Net::Opts{.server = false, .extra = {"--downloads", net.tmp.sub("bob-dl"), "--auto-accept", "100000"}});
    link(net, "alice", "bob");
    Proc& alice = net.proc("alice");
    Proc& bob = net.proc("bob");
    // alice is bob's contact once his \\add of her is done (link may return on her declaration first).
    bob.wait_for(exactly("* linked alice"), 5);
    alice.send("\\chat bob");
    const std::string src = net.tmp.sub("src") + "/small.bin";
    const std::string data = random_file(src, 50000, 9);
    std::size_t mb = bob.mark();
    alice.send("\\send " + src);
    std::string id = offered_id(bob, "alice", mb);
    bob.wait_for(exactly("* file " + id + " accepted (from a contact, at most 100000 bytes are taken without asking)"), 5,
                 mb);
    const std::string saved = net.tmp.sub("bob-dl") + "/small.bin";
    bob.wait_for(exactly("* file " + id + " received from alice: " + saved), 20, mb);
    CHECK(read_file(saved) == data);
}

namespace {

// A second device of `user` (darkchat --import-identity in a data directory of its own,
// downloading to <tmp>/<key>-dl), started under key, known online to `watcher`.
Node& second_device(Net& net, const std::string& user, const std::string& key, const std::string& watcher) {
    const std::string file = net.tmp.sub(key + "-identity.txt");
    auto ex = run(net.tmp, {darkchat_bin(), "--data-dir", net[user].dir, "--export-identity", file});
    REQUIRE(ex.status == 0);
    std::size_t mw = net.proc(watcher).mark();
    Node& n = net.start(user, {.extra = {"--import-identity", file, "--downloads", net.tmp.sub(key + "-dl")},
                               .with_user = false, .key = key});
    REQUIRE(n.ready.session != net[user].ready.session);
    net.proc(watcher).wait_for(exactly(presence(n, true, "declared online")), 10, mw);
    return n;
}

// A super-client, alice and bob linked (each downloading to <tmp>/<name>-dl), and bob's
// second device bob2.
void bob_on_two_devices(Net& net) {
    net.start_server("S");
    for (std::string n : {"alice", "bob"}) net.start(n, Net::Opts{.extra = {"--downloads", net.tmp.sub(n + "-dl")}});
    link(net, "alice", "bob");
    second_device(net, "bob", "bob2", "alice");
}

}  // namespace

TEST_CASE("a file to bob reaches each of bob's two devices, the second after the first was delivered, and alice's own other device, byte for byte") {
    Net net;
    bob_on_two_devices(net);
    second_device(net, "alice", "alice2", "alice");
    Proc &alice = net.proc("alice"), &bob = net.proc("bob"), &bob2 = net.proc("bob2"), &alice2 = net.proc("alice2");

    const std::string src = net.tmp.sub("src") + "/photo.bin";
    const std::size_t size = 5 * 1024 * 1024 + 999;
    const std::string data = random_file(src, size, 7);
    std::size_t ma = alice.mark(), mb = bob.mark(), mb2 = bob2.mark(), ma2 = alice2.mark();
    alice.send("\\chat bob");
    alice.send("\\send " + src);
    const std::string id = offered_id(bob, "alice", mb);
    CHECK(offered_id(bob2, "alice", mb2) == id);  // one offer, to each session of bob
    const std::string own = offered_id(alice2, "alice", ma2);  // our own device: an id of its own
    CHECK(own != id);
    alice.wait_for(exactly("* file " + id + " offered to bob: photo.bin (" + std::to_string(size) +
                           " bytes, 2 sessions online)"),
                   5, ma);
    alice.wait_for(exactly("* file " + own + " offered to our other devices: photo.bin (" + std::to_string(size) +
                           " bytes, 1 session online)"),
                   5, ma);
    bob.send("\\accept " + id);
    alice2.send("\\accept " + own);
    struct Copy { Proc* p; std::size_t mark; std::string id; std::string path; };
    auto received = [&](const Copy& c) {
        c.p->wait_for(exactly("* file " + c.id + " received from alice: " + c.path), 60, c.mark);
        CHECK(read_file(c.path) == data);
        CHECK(size_of(c.path + ".part") == -1);
    };
    received(Copy{&bob, mb, id, net.tmp.sub("bob-dl") + "/photo.bin"});
    received(Copy{&alice2, ma2, own, net.tmp.sub("alice2-dl") + "/photo.bin"});
    alice.wait_for(exactly("* file " + own + " delivered to alice"), 10, ma);
    alice.wait_for(exactly("* file " + id + " delivered to bob"), 10, ma);
    // One copy delivered, none under way: the offer is still open to bob's other device,
    // and \files says so on one line.
    std::size_t mf = alice.mark();
    alice.send("\\files");
    alice.wait_for(exactly("  " + id + " to bob photo.bin " + std::to_string(size) +
                           " bytes 1 of 2 sessions received, 1 waiting"), 10, mf);
    alice.wait_for(exactly("* 1 transfer"), 10, mf);
    // bob's second device takes it after that.
    bob2.send("\\accept " + id);
    received(Copy{&bob2, mb2, id, net.tmp.sub("bob2-dl") + "/photo.bin"});
    for (int i = 0; i < 200 && alice.count(exactly("* file " + id + " delivered to bob"), ma) < 2; ++i) sleep_for(0.05);
    CHECK(alice.count(exactly("* file " + id + " delivered to bob"), ma) == 2);
    CHECK(alice.count(exactly("* file " + id + " accepted by bob"), ma) == 2);
    CHECK(bob2.count(re("cancelled by alice"), mb2) == 0);
    // Every session answered: nothing is left to list.
    mf = alice.mark();
    alice.send("\\files");
    alice.wait_for(exactly("* 0 transfers"), 10, mf);

    // Another file, taken by one device; alice cancels it: the other device is told.
    const std::string small = net.tmp.sub("src") + "/small.bin";
    random_file(small, 64 * 1024, 8);
    ma = alice.mark(), mb = bob.mark(), mb2 = bob2.mark(), ma2 = alice2.mark();
    alice.send("\\send " + small);
    const std::string second = offered_id(bob, "alice", mb);
    CHECK(offered_id(bob2, "alice", mb2) == second);
    const std::string own2 = offered_id(alice2, "alice", ma2);
    bob.send("\\accept " + second);
    alice.wait_for(exactly("* file " + second + " delivered to bob"), 30, ma);
    alice.send("\\cancel " + second.substr(0, 5));
    bob2.wait_for(exactly("! file " + second + " cancelled by alice"), 10, mb2);
    alice.wait_for(exactly("! file " + second + " cancelled by alice"), 10, ma);
    // Left: the offer to alice's own other device, which has not answered.
    mf = alice.mark();
    alice.send("\\files");
    alice.wait_for(exactly("  " + own2 + " to alice small.bin 65536 bytes 0 of 1 session received, 1 waiting"), 10, mf);
    alice.wait_for(exactly("* 1 transfer"), 10, mf);
    CHECK(alice.count(re(second), mf) == 0);
}

TEST_CASE("bob's late device, once alice's file changed since she offered it, is told so in one line") {
    Net net;
    bob_on_two_devices(net);
    Proc &alice = net.proc("alice"), &bob = net.proc("bob"), &bob2 = net.proc("bob2");
    const std::string src = net.tmp.sub("src") + "/notes.bin";
    const std::string data = random_file(src, 700 * 1024, 9);
    std::size_t ma = alice.mark(), mb = bob.mark(), mb2 = bob2.mark();
    alice.send("\\chat bob");
    alice.send("\\send " + src);
    const std::string id = offered_id(bob, "alice", mb);
    CHECK(offered_id(bob2, "alice", mb2) == id);
    bob.send("\\accept " + id);
    bob.wait_for(exactly("* file " + id + " received from alice: " + net.tmp.sub("bob-dl") + "/notes.bin"), 60, mb);
    alice.wait_for(exactly("* file " + id + " delivered to bob"), 10, ma);
    random_file(src, 700 * 1024, 10);  // the file changes at alice
    bob2.send("\\accept " + id);
    // alice seals what she reads without hashing it again: bob2 finds the first chunk is
    // not the one in the manifest, ends its transfer with one line and tells alice.
    bob2.wait_for(re("^! file " + id + " failed: 'notes\\.bin' changed at the sender since it was offered"), 30, mb2);
    CHECK(size_of(net.tmp.sub("bob2-dl") + "/notes.bin") == -1);
    CHECK(size_of(net.tmp.sub("bob2-dl") + "/notes.bin.part") == -1);
    CHECK(bob2.count(re("^! file " + id + " (failed|cancelled)"), mb2) == 1);
    alice.wait_for(re("^! file " + id + " cancelled by bob"), 10, ma);
    CHECK(read_file(net.tmp.sub("bob-dl") + "/notes.bin") == data);
}
