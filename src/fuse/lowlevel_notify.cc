// fuse_lowlevel_notify_*: the node-level NodeNotifier of the session. Every
// notification is queued to the session's notification thread, which holds
// no lock of ours and is never a request thread; so each of these is safe
// inside a request handler (where libfuse's direct write to the kernel can
// deadlock on the directory lock the kernel holds for that very request).
// A return of 0 therefore means "queued": the kernel sees the notification
// shortly after, not necessarily before the call returns.
#include <cerrno>
#include <string>

#include "fuse/lowlevel.h"

namespace {

linfsp::NodeNotifier* notifier_of(fuse_session* se) {
  if (se == nullptr || se->owned_node_fs == nullptr) return nullptr;
  return static_cast<linfsp::fuse::LowLevelFs*>(se->owned_node_fs.get())->notifier();
}

int result(const linfsp::Status& s) { return s ? 0 : -(s.err() > 0 ? s.err() : EIO); }

}  // namespace

extern "C" {

int fuse_lowlevel_notify_poll(struct fuse_pollhandle* ph) {
  if (ph == nullptr) return -EINVAL;
  linfsp::NodeNotifier* n = notifier_of(ph->se);
  if (n == nullptr) return -ENOTCONN;
  return result(n->poll_wakeup(ph->kernel_handle));
}

void fuse_pollhandle_destroy(struct fuse_pollhandle* ph) { delete ph; }

int fuse_lowlevel_notify_inval_inode(struct fuse_session* se, fuse_ino_t ino, off_t off, off_t len) {
  linfsp::NodeNotifier* n = notifier_of(se);
  if (n == nullptr) return -ENOTCONN;
  return result(n->inval_inode(ino, off, len));
}

int fuse_lowlevel_notify_inval_entry(struct fuse_session* se, fuse_ino_t parent, const char* name, size_t namelen) {
  linfsp::NodeNotifier* n = notifier_of(se);
  if (n == nullptr) return -ENOTCONN;
  if (name == nullptr) return -EINVAL;
  return result(n->inval_entry(parent, std::string_view(name, namelen)));
}

int fuse_lowlevel_notify_expire_entry(struct fuse_session* se, fuse_ino_t parent, const char* name, size_t namelen,
                                      enum fuse_expire_flags flags) {
  linfsp::NodeNotifier* n = notifier_of(se);
  if (n == nullptr) return -ENOTCONN;
  if (name == nullptr) return -EINVAL;
  std::string_view nm(name, namelen);
  return result((flags & FUSE_LL_EXPIRE_ONLY) ? n->expire_entry(parent, nm) : n->inval_entry(parent, nm));
}

int fuse_lowlevel_notify_delete(struct fuse_session* se, fuse_ino_t parent, fuse_ino_t child, const char* name,
                                size_t namelen) {
  linfsp::NodeNotifier* n = notifier_of(se);
  if (n == nullptr) return -ENOTCONN;
  if (name == nullptr) return -EINVAL;
  return result(n->delete_entry(parent, child, std::string_view(name, namelen)));
}

int fuse_lowlevel_notify_store(struct fuse_session* se, fuse_ino_t ino, off_t offset, struct fuse_bufvec* bufv,
                               enum fuse_buf_copy_flags) {
  linfsp::NodeNotifier* n = notifier_of(se);
  if (n == nullptr) return -ENOTCONN;
  if (offset < 0) return -EINVAL;
  std::string data(fuse_buf_size(bufv), '\0');
  fuse_bufvec dst = FUSE_BUFVEC_INIT(data.size());
  dst.buf[0].mem = data.data();
  ssize_t copied = fuse_buf_copy(&dst, bufv, static_cast<fuse_buf_copy_flags>(0));
  if (copied < 0) return static_cast<int>(copied);
  data.resize(static_cast<size_t>(copied));
  return result(n->store(ino, static_cast<uint64_t>(offset), data));
}

int fuse_lowlevel_notify_retrieve(struct fuse_session* se, fuse_ino_t ino, size_t size, off_t offset, void* cookie) {
  linfsp::NodeNotifier* n = notifier_of(se);
  if (n == nullptr) return -ENOTCONN;
  if (offset < 0) return -EINVAL;
  auto* fs = static_cast<linfsp::fuse::LowLevelFs*>(se->owned_node_fs.get());
  uint64_t id = fs->remember_cookie(cookie);
  int res = result(n->retrieve(ino, static_cast<uint64_t>(offset), size, id));
  if (res != 0) fs->take_cookie(id);
  return res;
}

}  // extern "C"
