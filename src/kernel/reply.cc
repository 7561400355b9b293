// Reply: frames a reply with its fuse_out_header and hands it to the sink.
#include <vector>

#include "kernel/channel.h"

namespace linfsp::kernel {

bool Reply::error(int err) {
  // The kernel drops a reply whose error is outside -511..-1 before it looks
  // the request up (fs/fuse/dev.c), and the caller would wait forever: what
  // else reaches us (0, Status::pending()'s -1, ERESTARTSYS and up) is EIO.
  if (err <= 0 || err >= 512) err = EIO;
  fuse_out_header oh{sizeof(oh), -err, unique_};
  iovec iov{&oh, sizeof(oh)};
  sent_ = true;
  result_ = -err;
  return sink_->send({&iov, 1}).is_ok();
}

bool Reply::ok(std::span<const iovec> payload) {
  // Most replies have one or two pieces: frame them on the stack.
  constexpr size_t kOnStack = 8;
  iovec stack[kOnStack];
  std::vector<iovec> heap;
  iovec* iov = stack;
  if (payload.size() + 1 > kOnStack) {
    heap.resize(payload.size() + 1);
    iov = heap.data();
  }
  fuse_out_header oh{sizeof(oh), 0, unique_};
  iov[0] = {&oh, sizeof(oh)};
  for (size_t i = 0; i < payload.size(); ++i) {
    iov[i + 1] = payload[i];
    oh.len += static_cast<uint32_t>(payload[i].iov_len);
  }
  sent_ = true;
  result_ = static_cast<int>(oh.len - sizeof(oh));
  return sink_->send({iov, payload.size() + 1}).is_ok();
}

bool Reply::ok(const void* data, size_t size) {
  iovec iov{const_cast<void*>(data), size};
  return ok({&iov, size ? 1u : 0u});
}

std::unique_ptr<ReplySink> Reply::detach() {
  if (sent_ || detached_) return nullptr;
  std::unique_ptr<ReplySink> sink = sink_->detach();
  detached_ = sink != nullptr;
  return sink;
}

}  // namespace linfsp::kernel
