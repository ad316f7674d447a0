// The wire format does not change by accident: today's encoders write exactly the
// bytes recorded in tests/unit/wire_golden/ (by wire_golden_gen, before the encoders
// were last rewritten), the recorded bytes decode and encode again to themselves, and
// every decoder accepts and rejects (with the same message) exactly what it did, on
// mutations of those bytes and on the committed fuzz corpus.

#include "wire_golden_cases.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace dc;
using namespace dc::wire::golden;

namespace {

const std::filesystem::path kGoldenDir = WIRE_GOLDEN_DIR;
const std::filesystem::path kCorpusDir = FUZZ_CORPUS_DIR;

std::vector<std::string> read_lines(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) out.push_back(l);
    return out;
}

// The first word of each line ("<name> ..."), to say which line differs.
std::string first_word(const std::string& l) { return l.substr(0, l.find(' ')); }

void check_same(const std::vector<std::string>& now, const std::vector<std::string>& recorded) {
    REQUIRE(!recorded.empty());
    CHECK(now.size() == recorded.size());
    for (std::size_t i = 0; i < std::min(now.size(), recorded.size()); ++i) {
        INFO("line ", i + 1, ": ", first_word(recorded[i]));
        CHECK(first_word(now[i]) == first_word(recorded[i]));
        CHECK(now[i] == recorded[i]);
    }
}

// Runs each line of a messages record through its decoder: check(name, codec, hex, bytes, outcome).
template <typename Check>
void each_recorded(const std::filesystem::path& file, std::size_t min_lines, Check check) {
    const auto lines = read_lines(file);
    REQUIRE(lines.size() > min_lines);
    for (const auto& l : lines) {
        std::istringstream in(l);
        std::string name, codec, hex;
        in >> name >> codec >> hex;
        INFO(name);
        const Codec* c = find_codec(codec);
        REQUIRE(c != nullptr);
        const auto bytes = from_hex(hex);
        REQUIRE(bytes.has_value());
        check(name, codec, hex, *bytes, c->run(*bytes));
    }
}

}  // namespace

TEST_CASE("every message type encodes to the recorded bytes") {
    check_same(message_lines(), read_lines(kGoldenDir / "messages.hex"));
}

TEST_CASE("the recorded bytes decode and encode again to themselves") {
    each_recorded(kGoldenDir / "messages.hex", 90, [](const std::string& name, const std::string& codec,
                                                     const std::string& hex, const Bytes& bytes, const std::string& out) {
        if (codec == "packet") {
            CHECK(out.rfind("A ", 0) == 0);
            // The header and the packet reassembled: the packet is header + signature.
            const auto reassembled = from_hex(out.substr(out.rfind(' ') + 1));
            REQUIRE(reassembled.has_value());
            CHECK(*reassembled == bytes);
        } else if (out.rfind("E ", 0) == 0) {
            // Only a default value may fail: its empty user names are not valid names.
            CHECK(name.ends_with("_default"));
            CHECK(out.ends_with("invalid " + out.substr(out.rfind(' ') + 1)));
        } else {
            CHECK(out == "A " + hex);
        }
    });
}

TEST_CASE("every decoder accepts and rejects the recorded bytes cut short or changed as it did") {
    check_same(mutation_lines(), read_lines(kGoldenDir / "mutations.txt"));
}

TEST_CASE("every decoder treats each file of the fuzz corpus as it did") {
    const auto now = corpus_lines(kCorpusDir);
    CHECK(now.size() > 500);
    check_same(now, read_lines(kGoldenDir / "corpus.txt"));
}

// The session channels' forms, recorded apart (wire_golden_cases.hpp).

TEST_CASE("the session channels' forms encode to the recorded bytes") {
    check_same(message_lines(true), read_lines(kGoldenDir / "channel.hex"));
}

TEST_CASE("the recorded channel forms decode and encode again to themselves") {
    each_recorded(kGoldenDir / "channel.hex", 10, [](const std::string&, const std::string& codec, const std::string& hex,
                                                     const Bytes&, const std::string& out) {
        if (codec == "packet") CHECK(out.ends_with(" " + hex));
        else CHECK(out == "A " + hex);
    });
}

TEST_CASE("every decoder treats the channel forms cut short or changed as it did") {
    check_same(mutation_lines(true), read_lines(kGoldenDir / "channel_mutations.txt"));
}

TEST_CASE("every decoder treats each channel file of the fuzz corpus as it did") {
    const auto now = corpus_lines(kCorpusDir, true);
    CHECK(now.size() >= 19);
    check_same(now, read_lines(kGoldenDir / "channel_corpus.txt"));
}
