// Keys at rest, as a user meets them: the built darkchat binary (DARKCHAT_BIN)
// run with a temporary --data-dir, the passphrase in DARKCHAT_PASSPHRASE or
// typed on a pseudo-terminal. Every child runs in a session of its own, so it
// has no controlling terminal unless the test gives it one.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

std::string darkchat_bin() {
    const char* p = std::getenv("DARKCHAT_BIN");
    REQUIRE_MESSAGE(p != nullptr, "DARKCHAT_BIN must name the darkchat binary (tests/meson.build sets it)");
    return p;
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/darkchat-keys-test-XXXXXX";
        char* p = ::mkdtemp(tmpl);
        REQUIRE(p != nullptr);
        path = p;
    }
    ~TempDir() {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path, ec);
    }
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

unsigned mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// Every file in a directory with its bytes: "nothing changed" means equal.
std::map<std::string, std::string> files_in(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = read_file(e.path().string());
    return out;
}

std::optional<std::string> from_hex(const std::string& hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        char* end = nullptr;
        std::string byte = hex.substr(i, 2);
        long v = std::strtol(byte.c_str(), &end, 16);
        if (end != byte.c_str() + 2) return std::nullopt;
        out.push_back(static_cast<char>(v));
    }
    return out;
}

// A line typed on the terminal once the prompt before it has been shown.
struct TtyExchange {
    std::string prompt;
    std::string reply;  // sent with a newline
};

struct Run {
    int status = -1;  // exit status, or -1 when killed
    std::string out, err;
    std::string tty;  // what the child wrote to its terminal
};

// Runs darkchat with args; env holds the DARKCHAT_* variables to set (any
// others inherited are removed). Standard input is /dev/null; with tty, the
// child gets a pseudo-terminal as its controlling terminal and the exchanges
// are typed on it.
Run run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
        const std::optional<std::vector<TtyExchange>>& tty = std::nullopt) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        if (std::strncmp(*e, "DARKCHAT_", 9) != 0) env_strings.emplace_back(*e);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> argv_strings{darkchat_bin()};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int out_pipe[2], err_pipe[2];
    REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    int master = -1;
    std::string slave_name;
    if (tty) {
        master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        REQUIRE(master >= 0);
        REQUIRE(::grantpt(master) == 0);
        REQUIRE(::unlockpt(master) == 0);
        slave_name = ::ptsname(master);
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    // Opened after setsid() and without O_NOCTTY: it becomes the controlling terminal.
    if (tty) posix_spawn_file_actions_addopen(&fa, 3, slave_name.c_str(), O_RDWR, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    REQUIRE_MESSAGE(rc == 0, "cannot run " << argv[0] << ": " << std::strerror(rc));

    Run r;
    std::size_t next_exchange = 0;
    std::size_t tty_seen = 0;  // where the next prompt is looked for
    int fds[3] = {out_pipe[0], err_pipe[0], master};
    std::string* sinks[3] = {&r.out, &r.err, &r.tty};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool killed = false;
    while (fds[0] >= 0 || fds[1] >= 0) {
        pollfd p[3];
        for (int i = 0; i < 3; ++i) p[i] = pollfd{fds[i], POLLIN, 0};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        ::poll(p, 3, static_cast<int>(left.count()));
        for (int i = 0; i < 3; ++i) {
            if (fds[i] < 0 || p[i].revents == 0) continue;
            char buf[4096];
            ssize_t n = ::read(fds[i], buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {  // a pty master reads EIO once the child is gone
                if (i < 2) ::close(fds[i]);
                fds[i] = -1;
            }
        }
        if (tty && next_exchange < tty->size()) {
            const TtyExchange& x = (*tty)[next_exchange];
            auto at = r.tty.find(x.prompt, tty_seen);
            if (at != std::string::npos) {
                tty_seen = at + x.prompt.size();
                std::string line = x.reply + "\n";
                REQUIRE(::write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
                ++next_exchange;
            }
        }
    }
    for (int i = 0; i < 2; ++i) {
        if (fds[i] >= 0) ::close(fds[i]);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (master >= 0) {
        char buf[4096];
        ssize_t n;
        while (fds[2] >= 0 && (n = ::read(master, buf, sizeof buf)) > 0) r.tty.append(buf, static_cast<std::size_t>(n));
        ::close(master);
    }
    CHECK_FALSE_MESSAGE(killed, "darkchat did not finish within 60 s; stderr: " << r.err);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// A node that starts, says it is ready and ends at the end of its (empty) input.
std::vector<std::string> start_args(const std::string& dir) {
    return {"-p", "0", "--bind", "127.0.0.1", "--data-dir", dir};
}

void check_ready(const Run& r, const std::string& user) {
    CHECK_MESSAGE(r.status == 0, "stderr: " << r.err);
    CHECK_MESSAGE(r.out.find("* ready: " + user + " at 127.0.0.1:") != std::string::npos, "stdout: " << r.out);
}

// The plain secret key, as --export-identity writes it.
std::string exported_key(const std::string& dir, const std::string& file,
                         const std::map<std::string, std::string>& env = {}) {
    Run r = run({"--export-identity", file, "--data-dir", dir}, env);
    REQUIRE_MESSAGE(r.status == 0, "stderr: " << r.err);
    std::string text = read_file(file);
    auto at = text.find("\nsecret ");
    REQUIRE(at != std::string::npos);
    auto key = from_hex(text.substr(at + 8, 128));
    REQUIRE(key.has_value());
    REQUIRE(key->size() == 64);
    fs::remove(file);
    return *key;
}

const std::string kLocked =
    "darkchat: the identity of alice is protected by a passphrase: set DARKCHAT_PASSPHRASE or run on a terminal\n";

}  // namespace

TEST_CASE("a passphrase from DARKCHAT_PASSPHRASE protects the key at rest") {
    TempDir tmp;
    std::string dir = tmp.path + "/alice";
    Run first = run({"-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir});
    check_ready(first, "alice");
    std::string key = exported_key(dir, tmp.path + "/id.txt");
    std::string db = dir + "/darkchat.db";
    REQUIRE(read_file(db).find(key) != std::string::npos);  // stored plain so far

    Run set = run({"--set-passphrase", "--data-dir", dir}, {{"DARKCHAT_PASSPHRASE", "correct horse"}});
    CHECK_MESSAGE(set.status == 0, "stderr: " << set.err);
    CHECK(set.out == "the key of alice is now protected by a passphrase\n");
    CHECK(set.err.empty());
    auto sealed = files_in(dir);
    CHECK(sealed.size() == 2);  // darkchat.db and its empty lock: the journal is checkpointed and gone
    CHECK(sealed["lock"].empty());
    CHECK(sealed["darkchat.db"].find(key) == std::string::npos);
    CHECK(sealed["darkchat.db"].find(key.substr(0, 32)) == std::string::npos);  // nor its seed
    CHECK(mode_of(db) == 0600);

    SUBCASE("the right passphrase starts the node") {
        Run r = run(start_args(dir), {{"DARKCHAT_PASSPHRASE", "correct horse"}});
        check_ready(r, "alice");
        CHECK(r.err.empty());
        CHECK(r.tty.empty());
    }
    SUBCASE("a wrong passphrase: one line, exit status 1, the database unchanged") {
        Run r = run(start_args(dir), {{"DARKCHAT_PASSPHRASE", "correct horsE"}});
        CHECK(r.status == 1);
        CHECK(r.err == "darkchat: wrong passphrase for alice\n");
        CHECK(r.out.empty());
        CHECK(files_in(dir) == sealed);
    }
    SUBCASE("no passphrase and no terminal: a clear error, the database unchanged") {
        Run r = run(start_args(dir));
        CHECK(r.status == 1);
        CHECK(r.err == kLocked);
        CHECK(r.out.empty());
        CHECK(files_in(dir) == sealed);
    }
    SUBCASE("--export-identity needs the passphrase, then writes the plain key") {
        std::string file = tmp.path + "/id2.txt";
        Run refused = run({"--export-identity", file, "--data-dir", dir});
        CHECK(refused.status == 1);
        CHECK(refused.err == kLocked);
        CHECK_FALSE(fs::exists(file));
        Run wrong = run({"--export-identity", file, "--data-dir", dir}, {{"DARKCHAT_PASSPHRASE", "nope"}});
        CHECK(wrong.status == 1);
        CHECK(wrong.err == "darkchat: wrong passphrase for alice\n");
        CHECK_FALSE(fs::exists(file));
        CHECK(exported_key(dir, file, {{"DARKCHAT_PASSPHRASE", "correct horse"}}) == key);
        CHECK(files_in(dir) == sealed);
    }
}

TEST_CASE("a passphrase can be changed and removed, never by a wrong one") {
    TempDir tmp;
    std::string dir = tmp.path + "/alice";
    check_ready(run({"-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir}), "alice");
    std::string key = exported_key(dir, tmp.path + "/id.txt");
    REQUIRE(run({"--set-passphrase", "--data-dir", dir}, {{"DARKCHAT_PASSPHRASE", "one"}}).status == 0);
    auto with_one = files_in(dir);

    // The new passphrase of a protected key comes from DARKCHAT_NEW_PASSPHRASE.
    Run no_new = run({"--set-passphrase", "--data-dir", dir}, {{"DARKCHAT_PASSPHRASE", "one"}});
    CHECK(no_new.status == 1);
    CHECK(no_new.err == "darkchat: no terminal to ask for the new passphrase of alice: set DARKCHAT_NEW_PASSPHRASE\n");
    Run wrong = run({"--set-passphrase", "--data-dir", dir},
                    {{"DARKCHAT_PASSPHRASE", "two"}, {"DARKCHAT_NEW_PASSPHRASE", "three"}});
    CHECK(wrong.status == 1);
    CHECK(wrong.err == "darkchat: wrong passphrase for alice\n");
    Run empty = run({"--set-passphrase", "--data-dir", dir},
                    {{"DARKCHAT_PASSPHRASE", "one"}, {"DARKCHAT_NEW_PASSPHRASE", ""}});
    CHECK(empty.status == 1);
    CHECK(empty.err ==
          "darkchat: the passphrase is empty; nothing was changed (--remove-passphrase stores the key unencrypted)\n");
    CHECK(files_in(dir) == with_one);

    Run change = run({"--set-passphrase", "--data-dir", dir},
                     {{"DARKCHAT_PASSPHRASE", "one"}, {"DARKCHAT_NEW_PASSPHRASE", "two"}});
    CHECK_MESSAGE(change.status == 0, "stderr: " << change.err);
    CHECK(change.out == "the key of alice is now sealed with the new passphrase\n");
    CHECK(run(start_args(dir), {{"DARKCHAT_PASSPHRASE", "one"}}).err == "darkchat: wrong passphrase for alice\n");
    check_ready(run(start_args(dir), {{"DARKCHAT_PASSPHRASE", "two"}}), "alice");

    Run remove_wrong = run({"--remove-passphrase", "--data-dir", dir}, {{"DARKCHAT_PASSPHRASE", "one"}});
    CHECK(remove_wrong.status == 1);
    CHECK(remove_wrong.err == "darkchat: wrong passphrase for alice\n");
    Run remove = run({"--remove-passphrase", "--data-dir", dir}, {{"DARKCHAT_PASSPHRASE", "two"}});
    CHECK_MESSAGE(remove.status == 0, "stderr: " << remove.err);
    CHECK(remove.out == "the key of alice is now stored unencrypted\n");
    CHECK(read_file(dir + "/darkchat.db").find(key) != std::string::npos);
    check_ready(run(start_args(dir)), "alice");
    Run again = run({"--remove-passphrase", "--data-dir", dir});
    CHECK(again.status == 0);
    CHECK(again.out == "the key of alice has no passphrase\n");
    CHECK(exported_key(dir, tmp.path + "/id.txt") == key);  // the same identity throughout

    Run both = run({"--set-passphrase", "--remove-passphrase", "--data-dir", dir});
    CHECK(both.status == 1);
    CHECK(both.err ==
          "darkchat: --set-passphrase and --remove-passphrase exclude each other (darkchat --help lists the options)\n");
}

TEST_CASE("with --set-passphrase on the first run the key is never stored unencrypted") {
    TempDir tmp;
    std::string dir = tmp.path + "/alice";
    Run r = run({"-u", "alice", "--set-passphrase", "--data-dir", dir}, {{"DARKCHAT_PASSPHRASE", "pw"}});
    CHECK_MESSAGE(r.status == 0, "stderr: " << r.err);
    CHECK(r.out == "the key of alice is now protected by a passphrase\n");
    CHECK(r.err.rfind("darkchat: new identity for alice in " + dir, 0) == 0);
    CHECK(run(start_args(dir)).err == kLocked);
    std::string key = exported_key(dir, tmp.path + "/id.txt", {{"DARKCHAT_PASSPHRASE", "pw"}});
    CHECK(read_file(dir + "/darkchat.db").find(key.substr(0, 32)) == std::string::npos);
    check_ready(run(start_args(dir), {{"DARKCHAT_PASSPHRASE", "pw"}}), "alice");
}

TEST_CASE("on a terminal the passphrase is asked for with echo off") {
    TempDir tmp;
    std::string dir = tmp.path + "/alice";
    check_ready(run({"-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir}), "alice");

    SUBCASE("--set-passphrase asks twice, and a mismatch changes nothing") {
        auto before = files_in(dir);
        Run differ = run({"--set-passphrase", "--data-dir", dir}, {},
                         std::vector<TtyExchange>{{"new passphrase for alice: ", "secret one"},
                                                  {"new passphrase again: ", "secret two"}});
        CHECK(differ.status == 1);
        CHECK(differ.err == "darkchat: the passphrases differ; nothing was changed\n");
        CHECK(files_in(dir) == before);
    }

    Run set = run({"--set-passphrase", "--data-dir", dir}, {},
                  std::vector<TtyExchange>{{"new passphrase for alice: ", "tty secret"},
                                           {"new passphrase again: ", "tty secret"}});
    CHECK_MESSAGE(set.status == 0, "stderr: " << set.err);
    CHECK(set.tty.find("tty secret") == std::string::npos);

    Run start = run(start_args(dir), {}, std::vector<TtyExchange>{{"passphrase for alice: ", "tty secret"}});
    check_ready(start, "alice");
    CHECK(start.tty.find("passphrase for alice: ") != std::string::npos);
    CHECK(start.tty.find("tty secret") == std::string::npos);  // not echoed

    Run wrong = run(start_args(dir), {}, std::vector<TtyExchange>{{"passphrase for alice: ", "tty secreT"}});
    CHECK(wrong.status == 1);
    CHECK(wrong.err == "darkchat: wrong passphrase for alice\n");

    // DARKCHAT_PASSPHRASE, when set, is used without asking.
    Run env = run(start_args(dir), {{"DARKCHAT_PASSPHRASE", "tty secret"}}, std::vector<TtyExchange>{});
    check_ready(env, "alice");
    CHECK(env.tty.empty());
}

TEST_CASE("the data directory is made owner-only; a shared one is warned about, not changed") {
    TempDir tmp;
    std::string dir = tmp.path + "/a/b/alice";
    // A umask that would leave the directories without write permission if
    // darkchat relied on it.
    mode_t old_umask = ::umask(0277);
    Run r = run({"-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir});
    ::umask(old_umask);
    check_ready(r, "alice");
    CHECK(mode_of(tmp.path + "/a") == 0700);
    CHECK(mode_of(tmp.path + "/a/b") == 0700);
    CHECK(mode_of(dir) == 0700);
    CHECK(mode_of(dir + "/darkchat.db") == 0600);

    REQUIRE(::chmod(dir.c_str(), 0750) == 0);
    Run shared = run(start_args(dir));
    check_ready(shared, "alice");
    CHECK(shared.err == "darkchat: warning: " + dir + " is open to group or others (mode 0750); chmod 700 " + dir + "\n");
    CHECK(mode_of(dir) == 0750);

    REQUIRE(::chmod(dir.c_str(), 0700) == 0);
    REQUIRE(::chmod((dir + "/darkchat.db").c_str(), 0644) == 0);
    Run db = run(start_args(dir));
    check_ready(db, "alice");
    CHECK(db.err == "darkchat: warning: " + dir + "/darkchat.db is open to group or others (mode 0644); chmod 600 " +
                        dir + "/darkchat.db\n");
    CHECK(mode_of(dir + "/darkchat.db") == 0644);
}
