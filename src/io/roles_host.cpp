// The role machines of issue 5 (directory, relay, room client) as Machines of
// the driver: each turns its events into the lines of darkchat(1) and
// darkchatd(8).
#include "machine.hpp"

namespace dc::io {

Result<std::vector<std::unique_ptr<Machine>>> make_roles(const RoleOptions& opts, const Identity&, core::Node*,
                                                         std::uint64_t) {
    std::vector<std::unique_ptr<Machine>> out;
    if (opts.role != Role::user || opts.directory || !opts.relays.empty())
        return err("directory, relays and rooms are not built into this darkchat yet");
    return out;
}

}  // namespace dc::io
