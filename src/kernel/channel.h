// kernel/: the FUSE channel. Mounting, INIT negotiation, and a transport that
// reads requests from the kernel and writes replies and notifications back.
// This layer knows the wire protocol and nothing about files.
#pragma once

#include <sys/mount.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kernel/protocol.h"
#include "linfsp/status.h"

namespace linfsp::kernel {

struct MountOptions {
  std::string mountpoint;
  std::string fsname = "linfsp";
  std::string subtype;  // shown as fuse.<subtype> in /proc/mounts
  bool allow_other = false;
  bool default_permissions = false;
  bool read_only = false;
  // mount(2)'s MS_* flags (MS_NOEXEC, MS_NOATIME...). MS_NOSUID and MS_NODEV
  // are always set for an unprivileged mount, which may not clear them.
  unsigned long flags = MS_NOSUID | MS_NODEV;
};

// Opens /dev/fuse and mounts it: mount(2) when privileged, else fusermount3.
// Returns the /dev/fuse descriptor.
Result<int> mount_fuse(const MountOptions& options);
// Unmounts; `lazy` detaches a busy mount (MNT_DETACH / fusermount3 -z).
Status unmount_fuse(const std::string& mountpoint, bool lazy);

// What the kernel offers in its INIT request.
struct InitOffer {
  uint32_t major = 0, minor = 0;
  uint64_t flags = 0;  // FUSE_* init flags, flags2 in bits 32..63
  uint32_t max_readahead = 0;
};

// What the file system asks of INIT; the channel keeps what the kernel offers.
struct InitWants {
  uint64_t flags = 0;  // FUSE_* init flags, bits 32..63 included
  uint32_t max_write = 1 << 20;
  uint32_t max_readahead = 1 << 20;
  // Asynchronous requests (readahead, async direct I/O) the kernel keeps in
  // flight; requests a file system leaves pending count against it.
  uint16_t max_background = 256;
  uint16_t congestion_threshold = 0;  // 0: three quarters of max_background
  uint32_t time_gran = 1;             // timestamp granularity in ns (1 .. 10^9)
  // Asked with the kernel's offer before INIT is answered (on the thread that
  // reads INIT); may change every field above. Flags the kernel did not
  // offer are dropped afterwards; the transport adds its own (INIT_EXT,
  // MAX_PAGES, BIG_WRITES, OVER_IO_URING) whatever the callback says.
  std::function<void(const InitOffer& offer, InitWants* wants)> negotiate;
};

// The outcome of INIT.
struct Negotiated {
  uint32_t kernel_major = 0, kernel_minor = 0;  // what the kernel speaks
  uint32_t minor = 0;                           // what we answered
  uint64_t kernel_flags = 0;                    // what the kernel offered
  uint64_t flags = 0;                           // what we accepted
  uint32_t max_write = 0;
  uint16_t max_pages = 0;
};
std::string describe_init_flags(uint64_t flags);

// One request as read from the kernel; the memory lives until the handler
// returns (a reused per-thread buffer).
struct Request {
  const fuse_in_header& header;
  const char* body;  // header.len - sizeof(header) bytes
  size_t body_size;
};

// Where the one reply to a request goes. A transport gives every request a
// sink; no descriptor or ring slot is overloaded to name it.
class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // Writes one message: iov[0] is its fuse_out_header. Fails with ENOENT
  // when the kernel no longer knows the request (it was interrupted).
  virtual Status send(std::span<const iovec> message) = 0;
  // A sink for the same request that stays valid after handle() returns, on
  // any thread, until it sends; null when this transport cannot let a
  // request outlive its handler (the handler must then answer first).
  virtual std::unique_ptr<ReplySink> detach() = 0;
};

// The single reply to one request. Replies go out with writev.
class Reply {
 public:
  Reply(ReplySink& sink, uint64_t unique) : sink_(&sink), unique_(unique) {}
  // Each returns false when the kernel refused the reply (the request was
  // interrupted and is gone), so an entry reply can undo its lookup.
  bool error(int err);  // err in 1..511; anything else is sent as EIO
  // Any number of payload pieces; none is dropped.
  bool ok(std::span<const iovec> payload = {});
  bool ok(const void* data, size_t size);
  // Takes the reply away from the request thread: the transport neither
  // answers it nor waits for it once handle() returns. Null (and nothing
  // changes) when the transport cannot.
  std::unique_ptr<ReplySink> detach();

  bool sent() const { return sent_; }
  bool detached() const { return detached_; }
  uint64_t unique() const { return unique_; }
  int result() const { return result_; }  // -errno or bytes of payload

 private:
  ReplySink* sink_;
  uint64_t unique_;
  bool sent_ = false;
  bool detached_ = false;
  int result_ = 0;
};

// The session implements this. handle() runs on a transport thread; it
// answers through `reply`, or detaches it and answers later.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void handle(const Request& request, Reply& reply) = 0;
};

// A way of exchanging requests with the kernel. /dev/fuse read/write is the
// first; FUSE-over-io_uring plugs in behind the same interface.
class Transport {
 public:
  virtual ~Transport() = default;
  // Answers the kernel's INIT request.
  virtual Result<Negotiated> init(const InitWants& wants) = 0;
  // Starts `threads` request threads that call handler.handle().
  virtual Status start(RequestHandler& handler, unsigned threads) = 0;
  // Asks every request thread to stop and waits for them.
  virtual void stop() = 0;
  // Blocks until the request threads end: after stop(), or when the kernel
  // reports the connection gone (unmounted from outside).
  virtual void wait() = 0;
  // Sends an unsolicited notification (FUSE_NOTIFY_*). May block on kernel locks.
  virtual Status notify(int code, std::span<const iovec> payload) = 0;
};

// The /dev/fuse transport: a pool of threads, each with its own cloned
// descriptor (FUSE_DEV_IOC_CLONE) and its own reusable buffer.
std::unique_ptr<Transport> make_dev_transport(int fuse_fd);

// The FUSE-over-io_uring transport: INIT over /dev/fuse (asking for
// FUSE_OVER_IO_URING itself), then per-CPU io_uring queues served by threads
// pinned to their CPU; FORGET/INTERRUPT and notifications stay on /dev/fuse.
// Falls back to /dev/fuse, with one line on stderr saying why, when the
// kernel, the fuse module parameter or io_uring does not allow it.
std::unique_ptr<Transport> make_uring_transport(int fuse_fd);

}  // namespace linfsp::kernel
