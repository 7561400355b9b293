// fsp-compat: POSIX behaviour checks that run against any directory, so the
// suite is proven on tmpfs and then required on MEMFS. Each group runs in a
// fresh scratch directory under a watchdog; each CHECK counts once.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace compat {

struct Group {
  const char* name;
  void (*fn)(const std::string& dir);
};
std::vector<Group>& groups();
struct Register {
  Register(const char* name, void (*fn)(const std::string&)) { groups().push_back({name, fn}); }
};

#define GROUP(name)                                                  \
  static void group_##name(const std::string& dir);                  \
  static ::compat::Register register_##name(#name, &group_##name);   \
  static void group_##name(const std::string& dir)

// Records one check. `detail` explains a failure.
bool record(bool ok, const char* what, const char* file, int line, const std::string& detail);
void skip(const std::string& why);

std::string errno_name(int err);

#define CHECK(cond) ::compat::record(static_cast<bool>(cond), #cond, __FILE__, __LINE__, "")
#define CHECK_EQ(a, b)                                                                     \
  ([&] {                                                                                   \
    auto _a = (a);                                                                         \
    auto _b = (b);                                                                         \
    return ::compat::record(_a == _b, #a " == " #b, __FILE__, __LINE__,                    \
                            "got " + ::compat::show(_a) + ", want " + ::compat::show(_b)); \
  }())
// The call must succeed (not return -1); yields its result.
#define CHECK_OK(expr)                                                                                 \
  ([&] {                                                                                               \
    errno = 0;                                                                                         \
    auto _r = (expr);                                                                                  \
    ::compat::record(_r != -1, #expr, __FILE__, __LINE__, "failed with " + ::compat::errno_name(errno)); \
    return _r;                                                                                         \
  }())
// The call must fail with errno `err`.
#define CHECK_ERR(expr, err)                                                                        \
  ([&] {                                                                                            \
    errno = 0;                                                                                      \
    auto _r = (expr);                                                                               \
    int _e = errno;                                                                                 \
    return ::compat::record(_r == -1 && _e == (err), #expr " fails with " #err, __FILE__, __LINE__, \
                            _r == -1 ? "failed with " + ::compat::errno_name(_e) : "succeeded");    \
  }())

template <typename T>
std::string show(const T& v) {
  if constexpr (std::is_convertible_v<T, std::string>) {
    std::string s = v;
    return "\"" + (s.size() > 60 ? s.substr(0, 60) + "..." : s) + "\"";
  } else if constexpr (std::is_arithmetic_v<T>) {
    return std::to_string(v);
  } else {
    return "?";
  }
}

// Helpers that report nothing themselves.
bool put(const std::string& path, const std::string& data, mode_t mode = 0644);
std::string get(const std::string& path);  // "<errno name>" on failure
struct stat st(const std::string& path);    // st_ino == 0 on failure
struct stat lst(const std::string& path);
bool exists(const std::string& path);
std::vector<std::string> list(const std::string& dir);  // without . and ..
// Runs fn in a child process as uid/gid (groups cleared); returns fn's
// checks' outcome merged into the parent's counts.
void as_user(uid_t uid, gid_t gid, const std::function<void()>& fn);

}  // namespace compat
