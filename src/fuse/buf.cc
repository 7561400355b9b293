// fuse_buf_size and fuse_buf_copy: data between memory buffers and file
// descriptors. Splice flags are accepted; LinFsp copies through memory.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuse_lowlevel.h"

namespace {

const fuse_buf* current(const fuse_bufvec* v) { return v->idx < v->count ? &v->buf[v->idx] : nullptr; }

// Moves a vector's cursor `n` bytes on within its current buffer; to the
// next buffer when that one is used up.
void advance(fuse_bufvec* v, size_t n) {
  v->off += n;
  if (v->idx < v->count && v->off >= v->buf[v->idx].size) {
    ++v->idx;
    v->off = 0;
  }
}

// One read or write of `len` bytes at buffer offset `off`; FUSE_BUF_FD_RETRY
// repeats a short transfer until it completes or meets the end of the file.
ssize_t fd_io(const fuse_buf& b, size_t off, char* mem, size_t len, bool reading) {
  size_t done = 0;
  while (done < len) {
    ssize_t n;
    off_t at = b.pos + static_cast<off_t>(off + done);
    if (reading) {
      n = (b.flags & FUSE_BUF_FD_SEEK) ? pread(b.fd, mem + done, len - done, at) : read(b.fd, mem + done, len - done);
    } else {
      n = (b.flags & FUSE_BUF_FD_SEEK) ? pwrite(b.fd, mem + done, len - done, at)
                                       : write(b.fd, mem + done, len - done);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return done ? static_cast<ssize_t>(done) : -errno;
    done += static_cast<size_t>(n);
    if (n == 0 || !(b.flags & FUSE_BUF_FD_RETRY)) break;
  }
  return static_cast<ssize_t>(done);
}

// Copies up to `len` bytes from src (at src_off) to dst (at dst_off).
ssize_t copy_one(const fuse_buf& dst, size_t dst_off, const fuse_buf& src, size_t src_off, size_t len) {
  const bool src_fd = src.flags & FUSE_BUF_IS_FD;
  const bool dst_fd = dst.flags & FUSE_BUF_IS_FD;
  if (!src_fd && !dst_fd) {
    std::memmove(static_cast<char*>(dst.mem) + dst_off, static_cast<const char*>(src.mem) + src_off, len);
    return static_cast<ssize_t>(len);
  }
  if (src_fd && !dst_fd) return fd_io(src, src_off, static_cast<char*>(dst.mem) + dst_off, len, true);
  if (!src_fd && dst_fd) {
    return fd_io(dst, dst_off, const_cast<char*>(static_cast<const char*>(src.mem)) + src_off, len, false);
  }
  // Descriptor to descriptor, through a bounce buffer.
  std::vector<char> bounce(std::min<size_t>(len, 1 << 16));
  size_t copied = 0;
  while (copied < len) {
    size_t chunk = std::min(bounce.size(), len - copied);
    ssize_t r = fd_io(src, src_off + copied, bounce.data(), chunk, true);
    if (r < 0) return copied ? static_cast<ssize_t>(copied) : r;
    if (r == 0) break;
    ssize_t w = fd_io(dst, dst_off + copied, bounce.data(), static_cast<size_t>(r), false);
    if (w < 0) return copied ? static_cast<ssize_t>(copied) : w;
    copied += static_cast<size_t>(w);
    if (w < r) break;
  }
  return static_cast<ssize_t>(copied);
}

}  // namespace

extern "C" {

size_t fuse_buf_size(const struct fuse_bufvec* bufv) {
  size_t total = 0;
  for (size_t i = 0; i < bufv->count; ++i) {
    if (bufv->buf[i].size == SIZE_MAX) return SIZE_MAX;
    total += bufv->buf[i].size;
  }
  return total;
}

ssize_t fuse_buf_copy(struct fuse_bufvec* dstv, struct fuse_bufvec* srcv, enum fuse_buf_copy_flags) {
  size_t copied = 0;
  for (;;) {
    const fuse_buf* src = current(srcv);
    const fuse_buf* dst = current(dstv);
    if (src == nullptr || dst == nullptr) break;
    size_t src_len = src->size - srcv->off;
    size_t dst_len = dst->size - dstv->off;
    size_t len = std::min(src_len, dst_len);
    if (len == 0) {
      if (src_len == 0) advance(srcv, 0);
      if (dst_len == 0) advance(dstv, 0);
      continue;
    }
    ssize_t n = copy_one(*dst, dstv->off, *src, srcv->off, len);
    if (n < 0) {
      if (copied == 0) return n;
      break;
    }
    copied += static_cast<size_t>(n);
    advance(srcv, static_cast<size_t>(n));
    advance(dstv, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < len) break;  // end of a file, or a short transfer
  }
  return static_cast<ssize_t>(copied);
}

}  // extern "C"
