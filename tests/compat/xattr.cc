// Extended attributes in the user.* (and, as root, trusted.*) namespaces.
#include <linux/limits.h>
#include <sys/xattr.h>

#include <algorithm>

#include "compat.h"

using namespace compat;

namespace {

std::vector<std::string> names_of(const char* path) {
  std::vector<std::string> out;
  ssize_t n = listxattr(path, nullptr, 0);
  if (n <= 0) return out;
  std::string buf(n + 256, '\0');
  n = listxattr(path, buf.data(), buf.size());
  for (ssize_t i = 0; i < n;) {
    std::string name(buf.data() + i);
    if (name.rfind("user.", 0) == 0 || name.rfind("trusted.", 0) == 0) out.push_back(name);
    i += name.size() + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string value_of(const char* path, const char* name) {
  char buf[8192];
  ssize_t n = getxattr(path, name, buf, sizeof(buf));
  if (n < 0) return "<" + std::string(strerrorname_np(errno) ? strerrorname_np(errno) : "error") + ">";
  return std::string(buf, n);
}

// false after a SKIP when user xattrs are not supported here.
bool supported() {
  put("probe", "");
  int r = setxattr("probe", "user.probe", "1", 1, 0);
  int e = errno;
  unlink("probe");
  if (r != 0 && (e == EOPNOTSUPP || e == ENOTSUP)) {
    skip("user extended attributes are not supported");
    return false;
  }
  return true;
}

}  // namespace

GROUP("xattr.basic") {
  if (!supported()) return;
  put("f", "data");
  CHECK_OK(setxattr("f", "user.color", "blue", 4, 0));
  char buf[64];
  CHECK_EQ(getxattr("f", "user.color", buf, sizeof(buf)), 4);
  CHECK_EQ(std::string(buf, 4), "blue");
  CHECK_EQ(getxattr("f", "user.color", nullptr, 0), 4);  // size query
  CHECK_ERRNO(getxattr("f", "user.color", buf, 3), ERANGE);
  CHECK_OK(setxattr("f", "user.color", "green!", 6, 0));  // replace, longer
  CHECK_EQ(value_of("f", "user.color"), "green!");
  CHECK_OK(setxattr("f", "user.color", "red", 3, 0));  // and shorter
  CHECK_EQ(value_of("f", "user.color"), "red");
  CHECK_OK(setxattr("f", "user.empty", "", 0, 0));
  CHECK_EQ(getxattr("f", "user.empty", buf, sizeof(buf)), 0);
  CHECK(names_of("f") == (std::vector<std::string>{"user.color", "user.empty"}));
  CHECK_OK(removexattr("f", "user.color"));
  CHECK_ERRNO(getxattr("f", "user.color", buf, sizeof(buf)), ENODATA);
  CHECK_ERRNO(removexattr("f", "user.color"), ENODATA);
  CHECK(names_of("f") == std::vector<std::string>{"user.empty"});
  CHECK_EQ(get("f"), "data");  // the data is not involved
  CHECK_ERRNO(getxattr("f", "user.never", buf, sizeof(buf)), ENODATA);
  CHECK_ERRNO(getxattr("missing", "user.x", buf, sizeof(buf)), ENOENT);
}

GROUP("xattr.flags") {
  if (!supported()) return;
  put("f", "");
  CHECK_ERRNO(setxattr("f", "user.a", "1", 1, XATTR_REPLACE), ENODATA);
  CHECK_OK(setxattr("f", "user.a", "1", 1, XATTR_CREATE));
  CHECK_ERRNO(setxattr("f", "user.a", "2", 1, XATTR_CREATE), EEXIST);
  CHECK_EQ(value_of("f", "user.a"), "1");
  CHECK_OK(setxattr("f", "user.a", "3", 1, XATTR_REPLACE));
  CHECK_EQ(value_of("f", "user.a"), "3");
  CHECK_ERRNO(setxattr("f", "user.a", "4", 1, XATTR_CREATE | XATTR_REPLACE), EINVAL, EEXIST);
  CHECK_ERRNO(setxattr("f", "user.b", "4", 1, 0x100), EINVAL);
}

GROUP("xattr.list") {
  if (!supported()) return;
  put("f", "");
  std::vector<std::string> want;
  bool ok = true;
  for (int i = 0; i < 20; ++i) {
    std::string name = "user.attr" + std::to_string(i);
    ok = ok && setxattr("f", name.c_str(), name.data(), name.size(), 0) == 0;
    want.push_back(name);
  }
  CHECK(ok);
  std::sort(want.begin(), want.end());
  CHECK(names_of("f") == want);
  ssize_t size = listxattr("f", nullptr, 0);
  CHECK(size >= 0);
  std::string buf(size > 0 ? size : 1, '\0');
  CHECK_EQ(listxattr("f", buf.data(), buf.size()), size);
  CHECK(size > 0 && buf[size - 1] == '\0');  // every name ends with NUL
  CHECK_ERRNO(listxattr("f", buf.data(), 5), ERANGE);
  bool values = true;
  for (const auto& n : want) values = values && value_of("f", n.c_str()) == n;
  CHECK(values);
  // An empty list.
  put("g", "");
  CHECK(names_of("g").empty());
}

GROUP("xattr.limits") {
  if (!supported()) return;
  put("f", "");
  const std::string big = pattern(2000, 17);  // fits ext4's one-block limit too
  CHECK_OK(setxattr("f", "user.big", big.data(), big.size(), 0));
  CHECK_EQ(getxattr("f", "user.big", nullptr, 0), 2000);
  CHECK(value_of("f", "user.big") == big);
  // Binary values with NUL bytes are kept whole.
  const std::string bin("a\0b\0\xff", 5);
  CHECK_OK(setxattr("f", "user.bin", bin.data(), bin.size(), 0));
  CHECK(value_of("f", "user.bin") == bin);
  const std::string long_name = "user." + std::string(250, 'n');  // 255 bytes
  CHECK_OK(setxattr("f", long_name.c_str(), "v", 1, 0));
  CHECK_EQ(value_of("f", long_name.c_str()), "v");
  const std::string too_long = "user." + std::string(251, 'n');  // 256 bytes
  CHECK_ERRNO(setxattr("f", too_long.c_str(), "v", 1, 0), ERANGE);
  CHECK_ERRNO(getxattr("f", too_long.c_str(), nullptr, 0), ERANGE);
  const std::string huge(65537, 'h');
  CHECK_ERRNO(setxattr("f", "user.toobig", huge.data(), huge.size(), 0), E2BIG);
  CHECK_ERRNO(setxattr("f", "", "v", 1, 0), ERANGE);
  CHECK_ERRNO(setxattr("f", "nonamespace", "v", 1, 0), EOPNOTSUPP);
  CHECK_ERRNO(setxattr("f", "bogus.x", "v", 1, 0), EOPNOTSUPP);
}

GROUP("xattr.fd_and_kinds") {
  if (!supported()) return;
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_OK(fsetxattr(fd, "user.fd", "via fd", 6, 0));
  char buf[16];
  CHECK_EQ(fgetxattr(fd, "user.fd", buf, sizeof(buf)), 6);
  CHECK_EQ(value_of("f", "user.fd"), "via fd");
  CHECK(flistxattr(fd, buf, sizeof(buf)) > 0);
  CHECK_OK(fremovexattr(fd, "user.fd"));
  CHECK_ERRNO(fgetxattr(fd, "user.fd", buf, sizeof(buf)), ENODATA);
  close(fd);
  // Directories carry user xattrs.
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(setxattr("d", "user.dir", "yes", 3, 0));
  CHECK_EQ(value_of("d", "user.dir"), "yes");
  // Symlinks: getxattr follows, lsetxattr on the link itself is refused for user.*.
  put("target", "");
  CHECK_OK(symlink("target", "l"));
  CHECK_OK(setxattr("l", "user.via_link", "t", 1, 0));
  CHECK_EQ(value_of("target", "user.via_link"), "t");
  CHECK_ERRNO(lsetxattr("l", "user.on_link", "x", 1, 0), EPERM);
  CHECK_ERRNO(lgetxattr("l", "user.via_link", buf, sizeof(buf)), ENODATA);
  // Special files: user.* is refused on a fifo.
  CHECK_OK(mkfifo("p", 0644));
  CHECK_ERRNO(setxattr("p", "user.x", "x", 1, 0), EPERM);
  // xattrs survive rename and are shared by hard links.
  put("a", "");
  CHECK_OK(setxattr("a", "user.keep", "kept", 4, 0));
  CHECK_OK(rename("a", "b"));
  CHECK_EQ(value_of("b", "user.keep"), "kept");
  CHECK_OK(link("b", "c"));
  CHECK_OK(setxattr("c", "user.second", "2", 1, 0));
  CHECK_EQ(value_of("b", "user.second"), "2");
  // A new file at an old name starts with none.
  CHECK_OK(unlink("b"));
  CHECK_OK(unlink("c"));
  put("b", "");
  CHECK(names_of("b").empty());
}

GROUP("xattr.trusted") {
  if (!supported()) return;
  if (!is_root()) {
    skip("trusted.* needs root");
    return;
  }
  put("f", "");
  int r = setxattr("f", "trusted.t", "root only", 9, 0);
  if (r != 0 && errno == EOPNOTSUPP) {
    skip("trusted.* is not supported");
    return;
  }
  CHECK_EQ(r, 0);
  CHECK_EQ(value_of("f", "trusted.t"), "root only");
  auto names = names_of("f");
  CHECK(std::find(names.begin(), names.end(), "trusted.t") != names.end());
  CHECK_OK(removexattr("f", "trusted.t"));
  // An unprivileged process neither sees nor reads trusted.*.
  CHECK_OK(setxattr("f", "trusted.hidden", "h", 1, 0));
  CHECK_OK(chmod("f", 0666));
  as_user(kUserA, kGroupA, [] {
    char buf[16];
    CHECK_ERRNO(getxattr("f", "trusted.hidden", buf, sizeof(buf)), ENODATA);
    auto seen = names_of("f");
    CHECK(std::find(seen.begin(), seen.end(), "trusted.hidden") == seen.end());
    CHECK_ERRNO(setxattr("f", "trusted.mine", "m", 1, 0), EPERM);
  });
}

GROUP("xattr.large_values") {
  // Values up to XATTR_SIZE_MAX (64 KiB, the Linux limit), and many of them
  // on one file: the limit is the file system's space, not a per-file quota.
  if (!supported()) return;
  put("f", "");
  const std::string max = pattern(XATTR_SIZE_MAX, 31);
  CHECK_OK(setxattr("f", "user.max", max.data(), max.size(), 0));
  CHECK_EQ(getxattr("f", "user.max", nullptr, 0), XATTR_SIZE_MAX);
  std::string back(XATTR_SIZE_MAX, '\0');
  CHECK_EQ(getxattr("f", "user.max", back.data(), back.size()), XATTR_SIZE_MAX);
  CHECK(back == max);
  CHECK_ERRNO(getxattr("f", "user.max", back.data(), back.size() - 1), ERANGE);
  const std::string other = pattern(XATTR_SIZE_MAX, 32);
  CHECK_OK(setxattr("f", "user.max", other.data(), other.size(), XATTR_REPLACE));
  CHECK_EQ(getxattr("f", "user.max", back.data(), back.size()), XATTR_SIZE_MAX);
  CHECK(back == other);
  const std::string huge(XATTR_SIZE_MAX + 1, 'h');
  CHECK_ERRNO(setxattr("f", "user.huge", huge.data(), huge.size(), 0), E2BIG);
  // 64 more values of 16 KiB each beside it: 1.06 MiB on one file.
  constexpr int kMany = 64;
  bool set = true;
  for (int i = 0; i < kMany; ++i) {
    std::string v = pattern(16384, 100 + i);
    set = set && setxattr("f", ("user.v" + std::to_string(i)).c_str(), v.data(), v.size(), 0) == 0;
  }
  CHECK(set);
  CHECK_EQ(names_of("f").size(), static_cast<size_t>(kMany + 1));
  bool same = true;
  std::string buf(16384, '\0');
  for (int i = 0; i < kMany; ++i) {
    ssize_t n = getxattr("f", ("user.v" + std::to_string(i)).c_str(), buf.data(), buf.size());
    same = same && n == 16384 && buf == pattern(16384, 100 + i);
  }
  CHECK(same);
  // A second file holds its own 64 KiB value.
  put("g", "");
  CHECK_OK(setxattr("g", "user.max", max.data(), max.size(), 0));
  // Removing frees the space for reuse.
  CHECK_OK(removexattr("f", "user.max"));
  CHECK_OK(setxattr("f", "user.max2", max.data(), max.size(), 0));
}
