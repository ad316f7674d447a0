// Start-up shared by darkchat and darkchatd: the data directory, the database,
// the identity (made on first run, or imported for a second device), then the loop.
#include "app.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/io.hpp"
#include "darkchat/store.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dc::app {

namespace {

Result<void> make_dirs(const std::string& path) {
    std::string cur;
    std::stringstream ss(path);
    std::string part;
    if (!path.empty() && path[0] == '/') cur = "/";
    while (std::getline(ss, part, '/')) {
        if (part.empty()) continue;
        cur += part + "/";
        if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
            return err("cannot create " + cur + ": " + std::strerror(errno));
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return err(path + " is not a directory");
    return {};
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
    if (rc != 0 || !res) return err("cannot resolve server address '" + host + "': " + gai_strerror(rc));
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
    if (user.empty() && o.super_client && o.data_dir.empty()) user = "server";
    auto dir = data_dir(o, user);
    if (!dir) return fail(daemon, dir.error());
    if (auto r = make_dirs(*dir); !r) return fail(daemon, r.error());
    auto db = store::Store::open(*dir + "/darkchat.db");
    if (!db) return fail(daemon, db.error());
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
    if (!id) {
        if (user.empty()) return fail(daemon, "-u <username> is needed on the first run of " + *dir);
        Identity fresh;
        fresh.user = user;
        auto kp = crypto::generate_identity();
        fresh.pk = kp.pk;
        fresh.sk = kp.sk;
        crypto::wipe(kp.sk);
        crypto::random_bytes(fresh.session);
        if (auto r = st.save_identity(fresh); !r) return fail(daemon, r.error());
        id = std::move(fresh);
        std::fprintf(stderr, "%s: new identity for %s in %s (fingerprint %s)\n", prog, id->user.c_str(), dir->c_str(),
                     crypto::fingerprint(id->pk).c_str());
    } else if (!o.user.empty() && o.user != id->user) {
        return fail(daemon, *dir + " belongs to " + id->user + ", not " + o.user + "; use another --data-dir");
    }
    if (!o.export_identity.empty()) {
        if (auto r = export_identity(*id, o.export_identity); !r) return fail(daemon, r.error());
        std::printf("identity of %s written to %s; on the other device run: %s --import-identity %s\n",
                    id->user.c_str(), o.export_identity.c_str(), prog, o.export_identity.c_str());
        return 0;
    }

    io::Options io;
    io.front_end = !daemon;
    io.log_name = std::string(prog) + "[" + id->user + "]";
    io.config.port = o.port.value_or(kDefaultPort);
    io.fallback_port = !o.port.has_value();
    io.config.super_client = o.super_client;
    io.config.max_sessions_per_user = o.max_sessions;
    io.bind = *Addr::parse(o.bind);
    if (o.super_client) io.config.max_users = 1000000;
    if (!o.server_host.empty()) {
        auto a = resolve(o.server_host, o.server_port);
        if (!a) return fail(daemon, a.error());
        io.config.servers.push_back(*a);
    }
    // -t sizes libuv's worker pool, which resolves host names for \ping.
    ::setenv("UV_THREADPOOL_SIZE", std::to_string(o.threads).c_str(), 1);
    return io::run(io, st, std::move(*id));
}

}  // namespace dc::app
