// Starting an instance's process, and checking things as a given user: the
// only code of the daemon that forks. Nothing goes through a shell.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "linfsp/status.h"

namespace linfsp::launcher {

// Who a process runs as (or whom a check is made for).
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  std::string user;           // name, or the uid as text when it has none
  std::string home = "/";
};

// The caller's identity from its SO_PEERCRED/SO_PEERGROUPS credentials,
// with name and home from the password database when it has an entry.
Identity caller_identity(uid_t uid, gid_t gid, std::vector<gid_t> groups);
// A named user's identity (uid, primary gid, supplementary groups).
Result<Identity> user_identity(const std::string& name);

// The child's descriptor for the readiness pipe.
inline constexpr int kReadyFd = 3;

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is the executable's absolute path
  std::vector<std::string> env;   // NAME=value
  std::string working_directory;
  Identity identity;
  int stdin_fd = -1;   // becomes 0 (/dev/null when -1)
  int output_fd = -1;  // becomes 1 and 2
  int ready_fd = -1;   // becomes kReadyFd when >= 0
};

// Forks and executes: in the child, a new session, default signal
// dispositions and mask, the descriptors above and no other, then
// setgroups, setgid, setuid (each checked, then checked again by reading the
// ids back), chdir, execve. A failure in the child is one line on
// output_fd and exit status 127. Returns the child's pid.
Result<pid_t> spawn_instance(const SpawnSpec& spec);

// Checks, as `who` (in a child that has switched to its ids), that `path`
// is a directory `who` may write and search; returns its canonical path as
// `who` resolves it. A check that takes longer than `timeout` (a hung file
// system under the path) fails with ETIMEDOUT.
Result<std::string> check_mountpoint_as(const Identity& who, const std::string& path,
                                        std::chrono::milliseconds timeout);

}  // namespace linfsp::launcher
