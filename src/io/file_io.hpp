// The file side of transfers (files.hpp): the driver carries out what the file
// part asks (reads of chunks, writes beside the final name, rename once checked,
// removal) and what the session asks (\send: the manifest made from the file read
// chunk by chunk; \accept: a free, safe name in the download folder). Plain POSIX
// calls on the loop thread, one chunk at a time, so memory stays bounded by a chunk
// whatever the file's size. A received chunk is opened and checked on the threads of a
// ChunkPool once the driver started one (start_pool), else at once. Partial files stay open between turns (a few at most);
// what was written is made durable when the file part asks (io::Sync), before the
// record that counts it, and before a rename.
//
// A chunk (256 or 512 KiB) passes through a few buffers of its size on its way (the
// frame read, the decoded message, the plaintext): glibc's defaults would map and unmap
// each, or grow and trim the heap for them, so a transfer's system time went mostly to
// page faults and zeroed pages. The process keeps them instead (mallopt).
#pragma once

#include "chunk_pool.hpp"
#include "darkchat/host.hpp"
#include "darkchat/session.hpp"

#include <map>
#include <set>
#include <string>

namespace dc::io {

class FileIo {
public:
    // Also keeps the heap from giving chunk-sized buffers back to the kernel at every
    // free (see the constructor).
    FileIo();
    ~FileIo();
    FileIo(const FileIo&) = delete;
    FileIo& operator=(const FileIo&) = delete;
    void set_downloads(std::string dir) { downloads_ = std::move(dir); }
    // Where the web page's uploads are kept (api::Web, POST /upload): a file there
    // lives as long as a transfer reads it (a contact has not taken it yet, a group's
    // members are served from it). sweep_uploads removes the others; it runs at start,
    // after each upload is offered and whenever a transfer ends.
    void set_uploads(std::string dir) { uploads_ = std::move(dir); }
    const std::string& uploads() const { return uploads_; }
    void sweep_uploads(const files::Machine* machine);
    // Every operation the file part has, until it has none (a read answered may
    // ask for more).
    void perform(host::Host& host, cli::Session& session);
    void request(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r);
    // Received chunks opened on threads from now on; wake is called from them when some
    // are done, and take_opened then hands them to the host (on the loop's thread).
    void start_pool(std::size_t threads, std::function<void()> wake);
    void take_opened(host::Host& host);
    void stop_pool() { pool_.reset(); }  // before what wake uses goes

private:
    void offer(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r);
    void accept(host::Host& host, cli::Session& session, TimeMs now, const cli::FileRequest& r);

    int open_for_write(const std::string& path);
    void close_file(const std::string& path, bool sync);

    static constexpr std::size_t kMaxOpen = 16;
    std::map<std::string, int> open_;  // partial files being written
    std::string downloads_;
    std::string uploads_;
    std::unique_ptr<ChunkPool> pool_;
    std::set<std::string> failing_;  // partial files whose write failed: said once until one succeeds
};

}  // namespace dc::io
