// The opcode table: for every FUSE opcode we know, its name, the size of its
// fixed input struct, how many NUL-terminated names follow it, and whether
// the kernel waits for a reply. Validation, dispatch, the transports' "must
// this be answered" and the debug log all read it; nothing else says so.
#pragma once

#include <cstddef>
#include <cstdint>

namespace linfsp::session {

struct OpcodeInfo {
  const char* name = nullptr;  // null: an opcode we do not know
  uint16_t in_size = 0;        // fixed input struct
  uint8_t names = 0;           // NUL-terminated strings after it
  bool has_reply = true;       // false for FORGET, BATCH_FORGET, INTERRUPT
};

// The entry for `opcode`, or null when we do not know it (answered ENOSYS).
const OpcodeInfo* opcode_info(uint32_t opcode);

}  // namespace linfsp::session
