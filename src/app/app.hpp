// What darkchat and darkchatd share: flags, the profile (data directory,
// database, identity) and the start-up sequence.
#pragma once

#include "darkchat/types.hpp"

#include <string>
#include <utility>
#include <vector>

namespace dc::app {

struct Options {
    bool daemon = false;  // darkchatd
    std::optional<std::uint16_t> port;  // -p
    unsigned threads = 4;               // -t
    std::string user;                   // -u
    std::string server_host;            // -sip
    std::uint16_t server_port = 7300;   // -sp
    bool super_client = false;          // -s
    std::string data_dir;               // --data-dir
    std::string bind = "0.0.0.0";       // --bind
    std::size_t max_sessions = 8;       // --max-sessions
    std::string export_identity;        // --export-identity FILE
    std::string import_identity;        // --import-identity FILE
    bool set_passphrase = false;        // --set-passphrase
    bool remove_passphrase = false;     // --remove-passphrase
    bool help = false;
    bool version = false;
    // Directory and relays.
    bool directory = false;             // --directory (darkchatd): be the directory
    bool relay = false;                 // --relay (darkchatd): be a relay
    std::string dir_host;               // --dir HOST[:PORT]: the directory
    std::uint16_t dir_port = 7300;
    std::vector<std::pair<std::string, std::uint16_t>> relays;  // --relays H:P,... (darkchat)
    std::string strategy;               // --strategy NAME (directory)
    TimeMs pass_interval = 0;           // --pass-interval MS (directory; 0: default)
    TimeMs relay_timeout = 0;           // --relay-timeout MS (directory; 0: default)
    std::size_t max_rooms = 0;          // --max-rooms N (relay; 0: default, 1024)
    std::string downloads;              // --downloads DIR (default: <data dir>/downloads)
    std::uint64_t auto_accept = 0;      // --auto-accept BYTES: offers from contacts up to it (0: ask)
    int web_port = -1;                  // --web PORT: the web page on 127.0.0.1 (-1: none; 0: any free port)
};

inline constexpr std::uint16_t kDefaultPort = 7300;
// Relays listed with --relays, at most (the room client measures each).
inline constexpr std::size_t kMaxRelays = 64;
// The passphrase of a protected identity key, for runs without a terminal.
inline constexpr const char* kPassphraseEnv = "DARKCHAT_PASSPHRASE";
// The new passphrase for --set-passphrase when one is set already.
inline constexpr const char* kNewPassphraseEnv = "DARKCHAT_NEW_PASSPHRASE";

Result<Options> parse_options(int argc, char** argv, bool daemon);
std::string usage(bool daemon);

// The whole program: returns the exit status.
int main(int argc, char** argv, bool daemon);

}  // namespace dc::app
