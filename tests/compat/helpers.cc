// Helpers shared by the groups; none of them counts a check.
#include <dirent.h>
#include <time.h>

#include "compat.h"

namespace compat {

bool is_root() { return geteuid() == 0; }

bool write_all(int fd, const void* buf, size_t n, off_t off) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= w;
    off += w;
  }
  return true;
}

bool put(const char* path, std::string_view data, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = write_all(fd, data.data(), data.size(), 0);
  return close(fd) == 0 && ok;
}

std::string pread_str(int fd, off_t off, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, out.data() + got, n - got, off + got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const char* name = strerrorname_np(errno);
      return std::string("<") + (name ? name : "error") + ">";
    }
    if (r == 0) break;
    got += r;
  }
  out.resize(got);
  return out;
}

std::string get(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const char* name = strerrorname_np(errno);
    return std::string("<") + (name ? name : "error") + ">";
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, r);
  }
  close(fd);
  return out;
}

struct stat st(const char* path) {
  struct stat s {};
  if (stat(path, &s) != 0) s = {};
  return s;
}

struct stat lst(const char* path) {
  struct stat s {};
  if (lstat(path, &s) != 0) s = {};
  return s;
}

struct stat fst(int fd) {
  struct stat s {};
  if (fstat(fd, &s) != 0) s = {};
  return s;
}

bool exists(const char* path) {
  struct stat s;
  return lstat(path, &s) == 0;
}

mode_t perms(const char* path) { return lst(path).st_mode & 07777; }

std::vector<std::string> list_dir(const char* path) {
  std::vector<std::string> names;
  DIR* d = opendir(path);
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  closedir(d);
  return names;
}

std::string pattern(size_t n, unsigned seed) {
  std::string out(n, '\0');
  unsigned x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x & 0xff);
  }
  return out;
}

void pause_for_clock() {
  timespec ts{0, 30 * 1000 * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

bool newer(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

}  // namespace compat
