// Baseline: raw UDP between two processes on loopback, nothing else.
//
//   udp_pingpong [--samples N] [--size BYTES] [--packets M] [--window W]
//
// 1. N sequential round trips of a BYTES-long datagram (a ping answered by an
//    echo in a forked child): median and 99th percentile in microseconds.
// 2. M datagrams sent one way as fast as a window of W unacknowledged ones
//    allows, each acknowledged by the child: acknowledged datagrams per second.
//
// Prints "key value" lines (udp_rtt_median_us, udp_rtt_p99_us, udp_acked_per_s)
// for the other benchmarks to read, and comment lines starting with '#'.
#include "bench_util.hpp"


using namespace dc::bench;

namespace {

// The other process: echoes pings, acknowledges data, leaves on 'Q', when its
// parent is gone, or after a bounded time.
[[noreturn]] void serve(int s, pid_t parent) {
    char buf[65536];
    auto deadline = after_ms(300000);
    while (now() < deadline) {
        pollfd p{s, POLLIN, 0};
        int r = ::poll(&p, 1, 1000);
        if (r == 0) {
            if (::getppid() != parent) break;
            continue;
        }
        if (r < 0) continue;
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) continue;
        if (buf[0] == 'Q') break;
        if (buf[0] == 'P') {
            ::sendto(s, buf, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
        } else if (buf[0] == 'D' && n >= 9) {
            char ack[9];
            ack[0] = 'A';
            std::memcpy(ack + 1, buf + 1, 8);
            ::sendto(s, ack, sizeof ack, 0, reinterpret_cast<sockaddr*>(&from), fl);
        }
    }
    _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t samples = 500, size = 300, packets = 100000, window = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        std::size_t v = std::strtoull(argv[i + 1], nullptr, 10);
        if (k == "--samples") samples = v;
        else if (k == "--size") size = std::clamp<std::size_t>(v, 16, 1200);
        else if (k == "--packets") packets = v;
        else if (k == "--window") window = std::max<std::size_t>(1, v);
        else die("unknown option " + k);
    }

    sockaddr_in mine{}, theirs{};
    int s = udp_socket(mine);
    int t = udp_socket(theirs);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        ::close(s);
        serve(t, parent);
    }
    ::close(t);
    if (::connect(s, reinterpret_cast<sockaddr*>(&theirs), sizeof theirs) != 0) die("connect");

    // 1. Round trips.
    std::vector<char> msg(size, 'x');
    std::vector<char> in(65536);
    msg[0] = 'P';
    std::vector<double> rtt;
    std::size_t lost = 0;
    for (std::size_t i = 0; i < samples + 50; ++i) {  // the first 50 warm up
        std::uint64_t seq = i;
        std::memcpy(msg.data() + 1, &seq, 8);
        auto t0 = now();
        if (::send(s, msg.data(), msg.size(), 0) < 0) die("send");
        bool got = false;
        for (int guard = 0; guard < 100 && !got; ++guard) {
            pollfd p{s, POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0) break;
            ssize_t n = ::recv(s, in.data(), in.size(), 0);
            std::uint64_t back = 0;
            if (n >= 9) std::memcpy(&back, in.data() + 1, 8);
            got = n == static_cast<ssize_t>(size) && back == seq;
        }
        auto t1 = now();
        if (!got) {
            ++lost;
            continue;
        }
        if (i >= 50) rtt.push_back(us_between(t0, t1));
    }
    auto r = summarize(rtt);

    // 2. Acknowledged datagrams, one way, windowed.
    msg[0] = 'D';
    std::vector<bool> acked(packets, false);
    std::size_t base = 0, next = 0, n_acked = 0, resent = 0;
    auto start = now();
    auto deadline = after_ms(60000);
    auto last_progress = now();
    while (n_acked < packets && now() < deadline) {
        while (next < packets && next - base < window) {
            std::uint64_t seq = next;
            std::memcpy(msg.data() + 1, &seq, 8);
            if (::send(s, msg.data(), msg.size(), 0) < 0) break;
            ++next;
        }
        pollfd p{s, POLLIN, 0};
        int pr = ::poll(&p, 1, 50);
        if (pr > 0) {
            for (int k = 0; k < 1024; ++k) {
                ssize_t n = ::recv(s, in.data(), in.size(), MSG_DONTWAIT);
                if (n < 9) break;
                std::uint64_t seq = 0;
                std::memcpy(&seq, in.data() + 1, 8);
                if (seq < packets && !acked[seq]) {
                    acked[seq] = true;
                    ++n_acked;
                    last_progress = now();
                }
            }
            while (base < next && acked[base]) ++base;
        } else if (us_between(last_progress, now()) > 50000) {
            // Loss (rare on loopback): send the unacknowledged part of the window again.
            for (std::size_t q = base; q < next; ++q)
                if (!acked[q]) {
                    std::uint64_t seq = q;
                    std::memcpy(msg.data() + 1, &seq, 8);
                    (void)::send(s, msg.data(), msg.size(), 0);
                    ++resent;
                }
            last_progress = now();
        }
    }
    double secs = s_between(start, now());
    char quit = 'Q';
    (void)::send(s, &quit, 1, 0);
    if (!wait_exit(pid, after_ms(2000))) {
        ::kill(pid, SIGKILL);
        wait_exit(pid, after_ms(2000));
    }

    std::printf("# udp_pingpong: %zu round trips of %zu-byte datagrams between two processes on 127.0.0.1 (%zu lost)\n",
                r.n, size, lost);
    std::printf("# then %zu datagrams one way, window %zu, each acked: %zu acked in %.3f s (%zu resent)\n", packets,
                window, n_acked, secs, resent);
    std::printf("udp_rtt_median_us %.2f\n", r.median);
    std::printf("udp_rtt_p99_us %.2f\n", r.p99);
    std::printf("udp_rtt_mean_us %.2f\n", r.mean);
    std::printf("udp_acked_per_s %.0f\n", static_cast<double>(n_acked) / secs);
    return n_acked == packets && lost == 0 ? 0 : 1;
}
