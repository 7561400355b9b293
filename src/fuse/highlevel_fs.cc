// struct fuse_fs and the fuse_fs_* calls: each calls its operation in the
// table, with the context's private_data set to the table's user data (as
// a stacked module expects), or answers -ENOSYS when the table has none.
// The adapter (highlevel.cc) calls the file system only through these.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuse/highlevel.h"

namespace linfsp::fuse {

fuse_fs* new_fs(const fuse_operations* op, size_t op_size, void* user_data) {
  if (op == nullptr) {
    fuse_log(FUSE_LOG_ERR, "fuse: no operations given\n");
    return nullptr;
  }
  if (op_size > sizeof(fuse_operations)) {
    // Built against a newer libfuse: the operations this one does not know are left out.
    fuse_log(FUSE_LOG_ERR, "fuse: warning: library too old, some operations may not work\n");
    op_size = sizeof(fuse_operations);
  }
  auto* fs = new fuse_fs;
  // A program built against an older header passes a shorter table; the
  // members it does not know stay NULL.
  std::memcpy(&fs->op, op, op_size);
  fs->user_data = user_data;
  return fs;
}

}  // namespace linfsp::fuse

namespace {

// The context a stacked file system sees: its own user data.
void enter(fuse_fs* fs) { fuse_get_context()->private_data = fs->user_data; }

}  // namespace

extern "C" {

struct fuse_fs* fuse_fs_new(const struct fuse_operations* op, size_t op_size, void* private_data) {
  return linfsp::fuse::new_fs(op, op_size, private_data);
}

int fuse_fs_getattr(struct fuse_fs* fs, const char* path, struct stat* buf, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.getattr ? fs->op.getattr(path, buf, fi) : -ENOSYS;
}

int fuse_fs_rename(struct fuse_fs* fs, const char* oldpath, const char* newpath, unsigned int flags) {
  enter(fs);
  return fs->op.rename ? fs->op.rename(oldpath, newpath, flags) : -ENOSYS;
}

int fuse_fs_unlink(struct fuse_fs* fs, const char* path) {
  enter(fs);
  return fs->op.unlink ? fs->op.unlink(path) : -ENOSYS;
}

int fuse_fs_rmdir(struct fuse_fs* fs, const char* path) {
  enter(fs);
  return fs->op.rmdir ? fs->op.rmdir(path) : -ENOSYS;
}

int fuse_fs_symlink(struct fuse_fs* fs, const char* linkname, const char* path) {
  enter(fs);
  return fs->op.symlink ? fs->op.symlink(linkname, path) : -ENOSYS;
}

int fuse_fs_link(struct fuse_fs* fs, const char* oldpath, const char* newpath) {
  enter(fs);
  return fs->op.link ? fs->op.link(oldpath, newpath) : -ENOSYS;
}

int fuse_fs_release(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.release ? fs->op.release(path, fi) : 0;
}

int fuse_fs_opendir(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.opendir ? fs->op.opendir(path, fi) : 0;
}

int fuse_fs_open(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.open ? fs->op.open(path, fi) : 0;
}

int fuse_fs_read_buf(struct fuse_fs* fs, const char* path, struct fuse_bufvec** bufp, size_t size, off_t off,
                     struct fuse_file_info* fi) {
  enter(fs);
  if (fs->op.read_buf) return fs->op.read_buf(path, bufp, size, off, fi);
  if (!fs->op.read) return -ENOSYS;
  // One memory buffer, which the caller frees with the vector.
  auto* buf = static_cast<fuse_bufvec*>(std::malloc(sizeof(fuse_bufvec)));
  void* mem = std::malloc(size ? size : 1);
  if (buf == nullptr || mem == nullptr) {
    std::free(buf);
    std::free(mem);
    return -ENOMEM;
  }
  *buf = FUSE_BUFVEC_INIT(size);
  buf->buf[0].mem = mem;
  int res = fs->op.read(path, static_cast<char*>(mem), size, off, fi);
  if (res < 0) {
    std::free(mem);
    std::free(buf);
    return res;
  }
  buf->buf[0].size = static_cast<size_t>(res);
  *bufp = buf;
  return 0;
}

int fuse_fs_read(struct fuse_fs* fs, const char* path, char* mem, size_t size, off_t off,
                 struct fuse_file_info* fi) {
  enter(fs);
  if (fs->op.read) return fs->op.read(path, mem, size, off, fi);
  if (!fs->op.read_buf) return -ENOSYS;
  fuse_bufvec* src = nullptr;
  int res = fs->op.read_buf(path, &src, size, off, fi);
  if (res != 0 || src == nullptr) return res != 0 ? res : -EIO;
  fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
  dst.buf[0].mem = mem;
  ssize_t n = fuse_buf_copy(&dst, src, static_cast<fuse_buf_copy_flags>(0));
  for (size_t i = 0; i < src->count; ++i) {
    if (!(src->buf[i].flags & FUSE_BUF_IS_FD)) std::free(src->buf[i].mem);
  }
  std::free(src);
  return static_cast<int>(n);
}

int fuse_fs_write_buf(struct fuse_fs* fs, const char* path, struct fuse_bufvec* buf, off_t off,
                      struct fuse_file_info* fi) {
  enter(fs);
  if (fs->op.write_buf) return fs->op.write_buf(path, buf, off, fi);
  if (!fs->op.write) return -ENOSYS;
  size_t size = fuse_buf_size(buf);
  const fuse_buf& first = buf->buf[buf->idx];
  if (buf->count - buf->idx == 1 && !(first.flags & FUSE_BUF_IS_FD)) {
    return fs->op.write(path, static_cast<const char*>(first.mem) + buf->off, size, off, fi);
  }
  // Several pieces, or a descriptor: gather them into memory first.
  void* mem = std::malloc(size ? size : 1);
  if (mem == nullptr) return -ENOMEM;
  fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
  dst.buf[0].mem = mem;
  ssize_t n = fuse_buf_copy(&dst, buf, static_cast<fuse_buf_copy_flags>(0));
  int res = n < 0 ? static_cast<int>(n) : fs->op.write(path, static_cast<const char*>(mem), static_cast<size_t>(n), off, fi);
  std::free(mem);
  return res;
}

int fuse_fs_write(struct fuse_fs* fs, const char* path, const char* mem, size_t size, off_t off,
                  struct fuse_file_info* fi) {
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].mem = const_cast<char*>(mem);
  return fuse_fs_write_buf(fs, path, &buf, off, fi);
}

int fuse_fs_fsync(struct fuse_fs* fs, const char* path, int datasync, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.fsync ? fs->op.fsync(path, datasync, fi) : -ENOSYS;
}

int fuse_fs_fsyncdir(struct fuse_fs* fs, const char* path, int datasync, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.fsyncdir ? fs->op.fsyncdir(path, datasync, fi) : -ENOSYS;
}

int fuse_fs_flush(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.flush ? fs->op.flush(path, fi) : -ENOSYS;
}

int fuse_fs_statfs(struct fuse_fs* fs, const char* path, struct statvfs* buf) {
  enter(fs);
  if (fs->op.statfs) return fs->op.statfs(path, buf);
  // No statfs: what libfuse reports, an empty volume with 255-byte names.
  std::memset(buf, 0, sizeof(*buf));
  buf->f_namemax = 255;
  buf->f_bsize = 512;
  return 0;
}

int fuse_fs_releasedir(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.releasedir ? fs->op.releasedir(path, fi) : 0;
}

int fuse_fs_readdir(struct fuse_fs* fs, const char* path, void* buf, fuse_fill_dir_t filler, off_t off,
                    struct fuse_file_info* fi, enum fuse_readdir_flags flags) {
  enter(fs);
  return fs->op.readdir ? fs->op.readdir(path, buf, filler, off, fi, flags) : -ENOSYS;
}

int fuse_fs_create(struct fuse_fs* fs, const char* path, mode_t mode, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.create ? fs->op.create(path, mode, fi) : -ENOSYS;
}

int fuse_fs_lock(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi, int cmd, struct flock* lock) {
  enter(fs);
  return fs->op.lock ? fs->op.lock(path, fi, cmd, lock) : -ENOSYS;
}

int fuse_fs_flock(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi, int op) {
  enter(fs);
  return fs->op.flock ? fs->op.flock(path, fi, op) : -ENOSYS;
}

int fuse_fs_chown(struct fuse_fs* fs, const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.chown ? fs->op.chown(path, uid, gid, fi) : -ENOSYS;
}

int fuse_fs_truncate(struct fuse_fs* fs, const char* path, off_t size, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.truncate ? fs->op.truncate(path, size, fi) : -ENOSYS;
}

int fuse_fs_utimens(struct fuse_fs* fs, const char* path, const struct timespec tv[2], struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.utimens ? fs->op.utimens(path, tv, fi) : -ENOSYS;
}

int fuse_fs_access(struct fuse_fs* fs, const char* path, int mask) {
  enter(fs);
  return fs->op.access ? fs->op.access(path, mask) : -ENOSYS;
}

int fuse_fs_readlink(struct fuse_fs* fs, const char* path, char* buf, size_t len) {
  enter(fs);
  return fs->op.readlink ? fs->op.readlink(path, buf, len) : -ENOSYS;
}

int fuse_fs_mknod(struct fuse_fs* fs, const char* path, mode_t mode, dev_t rdev) {
  enter(fs);
  return fs->op.mknod ? fs->op.mknod(path, mode, rdev) : -ENOSYS;
}

int fuse_fs_mkdir(struct fuse_fs* fs, const char* path, mode_t mode) {
  enter(fs);
  return fs->op.mkdir ? fs->op.mkdir(path, mode) : -ENOSYS;
}

int fuse_fs_setxattr(struct fuse_fs* fs, const char* path, const char* name, const char* value, size_t size,
                     int flags) {
  enter(fs);
  return fs->op.setxattr ? fs->op.setxattr(path, name, value, size, flags) : -ENOSYS;
}

int fuse_fs_getxattr(struct fuse_fs* fs, const char* path, const char* name, char* value, size_t size) {
  enter(fs);
  return fs->op.getxattr ? fs->op.getxattr(path, name, value, size) : -ENOSYS;
}

int fuse_fs_listxattr(struct fuse_fs* fs, const char* path, char* list, size_t size) {
  enter(fs);
  return fs->op.listxattr ? fs->op.listxattr(path, list, size) : -ENOSYS;
}

int fuse_fs_bmap(struct fuse_fs* fs, const char* path, size_t blocksize, uint64_t* idx) {
  enter(fs);
  return fs->op.bmap ? fs->op.bmap(path, blocksize, idx) : -ENOSYS;
}

int fuse_fs_removexattr(struct fuse_fs* fs, const char* path, const char* name) {
  enter(fs);
  return fs->op.removexattr ? fs->op.removexattr(path, name) : -ENOSYS;
}

int fuse_fs_ioctl(struct fuse_fs* fs, const char* path, unsigned int cmd, void* arg, struct fuse_file_info* fi,
                  unsigned int flags, void* data) {
  enter(fs);
  return fs->op.ioctl ? fs->op.ioctl(path, cmd, arg, fi, flags, data) : -ENOSYS;
}

int fuse_fs_poll(struct fuse_fs* fs, const char* path, struct fuse_file_info* fi, struct fuse_pollhandle* ph,
                 unsigned* reventsp) {
  enter(fs);
  return fs->op.poll ? fs->op.poll(path, fi, ph, reventsp) : -ENOSYS;
}

int fuse_fs_fallocate(struct fuse_fs* fs, const char* path, int mode, off_t offset, off_t length,
                      struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.fallocate ? fs->op.fallocate(path, mode, offset, length, fi) : -ENOSYS;
}

ssize_t fuse_fs_copy_file_range(struct fuse_fs* fs, const char* path_in, struct fuse_file_info* fi_in,
                                off_t off_in, const char* path_out, struct fuse_file_info* fi_out, off_t off_out,
                                size_t len, int flags) {
  enter(fs);
  if (!fs->op.copy_file_range) return -ENOSYS;
  return fs->op.copy_file_range(path_in, fi_in, off_in, path_out, fi_out, off_out, len, flags);
}

off_t fuse_fs_lseek(struct fuse_fs* fs, const char* path, off_t off, int whence, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.lseek ? fs->op.lseek(path, off, whence, fi) : -ENOSYS;
}

int fuse_fs_chmod(struct fuse_fs* fs, const char* path, mode_t mode, struct fuse_file_info* fi) {
  enter(fs);
  return fs->op.chmod ? fs->op.chmod(path, mode, fi) : -ENOSYS;
}

void fuse_fs_init(struct fuse_fs* fs, struct fuse_conn_info* conn, struct fuse_config* cfg) {
  enter(fs);
  // Locks reach the file system only if it handles them.
  if (!fs->op.lock) conn->want &= ~FUSE_CAP_POSIX_LOCKS;
  if (!fs->op.flock) conn->want &= ~FUSE_CAP_FLOCK_LOCKS;
  if (fs->op.init) fs->user_data = fs->op.init(conn, cfg);
}

void fuse_fs_destroy(struct fuse_fs* fs) {
  enter(fs);
  if (fs->op.destroy) fs->op.destroy(fs->user_data);
}

}  // extern "C"
