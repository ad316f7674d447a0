// The file side of transfers (files.hpp): the driver carries out what the file
// part asks (reads of chunks, writes beside the final name, rename once checked,
// removal) and what the session asks (\send: the manifest made from the file read
// chunk by chunk; \accept: a free, safe name in the download folder). Plain POSIX
// calls on the loop thread, one chunk at a time, so memory stays bounded by a chunk
// whatever the file's size.
#pragma once

#include "darkchat/host.hpp"
#include "darkchat/session.hpp"

#include <set>
#include <string>

namespace dc::io {

class FileIo {
public:
    void set_downloads(std::string dir) { downloads_ = std::move(dir); }
    // Every operation the file part has, until it has none (a read answered may
    // ask for more); the files written are flushed to disk before it returns.
    void perform(host::Host& host, cli::Session& session);
    void request(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r);

private:
    void offer(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r);
    void accept(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r);

    std::string downloads_;
    std::set<std::string> failing_;  // partial files whose write failed: said once until one succeeds
};

}  // namespace dc::io
