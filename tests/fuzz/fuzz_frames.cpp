// Fuzz target: wire::FrameReader, which splits a TCP byte stream into packets.
//
// Input: [control][chunk sizes...][stream...]. control bits 0-3 give how many chunk
// sizes follow (0: feed everything at once), bits 4-6 how many extra times the
// stream repeats (so small inputs still reach the reader's buffer compaction). The
// stream is fed in chunks of those sizes, in turn, draining next() after each feed.
//
// Checked: every packet has 1..kMaxFrame bytes; the framed packets put together are
// exactly the consumed prefix of the stream; what is left never holds a complete
// frame; the reader goes bad exactly at a length of zero or above kMaxFrame and then
// stays bad and silent; and the packets are those of a simple reference parser.

#include "fuzz_common.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

using namespace dc;

namespace {

std::uint32_t length_at(const Bytes& s, std::size_t pos) {
    return std::uint32_t{s[pos]} << 24 | std::uint32_t{s[pos + 1]} << 16 | std::uint32_t{s[pos + 2]} << 8 |
           std::uint32_t{s[pos + 3]};
}

bool bad_length(std::uint32_t n) { return n == 0 || n > wire::kMaxFrame; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Reader r(ByteView(data, size));
    const std::uint8_t control = r.u8();
    const std::size_t n_sizes = control & 15;
    const std::size_t repeats = 1 + ((control >> 4) & 7);
    const ByteView size_bytes = r.bytes(n_sizes);
    const ByteView once = r.rest();
    Bytes stream;
    for (std::size_t i = 0; i < repeats; ++i) stream.insert(stream.end(), once.begin(), once.end());

    std::vector<std::size_t> sizes(size_bytes.begin(), size_bytes.end());
    if (std::all_of(sizes.begin(), sizes.end(), [](std::size_t s) { return s == 0; })) sizes = {stream.size()};

    // The reference: frames up to the first incomplete one or the first bad length.
    std::vector<Bytes> expected;
    bool expect_bad = false;
    for (std::size_t pos = 0; stream.size() - pos >= 4;) {
        const std::uint32_t n = length_at(stream, pos);
        if (bad_length(n)) {
            expect_bad = true;
            break;
        }
        if (stream.size() - pos - 4 < n) break;
        expected.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(pos + 4),
                              stream.begin() + static_cast<std::ptrdiff_t>(pos + 4 + n));
        pos += 4 + n;
    }

    wire::FrameReader reader;
    std::vector<Bytes> got;
    std::size_t fed = 0;      // bytes of the stream fed so far
    std::size_t matched = 0;  // bytes of the stream the packets so far account for
    for (std::size_t chunk = 0; fed < stream.size(); ++chunk) {
        const std::size_t n = std::min(sizes[chunk % sizes.size()], stream.size() - fed);
        const bool was_bad = reader.bad();
        reader.feed(ByteView(stream).subspan(fed, n));
        fed += n;
        while (auto p = reader.next()) {
            fuzz::expect(!was_bad, "frames", "a packet came out of a bad stream");
            fuzz::expect(!p->empty() && p->size() <= wire::kMaxFrame, "frames", "packet size out of range");
            const Bytes framed = wire::frame(*p);
            fuzz::expect(framed.size() <= fed - matched, "frames", "packet longer than what was fed");
            fuzz::expect(std::equal(framed.begin(), framed.end(), stream.begin() + static_cast<std::ptrdiff_t>(matched)),
                         "frames", "frame(packet) is not the stream's next bytes");
            matched += framed.size();
            got.push_back(std::move(*p));
        }
        if (was_bad) fuzz::expect(reader.bad(), "frames", "bad() is not sticky");
        if (reader.bad()) {
            // It went bad exactly at a bad length that follows the last packet.
            fuzz::expect(fed - matched >= 4 && bad_length(length_at(stream, matched)), "frames",
                         "went bad without a bad length");
            fuzz::expect(!reader.next(), "frames", "next() after bad");
            continue;
        }
        fuzz::expect(reader.buffered() == fed - matched, "frames", "buffered() is not the unconsumed rest");
        if (fed - matched >= 4) {
            const std::uint32_t len = length_at(stream, matched);
            fuzz::expect(!bad_length(len), "frames", "a bad length did not make the stream bad");
            fuzz::expect(fed - matched < 4 + std::size_t{len}, "frames", "a complete frame was left buffered");
        }
    }
    fuzz::expect(reader.bad() == expect_bad, "frames", "bad() differs from the reference");
    fuzz::expect(got == expected, "frames", "packets differ from the reference");
    if (reader.bad()) {
        reader.feed(once);
        fuzz::expect(reader.bad() && !reader.next(), "frames", "a bad stream came back");
    }
    return 0;
}
