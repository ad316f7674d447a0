#include "app.hpp"

#include "darkchat/roles.hpp"

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

// "host", "host:port", "1.2.3.4:port", "::1", "[::1]:port". Port 0 is refused.
Result<std::pair<std::string, std::uint16_t>> host_port(const std::string& flag, std::string_view s,
                                                         std::uint16_t default_port) {
    std::string host(s);
    std::uint16_t port = default_port;
    std::string_view port_text;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) return err(flag + ": '" + std::string(s) + "' has no closing ']'");
        host = std::string(s.substr(1, close - 1));
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':') return err(flag + ": expected ':' after ']' in '" + std::string(s) + "'");
            port_text = s.substr(close + 2);
            if (port_text.empty()) return err(flag + ": no port after ':' in '" + std::string(s) + "'");
        }
    } else if (auto colon = s.find(':'); colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
        host = std::string(s.substr(0, colon));
        port_text = s.substr(colon + 1);
        if (port_text.empty()) return err(flag + ": no port after ':' in '" + std::string(s) + "'");
    }
    if (!port_text.empty()) {
        auto n = number<unsigned>(port_text, 1, 65535);
        if (!n) return err(flag + ": '" + std::string(port_text) + "' is not a port number from 1 to 65535");
        port = static_cast<std::uint16_t>(*n);
    }
    if (host.empty() || host.size() > 253 || host.find_first_of("[]/, ") != std::string::npos)
        return err(flag + ": '" + std::string(s) + "' is not an address or host name");
    return std::pair{host, port};
}

// The checks of flag combinations that involve the directory and relays.
Result<void> check_roles(const Options& o) {
    const bool dir_only = !o.strategy.empty() || o.pass_interval || o.relay_timeout;
    auto dir_flag = [&] {
        return !o.strategy.empty() ? "--strategy" : o.pass_interval ? "--pass-interval" : "--relay-timeout";
    };
    if (!o.daemon) {
        if (o.directory) return err("--directory is a mode of darkchatd: run darkchatd --directory");
        if (o.relay) return err("--relay is a mode of darkchatd: run darkchatd --relay --dir HOST[:PORT]");
        if (dir_only) return err(std::string(dir_flag()) + " is an option of darkchatd --directory");
        if (!o.dir_host.empty() && !o.relays.empty())
            return err("--dir and --relays exclude each other: with a directory it chooses the relays");
        return {};
    }
    if (o.directory && o.relay) return err("--directory and --relay exclude each other: run one darkchatd for each");
    if (!o.relays.empty() && (o.directory || o.relay || o.super_client))
        return err("--relays is an option of a user's node, darkchat or darkchatd -u (client-side round-robin)");
    if (o.directory || o.relay) {
        std::string mode = o.directory ? "--directory" : "--relay";
        if (o.super_client) return err(mode + " cannot be combined with -s: a super-client is a separate darkchatd");
        if (!o.server_host.empty()) return err(mode + " runs no darkchat node, so -sip does not apply");
    }
    if (o.directory && !o.dir_host.empty()) return err("--dir is for relays and users; the directory is this process");
    if (!o.directory && dir_only) return err(std::string(dir_flag()) + " needs --directory");
    if (o.max_rooms && !o.relay) return err("--max-rooms is an option of darkchatd --relay");
    if (o.super_client && !o.dir_host.empty())
        return err("--dir is for relays and users' nodes: a super-client (-s) has no rooms");
    // A user's node in the background (darkchatd -u) has rooms as darkchat has.
    if (!o.directory && !o.relay && !o.dir_host.empty() && !o.relays.empty())
        return err("--dir and --relays exclude each other: with a directory it chooses the relays");
    return {};
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
        "  --downloads <dir>    where received files go (default <data dir>/downloads)\n"
        "  --auto-accept <n>    take files of at most n bytes from contacts without asking (default 0: ask)\n"
        "  --web <port>         serve the web page on 127.0.0.1:<port> (0: any free port), opened with a token\n"
        "  --max-sessions <n>   sessions remembered per user (default 8)\n"
        "  --export-identity <file>  write this user's identity key for a second device, then exit\n"
        "  --import-identity <file>  use an exported identity in a new data directory, then run\n"
        "  --set-passphrase     encrypt the stored identity key with a passphrase (or change it), then exit\n"
        "  --remove-passphrase  store the identity key unencrypted again, then exit\n"
        + std::string(daemon ?
        "  --directory          be the directory of relays and users (no darkchat node)\n"
        "  --relay              be a relay hosting rooms (no darkchat node)\n"
        "  --dir <host[:port]>  the directory a relay, or this user's node, registers with (default port 7300)\n"
        "  --relays <h:p,...>   a user's node without a directory: rooms on these relays, chosen in turn\n"
        "  --strategy <name>    directory: " + roles::directory_strategy_names() + " (default min-max)\n"
        "  --pass-interval <ms> directory: background pass over chats (default 500)\n"
        "  --relay-timeout <ms> directory: a relay silent this long is out of service (default 1000)\n"
        "  --max-rooms <n>      relay: rooms hosted at most (default 1024)\n"
        :
        "  --dir <host[:port]>  register with this directory for rooms on relays (default port 7300)\n"
        "  --relays <h:p,...>   no directory: rooms on these relays, chosen in turn (client-side round-robin)\n") +
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
        } else if (a == "--downloads") {
            auto v = value("a directory");
            if (!v) return err(v.error());
            o.downloads = *v;
        } else if (a == "--auto-accept") {
            auto v = value("a number of bytes");
            if (!v) return err(v.error());
            auto n = number<std::uint64_t>(*v, 0, std::uint64_t{8} << 30);
            if (!n) return err("--auto-accept needs a number of bytes from 0 to 8589934592, not '" + *v + "'");
            o.auto_accept = *n;
        } else if (a == "--web") {
            auto v = value("a port number");
            if (!v) return err(v.error());
            auto n = number<unsigned>(*v, 0, 65535);
            if (!n) return err("--web needs a port number from 0 to 65535, not '" + *v + "'");
            o.web_port = static_cast<int>(*n);
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
        } else if (a == "--directory") {
            o.directory = true;
        } else if (a == "--relay") {
            o.relay = true;
        } else if (a == "--dir") {
            auto v = value("HOST[:PORT] of the directory");
            if (!v) return err(v.error());
            auto hp = host_port("--dir", *v, kDefaultPort);
            if (!hp) return err(hp.error());
            o.dir_host = hp->first;
            o.dir_port = hp->second;
        } else if (a == "--relays") {
            auto v = value("a list HOST:PORT,HOST:PORT,...");
            if (!v) return err(v.error());
            o.relays.clear();
            std::string_view rest = *v;
            while (true) {
                auto comma = rest.find(',');
                auto item = rest.substr(0, comma);
                if (item.empty()) return err("--relays: empty entry in '" + *v + "' (HOST:PORT,HOST:PORT,...)");
                auto hp = host_port("--relays", item, kDefaultPort);
                if (!hp) return err(hp.error());
                o.relays.push_back(*hp);
                if (o.relays.size() > kMaxRelays)
                    return err("--relays: more than " + std::to_string(kMaxRelays) + " relays");
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
        } else if (a == "--strategy") {
            auto v = value("a strategy name");
            if (!v) return err(v.error());
            auto st = roles::parse_strategy(*v);
            if (!st)
                return err("--strategy: unknown strategy '" + *v + "' (" + roles::directory_strategy_names() + ")");
            if (*st == roles::Strategy::client_round_robin)
                return err("--strategy client-round-robin means no directory: give each darkchat --relays instead");
            o.strategy = *v;
        } else if (a == "--pass-interval") {
            auto v = value("milliseconds");
            if (!v) return err(v.error());
            auto n = number<TimeMs>(*v, 10, 600000);
            if (!n) return err("--pass-interval needs milliseconds from 10 to 600000, not '" + *v + "'");
            o.pass_interval = *n;
        } else if (a == "--relay-timeout") {
            auto v = value("milliseconds");
            if (!v) return err(v.error());
            // Relays heartbeat every 250 ms: a shorter timeout would take them all out.
            auto n = number<TimeMs>(*v, 300, 600000);
            if (!n) return err("--relay-timeout needs milliseconds from 300 to 600000 (relays beat every 250), not '" + *v + "'");
            o.relay_timeout = *n;
        } else if (a == "--max-rooms") {
            auto v = value("a number of rooms");
            if (!v) return err(v.error());
            auto n = number<std::size_t>(*v, 1, 1000000);
            if (!n) return err("--max-rooms needs a number of rooms from 1 to 1000000, not '" + *v + "'");
            o.max_rooms = *n;
        } else if (a == "--set-passphrase") {
            o.set_passphrase = true;
        } else if (a == "--remove-passphrase") {
            o.remove_passphrase = true;
        } else {
            return err("unknown option '" + a + "'");
        }
    }
    if (auto r = check_roles(o); !r) return err(r.error());
    if (o.set_passphrase || o.remove_passphrase) {
        std::string which = o.set_passphrase ? "--set-passphrase" : "--remove-passphrase";
        if (o.set_passphrase && o.remove_passphrase) return err("--set-passphrase and --remove-passphrase exclude each other");
        if (!o.import_identity.empty()) return err(which + " cannot be used with --import-identity: import first");
        if (!o.export_identity.empty()) return err(which + " cannot be used with --export-identity");
    }
    return o;
}

}  // namespace dc::app
