#include "app.hpp"

#include <charconv>

namespace dc::app {

namespace {

template <typename T>
std::optional<T> number(std::string_view s, T lo, T hi) {
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
    return v;
}

}  // namespace

std::string usage(bool daemon) {
    std::string prog = daemon ? "darkchatd" : "darkchat";
    std::string s = "usage: " + prog + " -u <username> [options]\n"
        "  -p <port>            port for incoming UDP and TCP (default 7300, or any free port if 7300 is taken)\n"
        "  -t <threads>         threads of the worker pool that resolves host names (default 4)\n"
        "  -u <username>        the user of this node (needed on first run of a data directory)\n"
        "  -sip <address>       address or host name of a known server (super-client)\n"
        "  -sp <port>           port of that server (default 7300)\n"
        "  -s                   be a super-client: remember the whole network, answer lists completely\n"
        "  --bind <ip>          address to listen on (default 0.0.0.0)\n"
        "  --data-dir <dir>     where state lives (default $XDG_DATA_HOME/darkchat/<username>)\n"
        "  --max-sessions <n>   sessions remembered per user (default 8)\n"
        "  --export-identity <file>  write this user's identity key for a second device, then exit\n"
        "  --import-identity <file>  use an exported identity in a new data directory, then run\n"
        "  --set-passphrase     encrypt the stored identity key with a passphrase (or change it), then exit\n"
        "  --remove-passphrase  store the identity key unencrypted again, then exit\n"
        "  --help, --version\n"
        "A passphrase-protected key is opened with $DARKCHAT_PASSPHRASE, or asked for on the terminal.\n";
    if (!daemon) s += "Type \\help once running for the macros.\n";
    return s;
}

Result<Options> parse_options(int argc, char** argv, bool daemon) {
    Options o;
    o.daemon = daemon;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* what) -> Result<std::string> {
            if (i + 1 >= argc) return err(a + " needs " + what);
            return std::string(argv[++i]);
        };
        if (a == "--help" || a == "-h") {
            o.help = true;
        } else if (a == "--version") {
            o.version = true;
        } else if (a == "-s" || a == "--super-client") {
            o.super_client = true;
        } else if (a == "-p" || a == "--port") {
            auto v = value("a port number");
            if (!v) return err(v.error());
            auto n = number<unsigned>(*v, 0, 65535);
            if (!n) return err("-p needs a port number from 0 to 65535, not '" + *v + "'");
            o.port = static_cast<std::uint16_t>(*n);
        } else if (a == "-t" || a == "--threads") {
            auto v = value("a number of threads");
            if (!v) return err(v.error());
            auto n = number<unsigned>(*v, 1, 128);
            if (!n) return err("-t needs a number of threads from 1 to 128, not '" + *v + "'");
            o.threads = *n;
        } else if (a == "-u" || a == "--user") {
            auto v = value("a user name");
            if (!v) return err(v.error());
            if (!valid_user_name(*v))
                return err("-u: '" + *v + "' is not a user name (1 to 32 letters, digits, '_', '-', '.')");
            o.user = *v;
        } else if (a == "-sip" || a == "--server") {
            auto v = value("an address");
            if (!v) return err(v.error());
            if (v->empty()) return err("-sip needs an address");
            o.server_host = *v;
        } else if (a == "-sp" || a == "--server-port") {
            auto v = value("a port number");
            if (!v) return err(v.error());
            auto n = number<unsigned>(*v, 1, 65535);
            if (!n) return err("-sp needs a port number from 1 to 65535, not '" + *v + "'");
            o.server_port = static_cast<std::uint16_t>(*n);
        } else if (a == "--bind") {
            auto v = value("an ip address");
            if (!v) return err(v.error());
            if (!Addr::parse(*v)) return err("--bind needs an ip address, not '" + *v + "'");
            o.bind = *v;
        } else if (a == "--data-dir") {
            auto v = value("a directory");
            if (!v) return err(v.error());
            o.data_dir = *v;
        } else if (a == "--max-sessions") {
            auto v = value("a number");
            if (!v) return err(v.error());
            auto n = number<std::size_t>(*v, 1, 1000);
            if (!n) return err("--max-sessions needs a number from 1 to 1000, not '" + *v + "'");
            o.max_sessions = *n;
        } else if (a == "--export-identity") {
            auto v = value("a file name");
            if (!v) return err(v.error());
            o.export_identity = *v;
        } else if (a == "--import-identity") {
            auto v = value("a file name");
            if (!v) return err(v.error());
            o.import_identity = *v;
        } else if (a == "--set-passphrase") {
            o.set_passphrase = true;
        } else if (a == "--remove-passphrase") {
            o.remove_passphrase = true;
        } else {
            return err("unknown option '" + a + "'");
        }
    }
    if (o.set_passphrase || o.remove_passphrase) {
        std::string which = o.set_passphrase ? "--set-passphrase" : "--remove-passphrase";
        if (o.set_passphrase && o.remove_passphrase) return err("--set-passphrase and --remove-passphrase exclude each other");
        if (!o.import_identity.empty()) return err(which + " cannot be used with --import-identity: import first");
        if (!o.export_identity.empty()) return err(which + " cannot be used with --export-identity");
    }
    return o;
}

}  // namespace dc::app
