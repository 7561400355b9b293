// The FUSE wire protocol: the installed <linux/fuse.h> (7.38 on Debian 12) plus
// what newer kernels added that we use. Everything newer than the installed
// header is defined here, once, with size checks.
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>

namespace linfsp::kernel {

// The newest minor we understand. INIT answers with min(kernel's, this).
inline constexpr uint32_t kMaxMinor = 45;

// INIT flags beyond 7.38 (bits 32..63 travel in flags2).
inline constexpr uint64_t kInitCreateSuppGroup = 1ULL << 34;
inline constexpr uint64_t kInitDirectIoAllowMmap = 1ULL << 36;
inline constexpr uint64_t kInitPassthrough = 1ULL << 37;
inline constexpr uint64_t kInitNoExportSupport = 1ULL << 38;
inline constexpr uint64_t kInitHasResend = 1ULL << 39;
inline constexpr uint64_t kInitOverIoUring = 1ULL << 41;

// fuse_init_out as of 7.40+: max_stack_depth and request_timeout replaced
// part of the unused tail. Same 64-byte size as the installed struct.
struct InitOut {
  uint32_t major;
  uint32_t minor;
  uint32_t max_readahead;
  uint32_t flags;
  uint16_t max_background;
  uint16_t congestion_threshold;
  uint32_t max_write;
  uint32_t time_gran;
  uint16_t max_pages;
  uint16_t map_alignment;
  uint32_t flags2;
  uint32_t max_stack_depth;
  uint16_t request_timeout;
  uint16_t unused[11];
};
static_assert(sizeof(InitOut) == 64);
static_assert(sizeof(InitOut) == sizeof(fuse_init_out));
static_assert(offsetof(InitOut, flags2) == offsetof(fuse_init_out, flags2));

static_assert(sizeof(fuse_in_header) == 40);
static_assert(sizeof(fuse_out_header) == 16);
static_assert(sizeof(fuse_entry_out) == 128);
static_assert(sizeof(fuse_attr_out) == 104);
static_assert(sizeof(fuse_setattr_in) == 88);
static_assert(sizeof(fuse_write_in) == 40);
static_assert(sizeof(fuse_read_in) == 40);

}  // namespace linfsp::kernel
