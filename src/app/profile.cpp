// Start-up shared by darkchat and darkchatd: the data directory, the database,
// the identity (made on first run, or imported for a second device; its secret
// key opened with a passphrase when it is protected by one), then the loop.
#include "app.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/io.hpp"
#include "darkchat/store.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dc::app {

namespace {

// Creates missing directories owner-only (0700 whatever the umask); existing
// ones are left as they are. True when it made the last one, path itself.
Result<bool> make_dirs(const std::string& path) {
    bool made = false;
    std::string cur;
    std::stringstream ss(path);
    std::string part;
    if (!path.empty() && path[0] == '/') cur = "/";
    while (std::getline(ss, part, '/')) {
        if (part.empty()) continue;
        cur += part + "/";
        if (::mkdir(cur.c_str(), 0700) == 0) {
            made = true;
            if (::chmod(cur.c_str(), 0700) != 0) return err("cannot chmod " + cur + ": " + std::strerror(errno));
        } else if (errno != EEXIST) {
            return err("cannot create " + cur + ": " + std::strerror(errno));
        } else {
            made = false;
        }
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return err(path + " is not a directory");
    return made;
}

// Whether a running node holds dir's lock (see DirLock), without taking it or
// creating anything.
bool lock_holder(const std::string& dir) {
    int fd = ::open((dir + "/lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    bool held = ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    ::close(fd);
    return held;
}

// One node per data directory: a POSIX write lock on DIR/lock, taken before
// the database is opened and held until the process ends (the kernel drops it
// then, after kill -9 too, so a stale file never blocks). A second start is
// told the holder's pid, as the kernel reports it; the file itself stays
// empty, so that holding it writes nothing. A start refused before its database was
// opened removes the lock file and the directory it made, so that it leaves
// nothing behind.
class DirLock {
public:
    DirLock() = default;
    ~DirLock() {
        if (fd_ < 0) return;
        if (remove_) {
            ::unlink(path_.c_str());  // still locked: a start that opened it meanwhile sees it gone and retries
            if (dir_made_) ::rmdir(dir_.c_str());
        }
        ::close(fd_);
    }
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;

    Result<void> acquire(const std::string& dir, bool dir_made) {
        dir_ = dir;
        dir_made_ = dir_made;
        path_ = dir + "/lock";
        for (int attempt = 0; attempt < 8; ++attempt) {
            bool created = true;
            int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0 && errno == EEXIST) {
                created = false;
                fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 && errno == ENOENT) continue;  // removed meanwhile
            }
            if (fd < 0) {
                int e = errno;
                if (e == EROFS || e == EACCES || e == EPERM)
                    return err(dir + " is read-only (" + std::strerror(e) + "): darkchat needs to write there");
                if (e == ENOSPC || e == EDQUOT)
                    return err("disk full: cannot create " + path_ + "; free some space and start again");
                return err("cannot open " + path_ + ": " + std::strerror(e));
            }
            struct flock want {};
            want.l_type = F_WRLCK;
            want.l_whence = SEEK_SET;
            if (::fcntl(fd, F_SETLK, &want) != 0) {
                int e = errno;
                if (e != EACCES && e != EAGAIN) {
                    ::close(fd);
                    return err("cannot lock " + path_ + ": " + std::strerror(e));
                }
                struct flock held = want;
                bool known = ::fcntl(fd, F_GETLK, &held) == 0;
                ::close(fd);
                if (known && held.l_type == F_UNLCK) continue;  // the holder just ended
                // l_pid is 0 when the holder is in another pid namespace.
                std::string who = known && held.l_pid > 0 ? "process " + std::to_string(held.l_pid) : "another process";
                return err(dir + " is in use by " + who + " (one node per data directory)");
            }
            // A start that gave up may have removed the file between our open and our lock.
            struct stat mine {}, named {};
            if (::fstat(fd, &mine) != 0 || ::stat(path_.c_str(), &named) != 0 || mine.st_ino != named.st_ino ||
                mine.st_dev != named.st_dev) {
                ::close(fd);
                continue;
            }
            fd_ = fd;
            remove_ = created;
            return {};
        }
        return err("cannot lock " + path_ + ": it keeps being replaced");
    }

    // The database opened: the lock file stays (empty; the kernel knows the holder).
    void keep() { remove_ = false; }

private:
    int fd_ = -1;
    bool remove_ = false;
    bool dir_made_ = false;
    std::string path_, dir_;
};

// One line on stderr when others may read what holds the secret key. Said, not
// changed: the owner may have reasons.
void warn_if_shared(const char* prog, const std::string& path, bool dir) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return;
    std::fprintf(stderr, "%s: warning: %s is open to group or others (mode %04o); chmod %s %s\n", prog, path.c_str(),
                 static_cast<unsigned>(st.st_mode & 07777), dir ? "700" : "600", path.c_str());
}

Result<std::string> data_dir(const Options& o, const std::string& user) {
    if (!o.data_dir.empty()) return o.data_dir;
    if (user.empty()) return err("-u <username> is needed (or --data-dir of an existing profile)");
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/darkchat/" + user;
    const char* home = std::getenv("HOME");
    if (!home || !*home) return err("neither XDG_DATA_HOME nor HOME is set: use --data-dir");
    return std::string(home) + "/.local/share/darkchat/" + user;
}

Result<Addr> resolve(const std::string& host, std::uint16_t port) {
    if (auto a = Addr::parse(host, port)) return *a;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || !res) return err("cannot resolve '" + host + "': " + gai_strerror(rc));
    Addr a;
    if (res->ai_family == AF_INET) {
        a.family = 4;
        std::memcpy(a.ip.data(), &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, 4);
    } else {
        a.family = 6;
        std::memcpy(a.ip.data(), &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, 16);
    }
    a.port = port;
    ::freeaddrinfo(res);
    return a;
}

// The exported identity: three text lines; the file is written owner-only.
// The token that opens the web page (darkchat-api(7)): 32 random bytes in hex,
// made once (mode 0600) and kept, so a bookmarked address keeps working.
Result<std::string> web_token(const std::string& path) {
    std::ifstream in(path);
    std::string token;
    if (in && std::getline(in, token) && token.size() == 64 &&
        token.find_first_not_of("0123456789abcdef") == std::string::npos)
        return token;
    std::array<std::uint8_t, 32> raw{};
    crypto::random_bytes(raw);
    token = to_hex(raw);
    std::string tmp = path + ".new";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return err("cannot write " + tmp + ": " + std::strerror(errno));
    std::string line = token + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return err("cannot write " + path + ": " + std::strerror(errno));
    }
    return token;
}

Result<void> export_identity(const Identity& id, const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return err("cannot create " + path + ": " + std::strerror(errno) + " (it must not exist yet)");
    std::string text = "darkchat-identity 1\nuser " + id.user + "\nsecret " + to_hex(id.sk) + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok) return err("cannot write " + path);
    return {};
}

Result<Identity> read_identity_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return err("cannot read " + path + ": " + std::strerror(errno));
    std::string magic, user_kw, user, secret_kw, secret;
    std::getline(in, magic);
    in >> user_kw >> user >> secret_kw >> secret;
    if (magic != "darkchat-identity 1" || user_kw != "user" || secret_kw != "secret")
        return err(path + " is not a darkchat identity file");
    auto sk = from_hex(secret);
    if (!valid_user_name(user) || !sk || sk->size() != 64) return err(path + " holds a damaged identity");
    Identity id;
    id.user = user;
    std::copy(sk->begin(), sk->end(), id.sk.begin());
    std::copy(sk->begin() + 32, sk->end(), id.pk.begin());  // Ed25519 secret key = seed || public key
    crypto::wipe(*sk);
    return id;
}

// A passphrase in one fixed buffer, wiped when it goes away.
class Passphrase {
public:
    static constexpr std::size_t kMax = 1024;
    Passphrase() = default;
    ~Passphrase() { clear(); }
    Passphrase(const Passphrase&) = delete;
    Passphrase& operator=(const Passphrase&) = delete;

    bool assign(std::string_view s) {
        clear();
        if (s.size() > kMax) return false;
        std::copy(s.begin(), s.end(), buf_.begin());
        len_ = s.size();
        return true;
    }
    bool push(char c) {
        if (len_ == kMax) return false;
        buf_[len_++] = c;
        return true;
    }
    void drop_last() {
        if (len_ > 0) buf_[--len_] = 0;
    }
    void clear() {
        crypto::wipe(std::span(reinterpret_cast<std::uint8_t*>(buf_.data()), buf_.size()));
        len_ = 0;
    }
    std::string_view view() const { return {buf_.data(), len_}; }

private:
    std::array<char, kMax> buf_{};
    std::size_t len_ = 0;
};

// Echo is turned back on if a signal ends the program while a passphrase is typed.
int g_echo_fd = -1;
termios g_echo_saved{};

void restore_echo_and_die(int sig) {
    ::tcsetattr(g_echo_fd, TCSAFLUSH, &g_echo_saved);  // async-signal-safe, as are the calls below
    ssize_t ignored = ::write(g_echo_fd, "\n", 1);
    (void)ignored;
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

// The controlling terminal (/dev/tty), which a process run from a pipe may
// still have; a daemon or a detached process has none.
class Terminal {
public:
    Terminal() : fd_(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) {}
    ~Terminal() {
        if (fd_ >= 0) ::close(fd_);
    }
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;
    bool present() const { return fd_ >= 0; }

    // Shows prompt and reads one line with echo off.
    Result<void> ask(const std::string& prompt, Passphrase& out) {
        out.clear();
        termios saved{};
        if (::tcgetattr(fd_, &saved) != 0) return err(std::string("cannot use the terminal: ") + std::strerror(errno));
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL);

        g_echo_fd = fd_;
        g_echo_saved = saved;
        constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
        struct sigaction sa {}, old[std::size(kSignals)];
        sa.sa_handler = restore_echo_and_die;
        sigemptyset(&sa.sa_mask);
        for (std::size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &sa, &old[i]);
        auto restore_signals = [&] {
            for (std::size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &old[i], nullptr);
        };
        if (::tcsetattr(fd_, TCSAFLUSH, &quiet) != 0) {
            int e = errno;
            restore_signals();
            return err(std::string("cannot turn off echo on the terminal: ") + std::strerror(e));
        }

        bool written = ::write(fd_, prompt.data(), prompt.size()) == static_cast<ssize_t>(prompt.size());
        bool too_long = false;
        int read_errno = 0;
        char c = 0;
        while (written) {
            ssize_t n = ::read(fd_, &c, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) read_errno = errno;
            if (n <= 0 || c == '\n') break;  // end of line, or end of input (^D)
            if (!out.push(c)) too_long = true;
        }
        c = 0;
        ::tcsetattr(fd_, TCSAFLUSH, &saved);
        ssize_t ignored = ::write(fd_, "\n", 1);  // the newline that was not echoed
        (void)ignored;
        restore_signals();

        if (!written) return err("cannot write to the terminal");
        if (read_errno != 0) return err(std::string("cannot read the terminal: ") + std::strerror(read_errno));
        if (too_long) {
            out.clear();
            return err("the passphrase is longer than " + std::to_string(Passphrase::kMax) + " bytes");
        }
        if (!out.view().empty() && out.view().back() == '\r') out.drop_last();
        return {};
    }

private:
    int fd_;
};

// The passphrase from the environment variable var, if it is set.
Result<bool> passphrase_from_env(const char* var, Passphrase& out) {
    const char* v = std::getenv(var);
    if (v == nullptr) return false;
    if (!out.assign(v)) return err(std::string(var) + " is longer than " + std::to_string(Passphrase::kMax) + " bytes");
    return true;
}

// Opens the sealed secret key of id with its passphrase (DARKCHAT_PASSPHRASE,
// or asked for on the terminal). On success id holds the plain key and no
// sealed one. Writes nothing.
Result<void> unlock(Identity& id) {
    if (auto limits = crypto::sealed_secret_limits(*id.sk_sealed); !limits)
        return err("the key of " + id.user + " cannot be opened: " + limits.error());
    Passphrase pw;
    auto from_env = passphrase_from_env(kPassphraseEnv, pw);
    if (!from_env) return err(from_env.error());
    if (!*from_env) {
        Terminal tty;
        if (!tty.present()) {
            return err("the identity of " + id.user + " is protected by a passphrase: set " + kPassphraseEnv +
                       " or run on a terminal");
        }
        if (auto r = tty.ask("passphrase for " + id.user + ": ", pw); !r) return r;
    }
    auto secret = crypto::open_secret(*id.sk_sealed, pw.view());
    if (!secret) return err("wrong passphrase for " + id.user);
    // An Ed25519 secret key ends with its public key.
    bool matches = secret->size() == id.sk.size() && std::equal(id.pk.begin(), id.pk.end(), secret->begin() + 32);
    if (matches) std::copy(secret->begin(), secret->end(), id.sk.begin());
    crypto::wipe(*secret);
    if (!matches) return err("the sealed key of " + id.user + " does not belong to its public key");
    id.sk_sealed.reset();
    return {};
}

// The new passphrase for --set-passphrase: DARKCHAT_NEW_PASSPHRASE; else, for
// a key without one yet, DARKCHAT_PASSPHRASE; else asked for twice on the terminal.
Result<void> new_passphrase(const std::string& user, bool changing, Passphrase& out) {
    auto env = passphrase_from_env(kNewPassphraseEnv, out);
    if (env && !*env && !changing) env = passphrase_from_env(kPassphraseEnv, out);
    if (!env) return err(env.error());
    if (!*env) {
        Terminal tty;
        if (!tty.present()) {
            return err(std::string("no terminal to ask for the new passphrase of ") + user + ": set " +
                       (changing ? kNewPassphraseEnv : kPassphraseEnv));
        }
        if (auto r = tty.ask("new passphrase for " + user + ": ", out); !r) return r;
        Passphrase again;
        if (auto r = tty.ask("new passphrase again: ", again); !r) return r;
        if (again.view() != out.view()) return err("the passphrases differ; nothing was changed");
    }
    if (out.view().empty()) {
        return err("the passphrase is empty; nothing was changed (--remove-passphrase stores the key unencrypted)");
    }
    return {};
}

// Seals the plain key of id with a new passphrase and stores only the sealed key.
Result<void> set_passphrase(store::Store& st, const Identity& id, bool changing) {
    Passphrase pw;
    if (auto r = new_passphrase(id.user, changing, pw); !r) return r;
    auto sealed = crypto::seal_secret(id.sk, pw.view());
    if (!sealed) return err(sealed.error());
    Identity stored = id;
    crypto::wipe(stored.sk);
    stored.sk_sealed = std::move(sealed).value();
    return st.save_identity(stored);
}

Identity new_identity(const std::string& user) {
    Identity fresh;
    fresh.user = user;
    auto kp = crypto::generate_identity();
    fresh.pk = kp.pk;
    fresh.sk = kp.sk;
    crypto::wipe(kp.sk);
    crypto::random_bytes(fresh.session);
    return fresh;
}

// The directory and relays: host names resolved once, at start.
Result<void> role_options(const Options& o, io::RoleOptions& r) {
    r.role = o.directory ? io::Role::directory : o.relay ? io::Role::relay : io::Role::user;
    if (!o.dir_host.empty()) {
        auto a = resolve(o.dir_host, o.dir_port);
        if (!a) return err("--dir: " + a.error());
        r.directory = *a;
    }
    for (auto& [host, port] : o.relays) {
        auto a = resolve(host, port);
        if (!a) return err("--relays: " + a.error());
        r.relays.push_back(*a);
    }
    r.strategy = o.strategy;
    r.pass_interval = o.pass_interval;
    r.relay_timeout = o.relay_timeout;
    r.max_rooms = o.max_rooms;
    return {};
}

int fail(bool daemon, const std::string& msg) {
    std::fprintf(stderr, "%s: %s\n", daemon ? "darkchatd" : "darkchat", msg.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv, bool daemon) {
    const char* prog = daemon ? "darkchatd" : "darkchat";
    auto parsed = parse_options(argc, argv, daemon);
    if (!parsed) return fail(daemon, parsed.error() + " (" + prog + " --help lists the options)");
    Options o = std::move(parsed).value();
    if (o.help) {
        std::fputs(usage(daemon).c_str(), stdout);
        return 0;
    }
    if (o.version) {
        std::printf("%s %s\n", prog, DARKCHAT_VERSION);
        return 0;
    }
    if (auto r = crypto::init(); !r) return fail(daemon, r.error());

    std::optional<Identity> imported;
    if (!o.import_identity.empty()) {
        auto r = read_identity_file(o.import_identity);
        if (!r) return fail(daemon, r.error());
        if (!o.user.empty() && o.user != r->user)
            return fail(daemon, o.import_identity + " is the identity of " + r->user + ", not " + o.user);
        o.user = r->user;
        imported = std::move(r).value();
    }
    std::string user = o.user;
    if (user.empty() && o.super_client) user = "server";
    // The roles have an identity too (their packets are signed like any
    // other), under a name of their own unless -u gives one.
    if (user.empty() && o.directory) user = "directory";
    if (user.empty() && o.relay) user = o.port && *o.port != 0 ? "relay-" + std::to_string(*o.port) : "relay";
    auto dir = data_dir(o, user);
    if (!dir) return fail(daemon, dir.error());
    std::string db_path = *dir + "/darkchat.db";
    if (struct stat st; user.empty() && ::stat(db_path.c_str(), &st) != 0 && errno == ENOENT)
        return fail(daemon, "-u <username> is needed on the first run of " + *dir);

    // darkchat on a data directory whose node already runs (darkchatd -u, or
    // another darkchat): attach to it through its API instead of refusing.
    if (!daemon && o.export_identity.empty() && !o.set_passphrase && !o.remove_passphrase && o.import_identity.empty())
        if (lock_holder(*dir)) return io::attach(*dir + "/api.sock", user.empty() ? "in " + *dir : "of " + user, *dir + "/input_history");

    // Everything that can fail before anything is written runs first: the
    // flags above, host names, and the port (bound now, used by the loop).
    const bool runs_node = o.export_identity.empty() && !o.set_passphrase && !o.remove_passphrase;
    io::Options io;
    std::optional<io::Sockets> sockets;
    if (runs_node) {
        if (auto r = role_options(o, io.roles); !r) return fail(daemon, r.error());
        io.front_end = !daemon;
        io.input_history = *dir + "/input_history";
        io.downloads = o.downloads.empty() ? *dir + "/downloads" : o.downloads;
        io.auto_accept = o.auto_accept;
        if (io.roles.role == io::Role::user) io.api_socket = *dir + "/api.sock";
        if (io.roles.role == io::Role::user) io.web_port = o.web_port;
        io.log_name = user.empty() ? std::string(prog) : std::string(prog) + "[" + user + "]";
        io.config.port = o.port.value_or(kDefaultPort);
        io.fallback_port = !o.port.has_value();
        io.config.super_client = o.super_client;
        io.config.max_sessions_per_user = o.max_sessions;
        io.bind = *Addr::parse(o.bind);
        if (o.super_client) io.config.max_users = 1000000;
        if (!o.server_host.empty()) {
            auto a = resolve(o.server_host, o.server_port);
            if (!a) return fail(daemon, "-sip: " + a.error());
            io.config.servers.push_back(*a);
        }
        auto bound = io::bind(io);
        if (!bound) return fail(daemon, bound.error());
        sockets = std::move(bound).value();
    }

    auto made = make_dirs(*dir);
    if (!made) return fail(daemon, made.error());
    warn_if_shared(prog, *dir, true);
    // --export-identity only reads, and works while the node runs.
    DirLock lock;
    if (o.export_identity.empty()) {
        if (auto r = lock.acquire(*dir, *made); !r) return fail(daemon, r.error());
    }
    auto db = store::Store::open(db_path);
    if (!db) return fail(daemon, db.error());
    if (o.export_identity.empty()) lock.keep();
    warn_if_shared(prog, db_path, false);
    auto& st = **db;

    auto loaded = st.load_identity();
    if (!loaded) return fail(daemon, loaded.error());
    std::optional<Identity> id = std::move(*loaded);
    if (imported) {
        if (id) return fail(daemon, *dir + " already has an identity (" + id->user + "); import into a new --data-dir");
        id = std::move(imported);
        crypto::random_bytes(id->session);  // this device's own session
        if (auto r = st.save_identity(*id); !r) return fail(daemon, r.error());
    }
    bool fresh = false;
    if (!id) {
        if (user.empty()) return fail(daemon, "-u <username> is needed on the first run of " + *dir);
        id = new_identity(user);
        fresh = true;
        // With --set-passphrase a new key is stored only once sealed, below.
        if (!o.set_passphrase) {
            if (auto r = st.save_identity(*id); !r) return fail(daemon, r.error());
        }
    } else if (!o.user.empty() && o.user != id->user) {
        return fail(daemon, *dir + " belongs to " + id->user + ", not " + o.user + "; use another --data-dir");
    }
    const bool sealed = id->sk_sealed.has_value();
    if (sealed) {
        if (auto r = unlock(*id); !r) return fail(daemon, r.error());
    }
    if (o.set_passphrase) {
        if (auto r = set_passphrase(st, *id, sealed); !r) return fail(daemon, r.error());
    }
    if (fresh) {
        std::fprintf(stderr, "%s: new identity for %s in %s (fingerprint %s)\n", prog, id->user.c_str(), dir->c_str(),
                     crypto::fingerprint(id->pk).c_str());
    }
    if (o.set_passphrase) {
        std::printf("the key of %s is %s\n", id->user.c_str(),
                    sealed ? "now sealed with the new passphrase" : "now protected by a passphrase");
        return 0;
    }
    if (o.remove_passphrase) {
        if (!sealed) {
            std::printf("the key of %s has no passphrase\n", id->user.c_str());
            return 0;
        }
        if (auto r = st.save_identity(*id); !r) return fail(daemon, r.error());
        std::printf("the key of %s is now stored unencrypted\n", id->user.c_str());
        return 0;
    }
    if (!o.export_identity.empty()) {
        if (auto r = export_identity(*id, o.export_identity); !r) return fail(daemon, r.error());
        std::printf("identity of %s written to %s; on the other device run: %s --import-identity %s\n",
                    id->user.c_str(), o.export_identity.c_str(), prog, o.export_identity.c_str());
        return 0;
    }

    io.log_name = std::string(prog) + "[" + id->user + "]";
    if (io.web_port >= 0) {
        auto token = web_token(*dir + "/web_token");
        if (!token) return fail(daemon, token.error());
        io.web_token = *token;
    }
    // -t sizes libuv's worker pool, which resolves host names for \ping.
    ::setenv("UV_THREADPOOL_SIZE", std::to_string(o.threads).c_str(), 1);
    return io::run(io, std::move(*sockets), st, std::move(*id));
}

}  // namespace dc::app
