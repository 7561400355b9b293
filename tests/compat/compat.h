// fsp-compat: a POSIX compatibility suite that runs against any directory.
//
// Each group runs in its own child process, with its scratch directory as the
// working directory, under a watchdog. A check is one asserted result; every
// CHECK_* macro below counts exactly one check each time it runs, so loops
// aggregate into a single boolean before checking.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace compat {

// ---- registration ---------------------------------------------------------

using GroupFn = void (*)();
struct Registrar {
  Registrar(const char* name, GroupFn fn);
};

#define COMPAT_CAT2(a, b) a##b
#define COMPAT_CAT(a, b) COMPAT_CAT2(a, b)
// GROUP("rename.noreplace") { ... } -- the body runs with the group's fresh
// scratch directory as its working directory.
#define GROUP(name)                                                                 \
  static void COMPAT_CAT(compat_group_, __LINE__)();                                \
  static ::compat::Registrar COMPAT_CAT(compat_reg_, __LINE__)(                     \
      name, &COMPAT_CAT(compat_group_, __LINE__));                                  \
  static void COMPAT_CAT(compat_group_, __LINE__)()

// ---- reporting ------------------------------------------------------------

// Counts one check; prints a FAIL line (or an ok line with --verbose).
bool report(bool ok, const char* file, int line, const std::string& expr, const std::string& detail);
// Counts one skip and prints a SKIP line with the reason.
void skip(const std::string& reason);
// "ENOENT (No such file or directory)"; "0 (success)" for 0.
std::string errstr(int err);
std::string errlist(std::initializer_list<int> errs);  // "EEXIST or ENOTEMPTY"
bool verbose();

template <typename T>
std::string show(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    std::string_view s = v;
    std::string out = "\"";
    for (char c : s.substr(0, 64)) {
      if (c >= 32 && c < 127) out += c;
      else out += "\\x" + std::string(1, "0123456789abcdef"[(c >> 4) & 15]) + "0123456789abcdef"[c & 15];
    }
    return out + (s.size() > 64 ? "\"..." : "\"");
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (std::is_arithmetic_v<T>) {
    return std::to_string(v);
  } else {
    return "(value)";
  }
}

template <typename A, typename B>
bool equal(const A& a, const B& b) {
  constexpr bool ints = std::is_integral_v<A> && std::is_integral_v<B> && !std::is_same_v<A, bool> &&
                        !std::is_same_v<B, bool> && !std::is_same_v<A, char> && !std::is_same_v<B, char>;
  if constexpr (ints) return std::cmp_equal(a, b);
  else return a == b;
}

bool check_errno(long result, int err, std::initializer_list<int> want, const char* file, int line,
                 const char* expr);

}  // namespace compat

// CHECK(cond): cond holds.
#define CHECK(cond) ::compat::report(static_cast<bool>(cond), __FILE__, __LINE__, #cond, "is false")

// CHECK_EQ(actual, expected)
#define CHECK_EQ(a, b)                                                                          \
  ([&]() -> bool {                                                                              \
    const auto& _a = (a);                                                                       \
    const auto& _b = (b);                                                                       \
    return ::compat::report(::compat::equal(_a, _b), __FILE__, __LINE__, #a " == " #b,          \
                            "expected " + ::compat::show(_b) + ", got " + ::compat::show(_a)); \
  }())

// CHECK_OK(syscall): the call does not return -1. Yields the call's result.
#define CHECK_OK(expr)                                                                           \
  ([&]() {                                                                                       \
    errno = 0;                                                                                   \
    auto _r = (expr);                                                                            \
    int _e = errno;                                                                              \
    ::compat::report(_r != -1, __FILE__, __LINE__, #expr,                                        \
                     "expected success, got " + ::compat::errstr(_e));                          \
    errno = _e;                                                                                  \
    return _r;                                                                                   \
  }())

// CHECK_ERRNO(syscall, E1 [, E2...]): the call returns -1 with errno E1 (or one
// of the alternatives, used only where POSIX or Linux documents several).
#define CHECK_ERRNO(expr, ...)                                                                  \
  ([&]() -> bool {                                                                              \
    errno = 0;                                                                                  \
    long _r = static_cast<long>(expr);                                                          \
    int _e = errno;                                                                             \
    return ::compat::check_errno(_r, _e, {__VA_ARGS__}, __FILE__, __LINE__, #expr);             \
  }())

namespace compat {

// ---- helpers that check nothing themselves ---------------------------------

const std::string& group_dir();  // absolute path of the group's scratch directory
bool is_root();
// Closes fd if it is open and returns it: CHECK_OK(closed(open(...))) is one check.
inline int closed(int fd) {
  if (fd >= 0) close(fd);
  return fd;
}
bool put(const char* path, std::string_view data, mode_t mode = 0644);
std::string get(const char* path);             // "<ERRNO>" when the file cannot be read
std::string pread_str(int fd, off_t off, size_t n);
bool write_all(int fd, const void* buf, size_t n, off_t off);
struct stat st(const char* path);   // st_ino == 0 and st_mode == 0 on failure
struct stat lst(const char* path);
struct stat fst(int fd);
bool exists(const char* path);      // lstat succeeds
mode_t perms(const char* path);     // st_mode & 07777, lstat
std::vector<std::string> list_dir(const char* path);  // without "." and ".."
std::string pattern(size_t n, unsigned seed);          // deterministic bytes
void pause_for_clock();  // lets coarse file system clocks tick before a timestamp check
bool newer(const struct timespec& a, const struct timespec& b);  // a > b

// Runs fn in a forked child that has dropped to uid/gid (no supplementary
// groups). The child's checks are sent back through a pipe and counted here.
void as_user(uid_t uid, gid_t gid, const std::function<void()>& fn);

constexpr uid_t kUserA = 65534;  // nobody
constexpr gid_t kGroupA = 65534; // nogroup
constexpr uid_t kUserB = 40001;  // a second unprivileged identity
constexpr gid_t kGroupB = 40001;
constexpr gid_t kGroupOther = 40077;  // a group neither user belongs to

}  // namespace compat
