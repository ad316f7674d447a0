// The name a received file gets: alice's host offers files under hostile names, bob's
// session takes them with \accept and the driver's file operations (src/io/file_io.cpp)
// pick the path, in a download folder of its own. Whatever the name, the file lands
// directly in that folder, under a plain name, never over one already there.

#include <doctest/doctest.h>

#include "io/file_io.hpp"
#include "support/host_net.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace dc;
using test::HostNet;
using test::HostPeer;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/darkchat-file-io-XXXXXX";
        REQUIRE(::mkdtemp(t) != nullptr);
        path = t;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

struct Pair {
    HostNet net;
    HostPeer& alice = net.started("alice");
    HostPeer& bob = net.started("bob");
    TempDir tmp;
    std::string downloads = tmp.path + "/downloads";
    io::FileIo files;

    Pair() {
        net.link(alice, bob);
        files.set_downloads(downloads);
    }

    // alice offers 5 bytes under `name`; bob accepts; the path bob's driver chose
    // (from "* file ID will be saved as PATH"), empty when there was none.
    std::string offer_and_accept(const std::string& name) {
        std::size_t mb = bob.mark();
        net.network().input(alice, [&] {
            auto b = alice.host->manifest_builder(name, 5, "application/octet-stream");
            REQUIRE(b.add(Bytes{1, 2, 3, 4, 5}));
            REQUIRE(alice.host->offer_file(net.now(), "bob", b, tmp.path + "/source"));
        });
        net.run_for(500);
        std::string id;
        for (std::size_t i = mb; i < bob.lines.size(); ++i)
            if (bob.lines[i].rfind("* file ", 0) == 0 && bob.lines[i].find(" offered by alice") != std::string::npos)
                id = bob.lines[i].substr(7, 8);
        if (id.empty()) return {};
        const std::string prefix = "* file " + id + " will be saved as ";
        std::size_t ma = bob.mark();
        net.network().input(bob, [&] {
            bob.session->handle_line(net.now(), "\\accept " + id);
            while (auto r = bob.session->poll_file_request()) files.request(*bob.host, *bob.session, net.now(), *r);
            bob.show();
        });
        for (std::size_t i = ma; i < bob.lines.size(); ++i)
            if (bob.lines[i].rfind(prefix, 0) == 0) return bob.lines[i].substr(prefix.size());
        return {};
    }
};

bool plain(const std::string& name) {
    if (name.empty() || name[0] == '.' || name.size() > files::kMaxSafeName) return false;
    for (unsigned char c : name)
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return false;
    return true;
}

}  // namespace

TEST_CASE("a hostile file name from a peer lands in the download folder under a plain name") {
    Pair p;
    const std::vector<std::string> hostile = {
        "../../../../etc/passwd",
        "/etc/shadow",
        "..",
        "downloads/../../escape.txt",
        "CON",
        "nul.txt",
        "COM1",
        "\x1b[2J\x1b[31mred\x07.txt",
        std::string("tab\there\nnew\rline.bin"),
        "\xe2\x80\xaegnp.exe",  // a right-to-left override
        std::string(240, 'a') + ".tar.gz",
        "...",
    };
    for (const auto& name : hostile) {
        CAPTURE(name);
        const std::string path = p.offer_and_accept(name);
        REQUIRE(!path.empty());
        const std::filesystem::path fp(path);
        CHECK(fp.parent_path().string() == p.downloads);
        const std::string base = fp.filename().string();
        CHECK(plain(base));
        CHECK(base != "CON");
        CHECK(base != "COM1");
        CHECK(base.rfind("nul.", 0) != 0);
    }
    // Nothing was made outside the download folder.
    for (auto& e : std::filesystem::directory_iterator(p.tmp.path))
        CHECK((e.path().filename() == "downloads"));
}

TEST_CASE("a name already taken in the download folder gets a number, never the file that is there") {
    Pair p;
    std::filesystem::create_directories(p.downloads);
    std::ofstream(p.downloads + "/report.pdf") << "mine";
    CHECK(p.offer_and_accept("report.pdf") == p.downloads + "/report (1).pdf");
    CHECK(p.offer_and_accept("../report.pdf") == p.downloads + "/report (2).pdf");
    std::ifstream in(p.downloads + "/report.pdf");
    std::string kept;
    in >> kept;
    CHECK(kept == "mine");
}
