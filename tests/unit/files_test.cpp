// The file transfer machine (darkchat/files.hpp) between two stations of an in-memory
// world (tests/support/files_net.hpp): offers and answers, chunks out of order, a
// corrupted chunk fetched again, the window, a kill -9 of either side and the resume, the
// read-back of the first chunk, forged offers and the size limit.

#include <doctest/doctest.h>

#include "support/files_net.hpp"

#include <set>
#include <stdexcept>

using namespace dc;
using namespace dc::files;
using test::FilesNet;
using test::pattern;
using test::SeededCrypto;

namespace {

// Station 1 accepts the offer it was shown last, into downloads/<name>.
FileId accept_last(FilesNet& net, const std::string& name = "got.bin") {
    auto offers = net.events_of<ev::Offered>(1);
    REQUIRE(!offers.empty());
    const FileId id = offers.back().id;
    net.command(1, cmd::Accept{id, "downloads/" + name + ".part", "downloads/" + name});
    return id;
}

// Station 0 offers data to station 1 as path, which accepts it into downloads/<name>.
FileId start(FilesNet& net, const std::string& path, const Bytes& data, const std::string& name = "got.bin") {
    net.offer(0, 1, path, data);
    net.run_for(100);
    return accept_last(net, name);
}

// Runs one input at a time until station 1 has at least n chunks on disk.
void until_have(FilesNet& net, std::uint64_t n) {
    for (int step = 0; step < 100000; ++step) {
        net.steps(1);
        auto v = net.m(1).transfers();
        REQUIRE(v.size() == 1);
        if (v[0].have >= n) return;
    }
    FAIL("the receiver never had " << n << " chunks");
}

// Every chunk (of 1 KiB) a receiver's record counts holds its bytes in the partial
// file; returns how many it counts.
std::size_t check_counted_on_disk(const wire::FileState& rec, const Bytes& part, const Bytes& data) {
    std::size_t counted = 0;
    for (std::uint32_t i = 0; i * 1024 < data.size(); ++i)
        if (rec.have[i / 8] >> (i % 8) & 1) {
            ++counted;
            const std::size_t off = i * 1024, len = std::min<std::size_t>(1024, data.size() - off);
            REQUIRE(part.size() >= off + len);
            CHECK(std::equal(data.begin() + off, data.begin() + off + len, part.begin() + off));
        }
    return counted;
}

// How many times each chunk index was asked for by station i.
std::map<std::uint32_t, int> asked_counts(const FilesNet& net, std::size_t i) {
    std::map<std::uint32_t, int> n;
    for (const auto& w : net.sent_of<wire::FileWant>(i))
        for (auto c : w.chunks) ++n[c];
    return n;
}

// Flips a bit at byte `at` of chunk `index` the first time it is sent; corrupted says it was.
void corrupt_once(FilesNet& net, std::uint32_t index, std::size_t at, bool& corrupted) {
    net.tamper = [index, at, &corrupted](FilesNet::Message& m) {
        auto d = wire::decode_file(m.bytes);
        if (!d || corrupted) return true;
        if (auto* c = std::get_if<wire::FileChunk>(&*d); c && c->index == index) {
            c->data[at] ^= 0x40;
            m.bytes = wire::encode_file(*c);
            corrupted = true;
        }
        return true;
    };
}

}  // namespace

TEST_CASE("a file of many chunks arrives out of order, partly from another holder, and is byte for byte the file that was sent") {
    FilesNet net(3, 11);
    const Bytes data = pattern(40 * 1024 + 333);  // 41 chunks of 1 KiB
    const FileId id = net.offer(0, 1, "report.pdf", data);
    net.run_for(100);
    auto offers = net.events_of<ev::Offered>(1);
    REQUIRE(offers.size() == 1);
    CHECK(offers[0].name == "report.pdf");
    CHECK(offers[0].size == data.size());
    CHECK(offers[0].from == net.self(0).pk);

    // The chunks overtake each other: note the order they reach the receiver in. Every
    // third one comes from station 2, as from another member holding the file.
    std::vector<std::uint32_t> order;
    net.tamper = [&](FilesNet::Message& m) {
        if (auto d = wire::decode_file(m.bytes); d && m.to == 1)
            if (auto* c = std::get_if<wire::FileChunk>(&*d); c && c->index % 3 == 0) m.from = 2;
        return true;
    };
    net.delivered = [&](const FilesNet::Message& m) {
        if (auto d = wire::decode_file(m.bytes); d && m.to == 1)
            if (auto* c = std::get_if<wire::FileChunk>(&*d)) order.push_back(c->index);
    };
    std::vector<std::uint32_t> read_back;
    net.before_read = [&](std::size_t i, const io::Read& r) {
        if (i == 1) read_back.push_back(r.index);
    };
    accept_last(net);
    net.run_for(5000);

    // Every chunk was checked before it was written: only the first is read back.
    CHECK(read_back == std::vector<std::uint32_t>{0});
    CHECK(net.at(1).disk.count("downloads/got.bin") == 1);
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    CHECK(net.at(1).disk.count("downloads/got.bin.part") == 0);
    auto done = net.events_of<ev::Completed>(1);
    REQUIRE(done.size() == 1);
    CHECK(done[0].id == id);
    CHECK(done[0].path == "downloads/got.bin");
    CHECK(net.events_of<ev::Accepted>(0).size() == 1);
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
    CHECK(order.size() == 41);
    CHECK(!std::is_sorted(order.begin(), order.end()));
    // Both sides are done and keep nothing (the offer ended with the only copy).
    CHECK(net.m(0).transfers().empty());
    CHECK(net.m(1).transfers().empty());
    CHECK(net.at(0).store.empty());
    CHECK(net.at(1).store.empty());
    CHECK(net.m(1).stats().bad_chunks == 0);
}

// The driver opens chunks on threads (io::Open): the answers come late and in any
// order, and one that does not open is fetched again, never written.
TEST_CASE("chunks opened later and last first, one of them corrupted, make the file that was sent") {
    FilesNet net(2, 13);
    net.opens_held = true;
    const Bytes data = pattern(30 * 1024 + 5, 8);
    bool corrupted = false;
    corrupt_once(net, 17, 7, corrupted);
    start(net, "late.bin", data);
    net.run_for(5000);
    REQUIRE(corrupted);
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    CHECK(net.events_of<ev::Completed>(1).size() == 1);
    CHECK(net.m(1).stats().bad_chunks == 1);
    CHECK(net.opens == 32);  // 31 chunks, one twice
    const auto asked = asked_counts(net, 1);
    for (const auto& [i, n] : asked) CHECK(n == (i == 17 ? 2 : 1));
    CHECK(net.at(1).writes == 31);
}

TEST_CASE("chunks beyond max_opening are dropped while others are opened, and asked for again") {
    Config cfg;
    cfg.max_opening = 2;
    FilesNet net(2, 14, cfg);
    net.opens_held = true;
    const Bytes data = pattern(40 * 1024, 9);
    start(net, "many.bin", data);
    net.run_for(4000);  // less than request_timeout: what was dropped was asked again at once
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    CHECK(net.events_of<ev::Completed>(1).size() == 1);
    CHECK(net.m(1).stats().busy > 0);
    CHECK(net.m(1).stats().bad_chunks == 0);
    CHECK(net.at(1).writes == 40);
}

TEST_CASE("a corrupted chunk is refused, never written, and asked for again") {
    FilesNet net(2, 12);
    const Bytes data = pattern(10 * 1024, 7);
    bool corrupted = false;
    corrupt_once(net, 3, 100, corrupted);
    start(net, "a.bin", data);
    net.run_for(5000);
    REQUIRE(corrupted);
    const Bytes& got = net.at(1).disk["downloads/got.bin"];
    CHECK(got == data);
    CHECK(net.m(1).stats().bad_chunks == 1);
    // Chunk 3 was asked for twice, every other chunk once.
    const auto asked = asked_counts(net, 1);
    CHECK(asked.size() == 10);
    for (const auto& [i, n] : asked) CHECK(n == (i == 3 ? 2 : 1));
    CHECK(net.at(1).writes == 10);  // the bad copy of chunk 3 was never written
    CHECK(net.events_of<ev::Completed>(1).size() == 1);
}

TEST_CASE("a chunk sealed under another key or for another index does not open") {
    FilesNet net(2, 13);
    const Bytes data = pattern(4 * 1024, 9);
    net.offer(0, 1, "b.bin", data);
    net.run_for(100);
    // Chunk 1 arrives carrying chunk 2's sealed bytes: the index is authenticated.
    std::optional<wire::FileChunk> two;
    net.tamper = [&](FilesNet::Message& m) {
        auto d = wire::decode_file(m.bytes);
        if (!d) return true;
        if (auto* c = std::get_if<wire::FileChunk>(&*d); c && c->index == 2 && !two) two = *c;
        return true;
    };
    accept_last(net);
    net.run_for(5000);
    REQUIRE(two);
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    const auto bad_before = net.m(1).stats().bad_chunks;

    // A second transfer of the same bytes: another key; an old chunk does not open in it.
    net.tamper = nullptr;
    net.offer(0, 1, "c.bin", data);
    net.run_for(100);
    const FileId second = accept_last(net, "second.bin");
    net.tamper = [&](FilesNet::Message& m) {
        auto d = wire::decode_file(m.bytes);
        if (!d || m.to != 1) return true;
        if (auto* c = std::get_if<wire::FileChunk>(&*d); c && c->index == 2) {
            wire::FileChunk moved = *two;
            moved.id = second;
            m.bytes = wire::encode_file(moved);
            return true;
        }
        if (auto* c = std::get_if<wire::FileChunk>(&*d); c && c->index == 1) {
            wire::FileChunk swapped = *c;
            swapped.data = two->data;  // chunk 2's bytes under index 1
            swapped.data.resize(c->data.size());
            m.bytes = wire::encode_file(swapped);
        }
        return true;
    };
    net.run_for(2000);
    CHECK(net.m(1).stats().bad_chunks >= bad_before + 2);
    CHECK(net.at(1).disk.count("downloads/second.bin") == 0);
    auto views = net.m(1).transfers();
    REQUIRE(views.size() == 1);
    CHECK(views[0].have == 2);  // chunks 0 and 3; never 1 or 2
    net.tamper = nullptr;
    net.run_for(20000);
    CHECK(net.at(1).disk["downloads/second.bin"] == data);
}

TEST_CASE("the receiver never has more chunks asked for than its window") {
    Config cfg;
    cfg.window = 4;
    FilesNet net(2, 14, cfg);
    const Bytes data = pattern(64 * 1024, 3);
    start(net, "w.bin", data);
    std::size_t most = 0;
    for (int i = 0; i < 2000 && net.events_of<ev::Completed>(1).empty(); ++i) {
        net.steps(1);
        for (const auto& v : net.m(1).transfers()) most = std::max(most, v.asked);
    }
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    CHECK(most == 4);
    for (const auto& w : net.sent_of<wire::FileWant>(1)) CHECK(w.chunks.size() <= 4);
}

TEST_CASE("kill -9 of the receiver mid-transfer: the restart asks only for the chunks it had not stored") {
    Config cfg;
    cfg.store_every = 4;
    FilesNet net(2, 15, cfg);
    const Bytes data = pattern(48 * 1024 + 5, 5);  // 49 chunks
    const FileId id = start(net, "movie.mkv", data, "movie.mkv");
    until_have(net, 20);
    net.kill(1);
    // What the record says it has is on disk.
    auto rec = wire::decode_file_state(net.at(1).store.at({Side::receiving, id, PublicKey{}, SessionId{}}));
    REQUIRE(rec);
    const std::size_t stored = check_counted_on_disk(*rec, net.at(1).disk["downloads/movie.mkv.part"], data);
    CHECK(stored >= 16);

    const auto before = net.at(1).sent.size();
    REQUIRE(net.restart(1));
    net.run_for(10000);
    std::set<std::uint32_t> after;
    for (std::size_t k = before; k < net.at(1).sent.size(); ++k)
        if (auto* w = std::get_if<wire::FileWant>(&net.at(1).sent[k]))
            for (auto c : w->chunks) after.insert(c);
    CHECK(after.size() == 49 - stored);
    for (auto c : after) CHECK(!(rec->have[c / 8] >> (c % 8) & 1));
    CHECK(net.at(1).disk["downloads/movie.mkv"] == data);
    CHECK(net.events_of<ev::Completed>(1).size() == 1);
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
}

TEST_CASE("a full disk: chunks that could not be written are not counted, the receiver waits, and goes on once there is room") {
    Config cfg;
    cfg.store_every = 4;
    FilesNet net(2, 17, cfg);
    const Bytes data = pattern(40 * 1024 + 7, 9);  // 41 chunks
    const FileId id = start(net, "big.iso", data, "big.iso");
    for (int i = 0; i < 1000 && net.m(1).transfers().at(0).have < 10; ++i) net.run_for(1);
    net.at(1).disk_full = true;
    net.run_for(30000);
    // Stopped short of the end, and what the record counts is on disk.
    CHECK(net.events_of<ev::Completed>(1).empty());
    CHECK(net.m(1).stats().write_failed > 0);
    auto v = net.m(1).transfers();
    REQUIRE(v.size() == 1);
    CHECK(v[0].have < 41);
    auto rec = wire::decode_file_state(net.at(1).store.at({Side::receiving, id, PublicKey{}, SessionId{}}));
    REQUIRE(rec);
    check_counted_on_disk(*rec, net.at(1).disk["downloads/big.iso.part"], data);
    // While full it asks again every write_retry, not without pause: 30 s, a few dozen wants.
    CHECK(net.sent_of<wire::FileWant>(1).size() < 100);
    // Room again: it goes on and the file is whole.
    net.at(1).disk_full = false;
    net.run_for(30000);
    REQUIRE(net.events_of<ev::Completed>(1).size() == 1);
    CHECK(net.at(1).disk["downloads/big.iso"] == data);
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
}

TEST_CASE("kill -9 of the sender: restarted from its record it serves the rest") {
    FilesNet net(2, 16);
    const Bytes data = pattern(30 * 1024, 6);
    start(net, "s.bin", data);
    until_have(net, 10);
    net.kill(0);
    net.run_for(3000);  // the receiver keeps asking into the void
    CHECK(net.m(1).transfers().at(0).have < 30);
    REQUIRE(net.restart(0));
    net.run_for(20000);
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
}

TEST_CASE("a sender killed before the answer offers again after its restart") {
    FilesNet net(2, 17);
    const Bytes data = pattern(3000, 2);
    net.tamper = [](FilesNet::Message&) { return false; };  // the first offer is lost
    net.offer(0, 1, "x.txt", data);
    net.run_for(100);
    net.kill(0);
    net.tamper = nullptr;
    REQUIRE(net.restart(0));
    net.run_for(100);
    REQUIRE(net.events_of<ev::Offered>(1).size() == 1);
    accept_last(net);
    net.run_for(5000);
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
}

TEST_CASE("a first chunk the disk lost is found by the read-back and fetched again") {
    FilesNet net(2, 18);
    const Bytes data = pattern(8 * 1024, 4);
    bool spoiled = false;
    net.before_read = [&](std::size_t i, const io::Read& r) {
        if (i == 1 && r.side == Side::receiving && r.index == 0 && !spoiled) {
            net.at(1).disk[r.path][r.offset + 7] ^= 1;
            spoiled = true;
        }
    };
    start(net, "d.bin", data);
    net.run_for(5000);
    REQUIRE(spoiled);
    CHECK(asked_counts(net, 1)[0] == 2);
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    CHECK(net.events_of<ev::Completed>(1).size() == 1);
}

TEST_CASE("a manifest whose whole hash is not the hash of its chunk hashes is not offered, nor taken") {
    FilesNet net(2, 19);
    const Bytes data = pattern(4 * 1024, 8);
    net.at(0).disk["f.bin"] = data;
    auto blob = net.manifest(0, "f.bin", data, 1024);
    auto m = wire::decode_file_manifest(blob.body);
    REQUIRE(m);
    CHECK(m->file_hash == whole_hash(*net.at(0).crypto, m->chunk_hashes));
    m->file_hash[0] ^= 1;
    blob = sign_manifest(*net.at(0).crypto, net.self(0).sk, *m);
    CHECK(!open_manifest(*net.at(0).crypto, blob, wire::kMaxFileSize));
    net.command(0, cmd::Offer{net.self(1).pk, net.self(1).kx_pk, blob, "f.bin", {}});
    CHECK(net.events_of<ev::Failed>(0).size() == 1);
    // Sent anyway, as by another program: the receiver refuses it.
    const Bytes sealed = net.at(0).crypto->seal(Bytes(32, 1), net.self(1).kx_pk);
    net.inject(1, net.self(0).pk, wire::encode_file(wire::FileOffer{blob, sealed}));
    CHECK(net.events_of<ev::Refused>(1).size() == 1);
    CHECK(net.events_of<ev::Offered>(1).empty());
    CHECK(net.m(1).transfers().empty());
}

TEST_CASE("an empty file is sent and checked") {
    FilesNet net(2, 20);
    start(net, "empty", Bytes{});
    net.run_for(1000);
    REQUIRE(net.at(1).disk.count("downloads/got.bin") == 1);
    CHECK(net.at(1).disk["downloads/got.bin"].empty());
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
}

TEST_CASE("a declined offer ends both sides (once every session it went to answered); a cancelled transfer removes the partial file") {
    FilesNet net(2, 21);
    const FileId id = net.offer(0, 1, "no.bin", pattern(5000));
    net.run_for(100);
    net.command(1, cmd::Decline{id});
    net.run_for(100);
    CHECK(net.events_of<ev::Declined>(0).size() == 1);
    CHECK(net.m(1).transfers().empty());
    // The only session it went to answered: the offer ends at once.
    CHECK(net.m(0).transfers().empty());
    CHECK(net.at(0).store.empty());

    net.offer(0, 1, "yes.bin", pattern(500 * 1024));
    net.run_for(100);
    const FileId second = accept_last(net);
    net.steps(10);
    net.command(0, cmd::Cancel{second, Side::sending});
    net.run_for(2000);
    CHECK(net.events_of<ev::Cancelled>(1).size() == 1);
    CHECK(net.at(1).disk.count("downloads/got.bin.part") == 0);
    CHECK(net.at(1).disk.count("downloads/got.bin") == 0);
    CHECK(net.m(1).transfers().empty());
    CHECK(net.at(1).store.empty());
}

TEST_CASE("offers above the size limit, signed by another, or with a key for someone else are refused") {
    Config cfg;
    cfg.max_size = 4096;
    FilesNet net(3, 22, cfg);
    net.offer(0, 1, "big.bin", pattern(5000));
    net.run_for(100);
    CHECK(net.events_of<ev::Offered>(1).empty());
    REQUIRE(net.events_of<ev::Refused>(1).size() == 1);
    CHECK(net.events_of<ev::Declined>(0).size() == 1);

    // Station 2 passes on station 0's signed offer as its own.
    const Bytes data = pattern(1000);
    auto blob = net.manifest(0, "small.bin", data, 1024);
    const Bytes sealed = net.at(2).crypto->seal(Bytes(32, 1), net.self(1).kx_pk);
    net.inject(1, net.self(2).pk, wire::encode_file(wire::FileOffer{blob, sealed}));
    CHECK(net.events_of<ev::Refused>(1).size() == 2);
    // A changed manifest no longer matches its signature.
    auto forged = blob;
    forged.body.back() ^= 1;
    net.inject(1, net.self(0).pk, wire::encode_file(wire::FileOffer{forged, sealed}));
    CHECK(net.events_of<ev::Refused>(1).size() == 3);
    // A key sealed to someone else does not open.
    const Bytes other = net.at(0).crypto->seal(Bytes(32, 1), net.self(2).kx_pk);
    net.inject(1, net.self(0).pk, wire::encode_file(wire::FileOffer{blob, other}));
    CHECK(net.events_of<ev::Refused>(1).size() == 4);
    CHECK(net.events_of<ev::Offered>(1).empty());
    CHECK(net.m(1).transfers().empty());
}

TEST_CASE("only the receiver of a transfer may ask for its chunks or end it") {
    FilesNet net(3, 23);
    const FileId id = net.offer(0, 1, "p.bin", pattern(5000));
    net.run_for(100);
    net.inject(0, net.self(2).pk, wire::encode_file(wire::FileWant{id, {0, 1}}));
    net.inject(0, net.self(2).pk, wire::encode_file(wire::FileCancel{id}));
    net.inject(0, net.self(2).pk, wire::encode_file(wire::FileDone{id, true}));
    CHECK(net.m(0).stats().refused == 3);
    CHECK(net.sent_of<wire::FileChunk>(0).empty());
    REQUIRE(net.m(0).transfers().size() == 1);
    CHECK(net.m(0).transfers()[0].phase == Phase::offered);
}

TEST_CASE("a stored record that does not fit its manifest is not restored") {
    FilesNet net(2, 24);
    const FileId id = start(net, "r.bin", pattern(9000));
    net.steps(3);
    auto state = wire::decode_file_state(net.at(1).store.at({Side::receiving, id, PublicKey{}, SessionId{}}));
    REQUIRE(state);
    state->have.push_back(0);  // more chunk bits than chunks
    SeededCrypto c(1);
    Machine m({}, net.self(1), c);
    CHECK(!m.restore(wire::encode(*state)));
    state->have.pop_back();
    CHECK(m.restore(wire::encode(*state)));
    CHECK(!m.restore(wire::encode(*state)));  // the same transfer twice
    CHECK(!m.restore(Bytes{1, 2, 3}));
}

TEST_CASE("kill -9 of the receiver while it reads the first chunk back: the restart reads it again and completes") {
    FilesNet net(2, 25);
    const Bytes data = pattern(6 * 1024 + 10, 12);
    // Station 1 dies at its read-back of the first chunk, before the answer.
    bool killed = false;
    net.before_read = [&](std::size_t i, const io::Read& r) {
        if (i == 1 && r.side == Side::receiving && r.index == 0 && !killed) {
            killed = true;
            throw std::runtime_error("kill");
        }
    };
    net.offer(0, 1, "v.bin", data);
    net.run_for(100);
    try {
        accept_last(net);
        net.run_for(5000);
    } catch (const std::runtime_error&) {
    }
    REQUIRE(killed);
    net.kill(1);
    auto rec = wire::decode_file_state(net.at(1).store.begin()->second);
    REQUIRE(rec);
    CHECK(rec->phase == static_cast<std::uint8_t>(Phase::verifying));
    const auto wants = net.sent_of<wire::FileWant>(1).size();
    REQUIRE(net.restart(1));
    net.run_for(5000);
    CHECK(net.sent_of<wire::FileWant>(1).size() == wants);  // nothing fetched again
    CHECK(net.at(1).disk["downloads/got.bin"] == data);
    CHECK(net.events_of<ev::Completed>(1).size() == 1);
}

TEST_CASE("an image that arrives is recognised by its content, whatever its media type said") {
    FilesNet net(2, 26);
    // A PNG header of 320x200 and some bytes after it, offered as something else.
    Bytes data{0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
               0x00, 0x00, 0x01, 0x40, 0x00, 0x00, 0x00, 0xc8, 0x08, 0x06, 0x00, 0x00, 0x00};
    const Bytes tail = pattern(3000, 13);
    data.insert(data.end(), tail.begin(), tail.end());
    start(net, "notes.txt", data, "notes.txt");
    net.run_for(5000);
    auto done = net.events_of<ev::Completed>(1);
    REQUIRE(done.size() == 1);
    REQUIRE(done[0].image);
    CHECK(image_label(*done[0].image) == "[image 320x200 png]");

    start(net, "plain.bin", pattern(3000, 14), "plain.bin");
    net.run_for(5000);
    done = net.events_of<ev::Completed>(1);
    REQUIRE(done.size() == 2);
    CHECK(!done[1].image);
}

// The sender seals chunks as it reads them; the receiver's check against the manifest
// ends the transfer at the first changed chunk, with one line, and keeps nothing.
TEST_CASE("a file changed on the sender's disk after its offer is not taken") {
    FilesNet net(2, 27);
    const Bytes data = pattern(5000, 15);
    net.before_read = [&](std::size_t i, const io::Read& r) {
        if (i == 0 && r.index == 2) net.at(0).disk[r.path][r.offset] ^= 0xff;
    };
    start(net, "changing.log", data);
    net.run_for(5000);
    auto failed = net.events_of<ev::Failed>(1);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].why.find("changed at the sender") != std::string::npos);
    CHECK(failed[0].why.find("chunk 2") != std::string::npos);
    CHECK(net.events_of<ev::Failed>(0).empty());
    CHECK(net.events_of<ev::Cancelled>(0).size() == 1);
    CHECK(net.events_of<ev::Completed>(1).empty());
    CHECK(net.m(1).stats().bad_chunks == 1);  // once: never asked for again
    CHECK(net.m(1).transfers().empty());
    // The offer stays open to the receiver's other sessions for its time, then goes.
    net.run_for(120'000);
    CHECK(net.at(1).disk.count("downloads/got.bin") == 0);
    CHECK(net.at(1).disk.count("downloads/got.bin.part") == 0);
    CHECK(net.m(0).transfers().empty());
    CHECK(net.m(1).transfers().empty());
}

TEST_CASE("an offer nobody answers is sent again a bounded number of times, then waits") {
    Config cfg;
    cfg.offer_retry = 1000;
    cfg.offer_attempts = 5;
    FilesNet net(2, 28, cfg);
    net.tamper = [](FilesNet::Message&) { return false; };  // the receiver is unreachable
    net.offer(0, 1, "lonely.bin", pattern(3000));
    net.run_for(60000);
    CHECK(net.sent_of<wire::FileOffer>(0).size() == 5);
    CHECK(!net.m(0).poll_timeout());
    REQUIRE(net.m(0).transfers().size() == 1);
    CHECK(net.m(0).transfers()[0].phase == Phase::offered);
    // A late answer still starts the transfer.
    net.tamper = nullptr;
    const FileId id = net.m(0).transfers()[0].id;
    net.inject(0, net.self(1).pk, wire::encode_file(wire::FileAnswer{id, true}));
    CHECK(net.events_of<ev::Accepted>(0).size() == 1);
}

namespace {

// Chunks station `to` was sent, by index.
struct ChunkCount {
    std::map<std::size_t, std::map<std::uint32_t, int>> to;
    void count(const FilesNet::Message& m) {
        auto d = wire::decode_file(m.bytes);
        if (auto* c = d ? std::get_if<wire::FileChunk>(&*d) : nullptr) ++to[m.to][c->index];
    }
};

// Station 0 offers data to the user of stations 1 and 2 (two devices of one user).
FileId offer_to_two(FilesNet& net, const Bytes& data) {
    net.same_user(2, 1);
    const FileId id = net.offer(0, 1, "report.pdf", data);
    net.run_for(100);
    for (std::size_t i : {1, 2}) {
        auto offers = net.events_of<ev::Offered>(i);
        REQUIRE(offers.size() == 1);
        CHECK(offers[0].id == id);
    }
    return id;
}

}  // namespace

TEST_CASE("a file to a user on two devices: each session that accepts has its own transfer and gets the file byte for byte") {
    FilesNet net(3, 41);
    const Bytes data = pattern(30 * 1024 + 77);  // 31 chunks
    ChunkCount chunks;
    net.delivered = [&](const FilesNet::Message& m) { chunks.count(m); };
    const FileId id = offer_to_two(net, data);
    net.command(1, cmd::Accept{id, "downloads/a.part", "downloads/a"});
    net.command(2, cmd::Accept{id, "dl/b.part", "dl/b"});
    net.run_for(30000);
    CHECK(net.at(1).disk["downloads/a"] == data);
    CHECK(net.at(2).disk["dl/b"] == data);
    REQUIRE(net.events_of<ev::Completed>(1).size() == 1);
    REQUIRE(net.events_of<ev::Completed>(2).size() == 1);
    // The sender was told by each: two transfers, accepted and delivered.
    CHECK(net.events_of<ev::Accepted>(0).size() == 2);
    CHECK(net.events_of<ev::Delivered>(0).size() == 2);
    // Each chunk went to each device once, to the one that asked for it.
    for (std::size_t i : {1, 2}) {
        CHECK(chunks.to[i].size() == 31);
        for (const auto& [index, n] : chunks.to[i]) CHECK_MESSAGE(n == 1, "chunk " << index << " to " << i << ": " << n);
    }
    // Both copies delivered: the offer is gone too.
    CHECK(net.m(0).transfers().empty());
    CHECK(net.at(0).store.empty());
}

TEST_CASE("one device declines a file, the other takes it later: the offer stays open to it") {
    FilesNet net(3, 42);
    const Bytes data = pattern(9 * 1024);
    const FileId id = offer_to_two(net, data);
    net.command(1, cmd::Decline{id});
    net.run_for(5000);
    CHECK(net.events_of<ev::Declined>(0).size() == 1);
    REQUIRE(net.m(0).transfers().size() == 1);  // the offer, open to the other device
    net.command(2, cmd::Accept{id, "dl/b.part", "dl/b"});
    net.run_for(10000);
    CHECK(net.at(2).disk["dl/b"] == data);
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
    CHECK(net.at(1).disk.count("downloads/a") == 0);
}

TEST_CASE("two devices of a user take one file: the sender keeps a record per session, and resumes each after a kill -9") {
    FilesNet net(3, 43);
    const Bytes data = pattern(200 * 1024 + 5);  // 201 chunks
    const FileId id = offer_to_two(net, data);
    net.command(1, cmd::Accept{id, "downloads/a.part", "downloads/a"});
    net.command(2, cmd::Accept{id, "dl/b.part", "dl/b"});
    // Until both are under way, then kill the sender.
    for (int step = 0; step < 100000; ++step) {
        net.steps(1);
        auto v = net.m(0).transfers();
        if (std::count_if(v.begin(), v.end(), [](const TransferView& t) { return t.phase == Phase::transferring; }) == 2)
            break;
    }
    std::set<SessionId> stored;
    for (const auto& [k, state] : net.at(0).store) stored.insert(std::get<3>(k));
    CHECK(stored == std::set<SessionId>{SessionId{}, net.at(1).session, net.at(2).session});
    net.kill(0);
    net.run_for(1000);
    REQUIRE(net.restart(0));
    CHECK(net.m(0).transfers().size() == 3);
    // One device cancels: the other's transfer goes on.
    net.command(1, cmd::Cancel{id, Side::receiving});
    net.run_for(60000);
    CHECK(net.at(2).disk["dl/b"] == data);
    CHECK(net.at(1).disk.count("downloads/a") == 0);
    CHECK(net.events_of<ev::Cancelled>(0).size() == 1);
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
}

namespace {

// The fileCancels station i was sent, as its peer wrote them.
std::vector<wire::FileCancel> cancels_to(FilesNet& net, std::size_t from) {
    std::vector<wire::FileCancel> v;
    for (const auto& m : net.at(from).sent)
        if (auto* c = std::get_if<wire::FileCancel>(&m)) v.push_back(*c);
    return v;
}

std::size_t replies_stored(FilesNet& net, const FileId& id) {
    auto rec = wire::decode_file_state(net.at(0).store.at({Side::sending, id, PublicKey{}, SessionId{}}));
    REQUIRE(rec);
    return rec->replies.size();
}

}  // namespace

TEST_CASE("a late device: the offer stays open to every session it went to, across minutes and a kill -9 of the sender, until each answered") {
    FilesNet net(4, 44);
    net.same_user(3, 0);  // the sender's other device hears the receiver's answers too, and stays quiet
    const Bytes data = pattern(12 * 1024 + 3);
    const FileId id = offer_to_two(net, data);
    net.command(1, cmd::Accept{id, "downloads/a.part", "downloads/a"});
    net.run_for(20000);
    CHECK(net.at(1).disk["downloads/a"] == data);
    CHECK(net.events_of<ev::Delivered>(0).size() == 1);
    // One copy delivered, none under way: still open to the device that has not answered.
    REQUIRE(net.m(0).transfers().size() == 1);
    CHECK(replies_stored(net, id) == 2);
    // The first device's answer repeated late (as a chat message may be) starts nothing.
    net.inject(0, net.self(1).pk, wire::encode_file(wire::FileAnswer{id, true}), net.at(1).session);
    CHECK(net.m(0).transfers().size() == 1);
    net.run_for(10 * 60 * 1000);
    net.kill(0);
    REQUIRE(net.restart(0));
    net.run_for(5 * 60 * 1000);
    REQUIRE(net.m(0).transfers().size() == 1);
    auto v = net.m(0).transfers();
    REQUIRE(v[0].replies.size() == 2);
    // The late device takes it, a quarter of an hour after the first.
    net.command(2, cmd::Accept{id, "dl/b.part", "dl/b"});
    net.run_for(20000);
    CHECK(net.at(2).disk["dl/b"] == data);
    CHECK(net.events_of<ev::Cancelled>(1).empty());
    CHECK(net.events_of<ev::Cancelled>(2).empty());
    CHECK(cancels_to(net, 3).empty());
    CHECK(net.events_of<ev::Delivered>(0).size() == 2);  // one for each device
    // Every session it went to answered: the offer is gone, and nothing is kept.
    CHECK(net.m(0).transfers().empty());
    CHECK(net.at(0).store.empty());
}

TEST_CASE("a late device whose sender no longer has the file, or no longer offers it, gets one fileCancel that says why") {
    FilesNet net(3, 45);
    const Bytes data = pattern(6 * 1024);
    const FileId id = offer_to_two(net, data);
    net.command(1, cmd::Accept{id, "downloads/a.part", "downloads/a"});
    net.run_for(20000);
    REQUIRE(net.at(1).disk["downloads/a"] == data);
    // The file changed at the sender: the late device is told so, and nothing of it stays.
    // The sender seals what it reads without hashing it (between two): the device finds
    // the first chunk is not the one in the manifest, ends its transfer and tells the sender.
    net.at(0).disk["report.pdf"][5] ^= 1;
    net.command(2, cmd::Accept{id, "dl/b.part", "dl/b"});
    net.run_for(20000);
    auto f = net.events_of<ev::Failed>(2);
    REQUIRE(f.size() == 1);
    CHECK(f[0].why.find("changed at the sender since it was offered") != std::string::npos);
    CHECK(net.events_of<ev::Cancelled>(2).empty());
    CHECK(net.at(2).disk.count("dl/b") == 0);
    CHECK(net.at(2).disk.count("dl/b.part") == 0);
    CHECK(net.m(2).transfers().empty());
    CHECK(net.m(0).transfers().empty());
    // The device that had it keeps it, and is not told anything more.
    CHECK(net.events_of<ev::Cancelled>(1).empty());

    // An offer the sender dropped (its fileCancel to this device was lost): the device
    // that takes it later hears once that it is not offered any more.
    const FileId second = net.offer(0, 1, "second.bin", pattern(3000));
    net.run_for(1000);
    net.tamper = [&](FilesNet::Message& m) {
        auto d = wire::decode_file(m.bytes);
        return !(m.to == 2 && d && std::holds_alternative<wire::FileCancel>(*d));
    };
    net.command(0, cmd::Cancel{second, Side::sending});
    net.run_for(1000);
    net.tamper = nullptr;
    CHECK(net.events_of<ev::Cancelled>(1).size() == 1);
    REQUIRE(net.m(2).transfers().size() == 1);  // still offered, as far as it knows
    const std::size_t before = cancels_to(net, 0).size();
    net.command(2, cmd::Accept{second, "dl/s.part", "dl/s"});
    net.run_for(20000);
    auto c = net.events_of<ev::Cancelled>(2);
    REQUIRE(c.size() == 1);
    CHECK(c[0].id == second);
    CHECK(c[0].reason == wire::CancelReason::not_offered);
    CHECK(net.m(2).transfers().empty());
    CHECK(net.at(2).disk.count("dl/s.part") == 0);
    // One fileCancel for its answer and one for its want: no more, and nothing kept.
    CHECK(cancels_to(net, 0).size() - before <= 2);
    CHECK(net.m(0).transfers().empty());
}

TEST_CASE("the offer keeps the answers of at most 16 sessions; the next one is told it cannot take it") {
    FilesNet net(3, 46);
    const FileId id = offer_to_two(net, pattern(4000));
    // Fourteen more sessions of the receiver take it (as other devices would).
    for (std::uint8_t i = 0; i < 14; ++i) {
        SessionId s{};
        s.fill(static_cast<std::uint8_t>(100 + i));
        net.inject(0, net.self(1).pk, wire::encode_file(wire::FileAnswer{id, true}), s);
    }
    CHECK(net.events_of<ev::Accepted>(0).size() == 14);
    CHECK(replies_stored(net, id) == wire::kMaxOfferSessions);
    SessionId extra{};
    extra.fill(200);
    const std::size_t before = cancels_to(net, 0).size();
    net.inject(0, net.self(1).pk, wire::encode_file(wire::FileAnswer{id, true}), extra);
    CHECK(net.events_of<ev::Accepted>(0).size() == 14);
    auto sent = cancels_to(net, 0);
    REQUIRE(sent.size() == before + 1);
    CHECK(sent.back().reason == static_cast<std::uint8_t>(wire::CancelReason::too_many));
    CHECK(replies_stored(net, id) == wire::kMaxOfferSessions);
    // The two devices it went to can still take it.
    net.command(2, cmd::Accept{id, "dl/b.part", "dl/b"});
    net.run_for(20000);
    CHECK(net.events_of<ev::Completed>(2).size() == 1);
}
