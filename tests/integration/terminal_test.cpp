// darkchat on a terminal: a real process on a pseudo-terminal (forkpty), typed
// at key by key. Tab completes a macro, ^D on an empty line quits, and a line
// typed in one run comes back with ^P (the up arrow's command) in the next,
// from input_history (mode 0600) in the data directory. A file being received shows
// its progress on one line rewritten in place, above the line being typed.
// darkchat attached to a running darkchatd edits its line the same way.
#include "harness.hpp"

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <vector>

using namespace dc::it;

namespace {

// One darkchat on its own pseudo-terminal; stopped by its pid if still running.
class OnTty {
public:
    explicit OnTty(const std::string& data_dir, std::vector<std::string> extra = {}) {
        winsize ws{};
        ws.ws_row = 30;
        ws.ws_col = 120;
        pid_ = ::forkpty(&fd_, nullptr, nullptr, &ws);
        if (pid_ < 0) throw std::runtime_error("forkpty failed");
        if (pid_ == 0) {
            ::setenv("TERM", "xterm", 1);
            ::setenv("HOME", data_dir.c_str(), 1);  // no ~/.editrc of the person running the tests
            std::string bin = darkchat_bin();
            std::vector<std::string> args = {bin, "-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", data_dir};
            args.insert(args.end(), extra.begin(), extra.end());
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(bin.c_str(), argv.data());
            ::_exit(127);
        }
    }
    ~OnTty() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }

    void type(const std::string& keys) {
        REQUIRE(::write(fd_, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size()));
    }

    // Reads what the terminal shows until text appears after from, for at most seconds.
    bool wait_for(const std::string& text, std::size_t from, int seconds = 10) {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (out_.find(text, from) == std::string::npos) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) return out_.find(text, from) != std::string::npos;  // the process is gone
            out_.append(buf, static_cast<std::size_t>(n));
        }
        return true;
    }
    std::size_t mark() const { return out_.size(); }

    // The exit status, once the process ended within seconds; -1 if it did not.
    int exit_status(int seconds = 10) {
        for (int i = 0; i < seconds * 20; ++i) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
            }
            wait_for("\x01never", out_.size(), 0);  // drain what it shows
            ::usleep(50000);
        }
        return -1;
    }
    const std::string& shown() const { return out_; }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string out_;
};

}  // namespace

TEST_CASE("on a terminal: Tab completes, ^D quits, and a typed line comes back in the next run") {
    TempDir dir;
    const std::string data = dir.sub("alice");
    const std::string refused = "! no conversation: \\history <user, group or room> [n]";
    {
        OnTty t(data);
        REQUIRE(t.wait_for("* ready: alice at 127.0.0.1:", 0));
        std::size_t m = t.mark();
        t.type("\\his\t");
        REQUIRE(t.wait_for("tory ", m));  // completed, with a space after it
        t.type("\r");
        CHECK(t.wait_for(refused, m));
        t.type("abc\x15");  // ^U: the line is gone, darkchat goes on
        t.type("\x04");     // ^D on an empty line: the end of input
        CHECK(t.exit_status() == 0);
    }
    struct stat st{};
    REQUIRE(::stat((data + "/input_history").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    {
        OnTty t(data);
        REQUIRE(t.wait_for("* ready: alice at 127.0.0.1:", 0));
        std::size_t m = t.mark();
        t.type("\x10\r");  // ^P: the line typed last time, entered again
        CHECK(t.wait_for(refused, m));
        t.type("\x04");
        CHECK(t.exit_status() == 0);
    }
}

TEST_CASE("on a terminal: a file being received shows one progress line, rewritten in place") {
    Net net;
    net.start("bob", Net::Opts{.server = false});
    Proc& bob = net.proc("bob");
    const std::string downloads = net.tmp.sub("alice-dl");
    OnTty t(net.tmp.sub("alice"), {"--downloads", downloads});
    REQUIRE(t.wait_for("* ready: alice at 127.0.0.1:", 0));
    std::size_t m = t.mark(), mb = bob.mark();
    t.type("\\ping 127.0.0.1 " + std::to_string(net["bob"].port()) + "\r");
    t.type("\\add bob\r");
    REQUIRE(t.wait_for("* online bob ", m));
    bob.wait_for(exactly("* alice linked you"), 10, mb);
    bob.send("\\add alice");
    bob.send("\\chat alice");
    // Large enough to be under way for a few progress turns of 500 ms.
    const std::string src = net.tmp.sub("big.bin");
    {
        std::string data(256 * 1024 * 1024, '\0');
        for (std::size_t i = 0; i < data.size(); i += 4096) data[i] = static_cast<char>(i >> 12);
        std::ofstream(src, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
    }
    m = t.mark();
    bob.send("\\send " + src);
    REQUIRE(t.wait_for(" offered by bob: big.bin", m, 30));
    const std::size_t at = t.shown().find("* file ", m);
    REQUIRE(at != std::string::npos);
    const std::string id = t.shown().substr(at + 7, 8);
    m = t.mark();
    t.type("\\accept " + id + "\r");
    REQUIRE(t.wait_for("~ file " + id + " big.bin ", m, 30));
    REQUIRE(t.wait_for("* file " + id + " received from bob: ", m, 120));
    const std::string shown = t.shown().substr(m);
    // Between two progress lines the screen from the line's start down was cleared
    // (ESC [ J), so each one replaces the last rather than adding a line below it.
    std::size_t lines = 0, last = std::string::npos;
    for (std::size_t p = shown.find("~ file " + id); p != std::string::npos; p = shown.find("~ file " + id, p + 1)) {
        ++lines;
        if (last != std::string::npos) CHECK(shown.find("\033[J", last) < p);
        last = p;
    }
    CHECK(lines >= 1);
    t.type("\x04");
    CHECK(t.exit_status() == 0);
}

TEST_CASE("attached on a terminal to a running node: Tab completes, the typed line goes to the node, ^P brings it back") {
    TempDir dir;
    const std::string data = dir.sub("alice");
    Proc node("darkchatd[alice]", {darkchatd_bin(), "-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", data},
              {"HOME=" + dir.path()});
    node.wait_for(re("\\* ready: alice at 127\\.0\\.0\\.1:"), 10);
    const std::string refused = "! no conversation: \\history <user, group or room> [n]";
    for (int run = 0; run < 2; ++run) {
        OnTty t(data);
        REQUIRE(t.wait_for("* attached to the running node of alice", 0));
        std::size_t m = t.mark();
        if (run == 0) {
            t.type("\\his\t");
            REQUIRE(t.wait_for("tory ", m));  // completed on the attached terminal too
            t.type("\r");
        } else {
            t.type("\x10\r");  // ^P: the line typed in the first attachment
        }
        CHECK(t.wait_for(refused, m));  // the node's session answered it
        t.type("\x04");                 // ^D: detached
        CHECK(t.exit_status() == 0);
    }
    CHECK(node.running());  // detaching leaves the node running
    node.kill(SIGTERM);
    CHECK(node.expect_exit(10) == 0);
}
