// Fuzz target: the decoders of the file transfer messages (files_wire.hpp), the safe
// names and the image headers, and the transfer machine behind them. Every decode that
// succeeds must respect the limits of files_wire.hpp and survive decode, encode, decode
// again with an equal value, and encode again to the same bytes; the manifest inside an
// offer and the stored state too. The same bytes, read as a peer's file name, must give
// a safe name; read as a file's head, no image of size zero. Then they go to both ends
// of a transfer under way, as if from the peer and from a stranger, at a moment the
// first byte picks, and the world runs on: nothing may crash, and a file that completes
// is the file that was sent.

#include "fuzz_common.hpp"

#include "darkchat/files.hpp"
#include "support/files_net.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

using namespace dc;

namespace {

void check_manifest(ByteView in, std::string_view name) {
    auto m = wire::decode_file_manifest(in);
    if (!m) return;
    fuzz::expect(!m->name.empty() && m->name.size() <= wire::kMaxFileName, name, "bad name length");
    fuzz::expect(m->size <= wire::kMaxFileSize, name, "too large");
    fuzz::expect(m->chunk_size >= wire::kMinFileChunk && m->chunk_size <= wire::kMaxFileChunk, name, "chunk size");
    fuzz::expect(m->chunk_hashes.size() == wire::file_chunks(m->size, m->chunk_size) * 32, name, "hash count");
    fuzz::round_trip_eq(
        *m, [](const auto& v) { return wire::encode(v); },
        [](ByteView b) { return wire::decode_file_manifest(b); }, name);
}

void check_message(ByteView in) {
    auto v = wire::decode_file(in);
    if (!v) return;
    if (auto* o = std::get_if<wire::FileOffer>(&*v)) {
        fuzz::expect(o->key.size() <= wire::kMaxFileSealedKey, "fileOffer", "key too long");
        check_manifest(o->manifest.body, "manifest in fileOffer");
    } else if (auto* w = std::get_if<wire::FileWant>(&*v)) {
        fuzz::expect(w->chunks.size() <= wire::kMaxFileWant, "fileWant", "too many chunks");
    } else if (auto* c = std::get_if<wire::FileChunk>(&*v)) {
        fuzz::expect(c->data.size() <= wire::kMaxFileChunk + wire::kFileChunkTag, "fileChunk", "too long");
    } else if (auto* a = std::get_if<wire::FileAsk>(&*v)) {
        fuzz::expect(a->name.size() <= wire::kMaxFileName, "fileAsk", "name too long");
    } else if (auto* s = std::get_if<wire::FileShare>(&*v)) {
        check_manifest(s->manifest.body, "manifest in fileShare");
    }
    fuzz::round_trip_eq(*v, wire::encode_file, wire::decode_file, "file message");
}

void check_state(ByteView in) {
    auto s = wire::decode_file_state(in);
    if (!s) return;
    fuzz::expect(s->have.size() <= wire::kMaxFileChunks / 8 && s->path.size() <= wire::kMaxFilePath, "fileState",
                 "too long");
    fuzz::round_trip_eq(*s, [](const auto& v) { return wire::encode(v); }, wire::decode_file_state, "fileState");
}

void check_name(ByteView in) {
    const std::string_view offered(reinterpret_cast<const char*>(in.data()), in.size());
    auto n = files::safe_file_name(offered, [](const std::string& s) { return s.size() % 3 == 0; });
    if (!n) fuzz::die("safe name", n.error());
    const std::string& s = *n;
    fuzz::expect(!s.empty() && s.size() <= files::kMaxSafeName, "safe name", "length");
    fuzz::expect(s.find_first_of("/\\") == std::string::npos, "safe name", "a separator");
    fuzz::expect(s.front() != '.' && s.back() != '.' && s.back() != ' ', "safe name", "dots or spaces at an end");
    for (unsigned char c : s) fuzz::expect(c >= 0x20 && c != 0x7f, "safe name", "a control character");
    fuzz::expect(s.size() % 3 != 0, "safe name", "a name that exists");
}

void check_image(ByteView in) {
    if (auto i = files::sniff_image(in))
        fuzz::expect(i->width > 0 && i->height > 0, "image", "a size of zero");
}

// Station 0 sends station 1 a file of 9 chunks, and shares another in a group of the
// two (station 2 is not in it), which station 1 takes; after some steps the input arrives.
void machine(ByteView in) {
    fuzz::Reader r(in);
    const std::size_t steps = r.u8();
    const ByteView rest = r.rest();
    files::test::FilesNet net(3, 1);
    Bytes data(8 * 1024 + 100);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 7);
    net.offer(0, 1, "f.bin", data);
    net.run_for(100);
    auto offers = net.events_of<files::ev::Offered>(1);
    fuzz::expect(offers.size() == 1, "machine", "no offer");
    net.command(1, files::cmd::Accept{offers[0].id, "f.part", "f"});
    files::GroupId g{};
    g.fill(9);
    net.groups[g] = {0, 1};
    net.at(0).disk["g.bin"] = data;
    net.command(0, files::cmd::Share{g, net.manifest(0, "g.bin", data, 1024), "g.bin"});
    net.run_for(100);
    auto shared = net.events_of<files::ev::Announced>(1);
    fuzz::expect(shared.size() == 1, "machine", "no file shared");
    net.command(1, files::cmd::Accept{shared[0].id, "g.part", "g"});
    net.steps(steps);

    const Bytes bytes(rest.begin(), rest.end());
    net.inject(1, net.self(0).pk, bytes);  // from the sender, to the receiver
    net.inject(0, net.self(1).pk, bytes);  // from the receiver, to the sender
    net.inject(1, net.self(2).pk, bytes);  // from a stranger
    net.inject(0, net.self(2).pk, bytes);
    net.run_for(30000);
    for (std::size_t i = 0; i < 3; ++i) {
        auto v = net.m(i).transfers();
        auto under_way = std::count_if(v.begin(), v.end(), [](const auto& t) { return t.side != files::Side::holding; });
        fuzz::expect(static_cast<std::size_t>(under_way) <= files::Config{}.max_transfers, "machine", "too many transfers");
    }
    for (const auto& c : net.events_of<files::ev::Completed>(1))
        if (c.id == offers[0].id || c.id == shared[0].id)
            fuzz::expect(net.at(1).disk[c.id == offers[0].id ? "f" : "g"] == data, "machine", "a wrong file completed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = fuzz::init();
    (void)ready;
    const ByteView in(data, size);
    check_message(in);
    check_manifest(in, "fileManifest");
    check_state(in);
    check_name(in);
    check_image(in);
    machine(in);
    return 0;
}
