// File handles (name_to_handle_at / open_by_handle_at), which NFS export and
// handle-based tools need: a handle stays valid while its file exists, also
// after the kernel dropped its caches and after a rename, and gives ESTALE
// once the file is gone.
#include <fcntl.h>

#include <cstdlib>
#include <memory>

#include "compat.h"

using namespace compat;

namespace {

struct Handle {
  std::unique_ptr<char[]> bytes;
  file_handle* fh() { return reinterpret_cast<file_handle*>(bytes.get()); }
};

// 0 or the errno of name_to_handle_at.
int handle_of(const char* path, Handle* h) {
  h->bytes.reset(new char[sizeof(file_handle) + MAX_HANDLE_SZ]());
  h->fh()->handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  return name_to_handle_at(AT_FDCWD, path, h->fh(), &mount_id, 0) == 0 ? 0 : errno;
}

// The file's contents read through its handle, or "<ERRNO>".
std::string read_by_handle(Handle& h, int flags = O_RDONLY) {
  int mount_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // any file on the mount
  int fd = open_by_handle_at(mount_fd, h.fh(), flags);
  int e = errno;
  if (mount_fd >= 0) close(mount_fd);
  if (fd < 0) return "<" + std::string(strerrorname_np(e) ? strerrorname_np(e) : "error") + ">";
  std::string out;
  if (!(flags & O_DIRECTORY)) {
    char buf[256];
    for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, n);
  } else {
    out = "<dir>";
  }
  close(fd);
  return out;
}

// Makes the kernel forget unused dentries and inodes (and so send FORGET).
void drop_caches() {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd >= 0) {
    (void)!write(fd, "2", 1);
    close(fd);
  }
}

}  // namespace

GROUP("handles.open_by_handle") {
  if (!is_root()) {
    skip("open_by_handle_at needs CAP_DAC_READ_SEARCH");
    return;
  }
  CHECK_OK(mkdir("d", 0755));
  put("d/f", "handle me");
  Handle file, dir;
  int e = handle_of("d/f", &file);
  if (e == EOPNOTSUPP) {
    skip("no file handles here");
    return;
  }
  CHECK_EQ(e, 0);
  CHECK_EQ(handle_of("d", &dir), 0);
  CHECK_EQ(read_by_handle(file), "handle me");
  CHECK_EQ(read_by_handle(dir, O_RDONLY | O_DIRECTORY), "<dir>");
  drop_caches();
  CHECK_EQ(read_by_handle(file), "handle me");
  CHECK_EQ(read_by_handle(dir, O_RDONLY | O_DIRECTORY), "<dir>");
  CHECK_OK(mkdir("e", 0755));
  CHECK_OK(rename("d/f", "e/g"));
  CHECK_EQ(read_by_handle(file), "handle me");
  drop_caches();
  CHECK_EQ(read_by_handle(file), "handle me");
  CHECK_OK(rename("d", "e/d2"));
  drop_caches();
  CHECK_EQ(read_by_handle(dir, O_RDONLY | O_DIRECTORY), "<dir>");
  CHECK_OK(unlink("e/g"));
  drop_caches();
  CHECK_EQ(read_by_handle(file), "<ESTALE>");
  CHECK_OK(rmdir("e/d2"));
  drop_caches();
  CHECK_EQ(read_by_handle(dir, O_RDONLY | O_DIRECTORY), "<ESTALE>");
}
