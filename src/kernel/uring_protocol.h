// FUSE-over-io_uring wire structures (FUSE 7.42+). The installed
// <linux/fuse.h> (7.38 on Debian 12) predates them, so they are defined here,
// once, with the sizes the kernel's uapi header fixes.
//
// The protocol in one paragraph: after INIT (which still goes over /dev/fuse
// and must answer FUSE_OVER_IO_URING), the server submits, per ring entry, an
// IORING_OP_URING_CMD on the /dev/fuse descriptor with cmd_op REGISTER and
// sqe->addr pointing at two iovecs: a header buffer (UringReqHeader) and a
// payload buffer of at least the connection's max payload. The command stays
// pending until the kernel has a request for that queue (the CPU the requester
// ran on); it then fills the entry's buffers and completes the command with 0.
// The server answers by writing the fuse_out_header into in_out, the reply
// arguments into the payload, payload_sz into ring_ent_in_out, and submitting
// COMMIT_AND_FETCH with the entry's commit_id, which also re-arms the entry.
// FORGET, BATCH_FORGET and INTERRUPT still arrive on /dev/fuse, and
// notifications are still written to /dev/fuse.
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>

namespace linfsp::kernel {

// FUSE_OVER_IO_URING exists since protocol 7.42 (Linux 6.14).
inline constexpr uint32_t kUringMinMinor = 42;

// Bytes of the header buffer's two fixed areas.
inline constexpr size_t kUringInOutSize = 128;  // fuse_in_header / fuse_out_header
inline constexpr size_t kUringOpInSize = 128;   // the request's first argument

// Written by the kernel when it hands over a request, by the server when it
// commits the reply.
struct UringEntInOut {
  uint64_t flags;
  uint64_t commit_id;   // the request's unique; echoed in UringCmdReq::commit_id
  uint32_t payload_sz;  // bytes used in the payload buffer, either direction
  uint32_t padding;     // must be zero (7.46 turns it into an offset)
  uint64_t reserved;
};

// The header buffer, iov[0] of REGISTER.
struct UringReqHeader {
  char in_out[kUringInOutSize];  // fuse_in_header on fetch, fuse_out_header on commit
  char op_in[kUringOpInSize];    // in_args[0] (the per-opcode struct), may be empty
  UringEntInOut ring_ent_in_out;
};

// sqe->cmd_op values.
inline constexpr uint32_t kUringCmdRegister = 1;        // register buffers, fetch a request
inline constexpr uint32_t kUringCmdCommitAndFetch = 2;  // commit a reply, fetch the next

// The command data, in the 80-byte cmd area of a 128-byte SQE.
struct UringCmdReq {
  uint64_t flags;
  uint64_t commit_id;  // 0 for REGISTER
  uint16_t qid;        // the queue (CPU) of the entry
  uint8_t padding[6];
};

inline constexpr size_t kSqe128CmdArea = 80;

static_assert(sizeof(UringEntInOut) == 32);
static_assert(sizeof(UringReqHeader) == 288);
static_assert(offsetof(UringReqHeader, op_in) == 128);
static_assert(offsetof(UringReqHeader, ring_ent_in_out) == 256);
static_assert(sizeof(UringCmdReq) == 24);
static_assert(sizeof(UringCmdReq) <= kSqe128CmdArea);
static_assert(sizeof(fuse_in_header) <= kUringInOutSize);
static_assert(sizeof(fuse_out_header) <= kUringInOutSize);

}  // namespace linfsp::kernel
