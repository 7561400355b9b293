// fsbench: checked system calls, the worker and the buffers.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "fsbench.h"

namespace fsbench {

std::string errno_text(int err) {
  const char* name = strerrorname_np(err);
  const char* desc = strerrordesc_np(err);
  std::string s = name ? name : "errno " + std::to_string(err);
  if (desc) s += std::string(" (") + desc + ")";
  return s;
}

void fail(const std::string& message) { throw Failure{message}; }

void fail_errno(const std::string& call, int err) { fail(call + ": " + errno_text(err)); }

void Buffer::Free::operator()(char* p) const { std::free(p); }

Buffer::Buffer(size_t size, unsigned seed) : size_(size) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  size_t rounded = (size + 4095) & ~size_t{4095};
  p_.reset(static_cast<char*>(std::aligned_alloc(4096, rounded ? rounded : 4096)));
  if (!p_) throw std::bad_alloc();
  for (size_t i = 0; i < size; ++i) p_.get()[i] = static_cast<char>('A' + (i * 131 + seed) % 61);
}

Worker::Worker(const Config& c, std::string d, unsigned i) : config(c), dir(std::move(d)), index(i) {
  files_.reserve(static_cast<size_t>(c.files));
  others_.reserve(static_cast<size_t>(c.files));
  char name[32];
  for (long n = 0; n < c.files; ++n) {
    std::snprintf(name, sizeof name, "/f%07ld", n);
    files_.push_back(dir + name);
    std::snprintf(name, sizeof name, "/g%07ld", n);
    others_.push_back(dir + name);
  }
}

Worker::~Worker() {
  if (fd >= 0) ::close(fd);
}

namespace sys {

int open(const std::string& path, int flags, mode_t mode) {
  poll_interrupted();
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) fail_errno("open " + path, errno);
  return fd;
}

int open_direct(const std::string& path, int flags, mode_t mode) {
  poll_interrupted();
  int fd = ::open(path.c_str(), flags | O_DIRECT | O_CLOEXEC, mode);
  if (fd < 0 && errno == EINVAL) throw Skip{"O_DIRECT refused (open: EINVAL)"};
  if (fd < 0) fail_errno("open O_DIRECT " + path, errno);
  return fd;
}

void close(int fd, const std::string& path) {
  if (::close(fd) != 0) fail_errno("close " + path, errno);
}

void write_at(int fd, const void* p, size_t n, off_t off, const std::string& path, bool direct) {
  poll_interrupted();
  ssize_t done = ::pwrite(fd, p, n, off);
  if (done < 0 && direct && errno == EINVAL) throw Skip{"O_DIRECT refused (pwrite: EINVAL)"};
  if (done < 0) fail_errno("pwrite " + path + " at " + std::to_string(off), errno);
  if (static_cast<size_t>(done) != n) {
    fail("pwrite " + path + " at " + std::to_string(off) + ": wrote " + std::to_string(done) + " of " +
         std::to_string(n) + " bytes");
  }
}

void read_at(int fd, void* p, size_t n, off_t off, const std::string& path, bool direct) {
  poll_interrupted();
  ssize_t done = ::pread(fd, p, n, off);
  if (done < 0 && direct && errno == EINVAL) throw Skip{"O_DIRECT refused (pread: EINVAL)"};
  if (done < 0) fail_errno("pread " + path + " at " + std::to_string(off), errno);
  if (static_cast<size_t>(done) != n) {
    fail("pread " + path + " at " + std::to_string(off) + ": read " + std::to_string(done) + " of " +
         std::to_string(n) + " bytes");
  }
}

void ftruncate(int fd, off_t size, const std::string& path) {
  if (::ftruncate(fd, size) != 0) fail_errno("ftruncate " + path, errno);
}

void touch(const std::string& path) {
  poll_interrupted();
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) fail_errno("open O_CREAT|O_EXCL " + path, errno);
  close(fd, path);
}

void stat(const std::string& path) {
  poll_interrupted();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) fail_errno("stat " + path, errno);
}

void stat_absent(const std::string& path) {
  poll_interrupted();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) fail("stat " + path + ": exists, but was never created");
  if (errno != ENOENT) fail_errno("stat " + path + " (expected ENOENT)", errno);
}

void unlink(const std::string& path) {
  poll_interrupted();
  if (::unlink(path.c_str()) != 0) fail_errno("unlink " + path, errno);
}

void mkdir(const std::string& path) {
  poll_interrupted();
  if (::mkdir(path.c_str(), 0755) != 0) fail_errno("mkdir " + path, errno);
}

void rmdir(const std::string& path) {
  poll_interrupted();
  if (::rmdir(path.c_str()) != 0) fail_errno("rmdir " + path, errno);
}

void rename(const std::string& from, const std::string& to) {
  poll_interrupted();
  if (::rename(from.c_str(), to.c_str()) != 0) fail_errno("rename " + from + " -> " + to, errno);
}

namespace {

bool dot_or_dotdot(const char* n) { return n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)); }

}  // namespace

long list(const std::string& dir, bool stat_each) {
  poll_interrupted();
  DIR* d = ::opendir(dir.c_str());
  if (!d) fail_errno("opendir " + dir, errno);
  long n = 0;
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d);
    if (!e) {
      int err = errno;
      if (err == 0) break;
      ::closedir(d);
      fail_errno("readdir " + dir, err);
    }
    if (dot_or_dotdot(e->d_name)) continue;
    ++n;
    if (stat_each) {
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int err = errno;
        ::closedir(d);
        fail_errno("fstatat " + dir + "/" + e->d_name, err);
      }
    }
  }
  if (::closedir(d) != 0) fail_errno("closedir " + dir, errno);
  return n;
}

void* map(size_t len, int prot, int fd, const std::string& path) {
  poll_interrupted();
  void* p = ::mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED && errno == ENODEV) throw Skip{"shared mmap refused (ENODEV)"};
  if (p == MAP_FAILED) fail_errno("mmap " + path, errno);
  return p;
}

void msync(void* p, size_t len, const std::string& path) {
  if (::msync(p, len, MS_SYNC) != 0) fail_errno("msync " + path, errno);
}

void unmap(void* p, size_t len, const std::string& path) {
  if (::munmap(p, len) != 0) fail_errno("munmap " + path, errno);
}

void make_file(const std::string& path, size_t size, bool read_back) {
  const size_t chunk = 1 << 20;
  Buffer buf(chunk, 7);
  int fd = open(path, O_CREAT | O_TRUNC | O_RDWR);
  for (size_t off = 0; off < size; off += chunk) {
    write_at(fd, buf.data(), std::min(chunk, size - off), static_cast<off_t>(off), path);
  }
  if (read_back) {
    for (size_t off = 0; off < size; off += chunk) {
      read_at(fd, buf.data(), std::min(chunk, size - off), static_cast<off_t>(off), path);
    }
  }
  close(fd, path);
}

void remove_tree(const std::string& path, bool quiet) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (!quiet) fail_errno("lstat " + path, errno);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d) {
      if (!quiet) fail_errno("opendir " + path, errno);
      return;
    }
    for (;;) {
      errno = 0;
      dirent* e = ::readdir(d);
      if (!e) {
        int err = errno;
        if (err && !quiet) {
          ::closedir(d);
          fail_errno("readdir " + path, err);
        }
        break;
      }
      if (!dot_or_dotdot(e->d_name)) names.push_back(e->d_name);
    }
    if (::closedir(d) != 0 && !quiet) fail_errno("closedir " + path, errno);
    for (const auto& n : names) remove_tree(path + "/" + n, quiet);
    if (::rmdir(path.c_str()) != 0 && !quiet) fail_errno("rmdir " + path, errno);
  } else if (::unlink(path.c_str()) != 0 && !quiet) {
    fail_errno("unlink " + path, errno);
  }
}

}  // namespace sys
}  // namespace fsbench
