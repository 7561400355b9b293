// Coherence of the page cache with direct I/O: once a direct write has
// completed, no buffered read may return older data.
#include <linux/aio_abi.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "compat.h"

using namespace compat;

namespace {

// The kernel's AIO calls, without libaio.
long aio_setup(unsigned n, aio_context_t* ctx) { return syscall(SYS_io_setup, n, ctx); }
long aio_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
long aio_submit(aio_context_t ctx, long n, iocb** cbs) { return syscall(SYS_io_submit, ctx, n, cbs); }
long aio_wait(aio_context_t ctx, long min, long max, io_event* ev) {
  return syscall(SYS_io_getevents, ctx, min, max, ev, nullptr);
}

constexpr size_t kBlock = 16 * 1024;
constexpr size_t kBlocks = 64;  // a 1 MiB file
constexpr unsigned kRounds = 40;

// Block `b` as written in round `r`: every 8-byte word names both, so a
// mismatch says which round's data a reader saw.
void fill_block(char* p, unsigned r, size_t b) {
  for (size_t w = 0; w < kBlock / 8; ++w) {
    uint64_t v = (uint64_t{r} << 40) | (uint64_t{b} << 20) | w;
    std::memcpy(p + w * 8, &v, 8);
  }
}

// The round whose data block `b` holds in `p`, or -1 if it is no round's.
long round_of(const char* p, size_t b) {
  uint64_t first;
  std::memcpy(&first, p, 8);
  long r = static_cast<long>(first >> 40);
  for (size_t w = 0; w < kBlock / 8; ++w) {
    uint64_t v;
    std::memcpy(&v, p + w * 8, 8);
    if (v != ((uint64_t(r) << 40) | (uint64_t{b} << 20) | w)) return -1;
  }
  return r;
}

}  // namespace

GROUP("direct.async_write_vs_buffered_read") {
  // Readers keep pulling the file into the page cache while a writer
  // overwrites it with asynchronous O_DIRECT writes (non-extending, so the
  // kernel really queues them); after each round's writes complete, a
  // buffered read of every block must show that round.
  int probe = open("f", O_RDWR | O_CREAT | O_DIRECT, 0644);
  if (probe < 0 && errno == EINVAL) {
    skip("O_DIRECT is not supported here");
    return;
  }
  CHECK(probe >= 0);
  if (probe < 0) return;
  close(probe);
  aio_context_t ctx = 0;
  if (aio_setup(kBlocks, &ctx) != 0) {
    skip("io_setup: " + errstr(errno));
    return;
  }
  char* data = nullptr;
  if (posix_memalign(reinterpret_cast<void**>(&data), 4096, kBlock * kBlocks) != 0) std::abort();
  for (size_t b = 0; b < kBlocks; ++b) fill_block(data + b * kBlock, 0, b);
  int wfd = CHECK_OK(open("f", O_WRONLY));
  CHECK(write_all(wfd, data, kBlock * kBlocks, 0));
  close(wfd);
  int dfd = CHECK_OK(open("f", O_RDWR | O_DIRECT));
  int rfd = CHECK_OK(open("f", O_RDONLY));

  bool submitted = true, completed = true;
  long stale_round = -2, stale_block = -1, seen_round = -2;
  for (unsigned r = 1; r <= kRounds && stale_block < 0 && submitted && completed; ++r) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> readers;
    for (unsigned t = 0; t < 2; ++t) {
      readers.emplace_back([&, t] {
        std::vector<char> buf(4 * kBlock);
        unsigned x = t * 7919 + r;
        while (!stop.load(std::memory_order_relaxed)) {
          x = x * 1103515245u + 12345u;
          size_t b = (x >> 8) % kBlocks;
          (void)!pread(rfd, buf.data(), std::min(buf.size(), (kBlocks - b) * kBlock), b * kBlock);
        }
      });
    }
    for (size_t b = 0; b < kBlocks; ++b) fill_block(data + b * kBlock, r, b);
    std::vector<iocb> cbs(kBlocks);
    std::vector<iocb*> ptrs(kBlocks);
    for (size_t b = 0; b < kBlocks; ++b) {
      cbs[b] = {};
      cbs[b].aio_fildes = static_cast<uint32_t>(dfd);
      cbs[b].aio_lio_opcode = IOCB_CMD_PWRITE;
      cbs[b].aio_buf = reinterpret_cast<uint64_t>(data + b * kBlock);
      cbs[b].aio_nbytes = kBlock;
      cbs[b].aio_offset = static_cast<int64_t>(b * kBlock);
      ptrs[b] = &cbs[b];
    }
    long n = aio_submit(ctx, kBlocks, ptrs.data());
    submitted = n == static_cast<long>(kBlocks);
    std::vector<io_event> events(kBlocks);
    for (long done = 0; done < std::max(n, 0L);) {
      long got = aio_wait(ctx, 1, kBlocks, events.data());
      if (got <= 0) {
        completed = false;
        break;
      }
      for (long i = 0; i < got; ++i) completed = completed && events[i].res == static_cast<long>(kBlock);
      done += got;
    }
    stop = true;
    for (auto& t : readers) t.join();
    // Every write of this round has completed: the cache must agree.
    std::vector<char> buf(kBlock);
    for (size_t b = 0; b < kBlocks && stale_block < 0; ++b) {
      long got = pread(rfd, buf.data(), kBlock, b * kBlock);
      seen_round = got == static_cast<long>(kBlock) ? round_of(buf.data(), b) : -2;
      if (seen_round != static_cast<long>(r)) {
        stale_round = r;
        stale_block = static_cast<long>(b);
      }
    }
  }
  CHECK(submitted);
  CHECK(completed);
  report(stale_block < 0, __FILE__, __LINE__, "buffered reads after completed direct writes",
         "round " + std::to_string(stale_round) + ": block " + std::to_string(stale_block) + " (16 KiB at " +
             std::to_string(stale_block * static_cast<long>(kBlock)) + ") holds round " +
             std::to_string(seen_round) + "'s data");
  close(rfd);
  close(dfd);
  aio_destroy(ctx);
  free(data);
}
