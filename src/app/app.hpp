// What darkchat and darkchatd share: flags, the profile (data directory,
// database, identity) and the start-up sequence.
#pragma once

#include "darkchat/types.hpp"

#include <string>

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
};

inline constexpr std::uint16_t kDefaultPort = 7300;
// The passphrase of a protected identity key, for runs without a terminal.
inline constexpr const char* kPassphraseEnv = "DARKCHAT_PASSPHRASE";
// The new passphrase for --set-passphrase when one is set already.
inline constexpr const char* kNewPassphraseEnv = "DARKCHAT_NEW_PASSPHRASE";

Result<Options> parse_options(int argc, char** argv, bool daemon);
std::string usage(bool daemon);

// The whole program: returns the exit status.
int main(int argc, char** argv, bool daemon);

}  // namespace dc::app
