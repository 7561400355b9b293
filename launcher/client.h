// The client side of the control protocol, for fsp-launchctl and mount.fsp.
#pragma once

#include <string>

#include "protocol.h"
#include "linfsp/status.h"

namespace linfsp::launcher {

// The socket: `flag` if given, else $LINFSP_LAUNCHER_SOCKET, else the default.
std::string socket_path(const std::string& flag);

// Sends one request and returns the daemon's reply (which may itself be an
// error reply). A failure to reach the daemon or a malformed reply is an
// error Status with errno ECONNREFUSED/ENOENT/EPROTO/ETIMEDOUT.
Result<Message> call(const std::string& socket, const Message& request, int timeout_ms = 300000);

// Exit codes shared by the tools (docs/launcher.md).
enum ExitCode {
  kExitOk = 0,
  kExitFailed = 1,    // the daemon refused or the instance failed
  kExitUsage = 2,     // bad command line
  kExitNoDaemon = 3,  // cannot reach the daemon, or it spoke nonsense
  kExitDenied = 4,    // not allowed (EACCES, EPERM)
  kExitNotFound = 5,  // no such class or instance
  kExitExists = 6,    // the instance or mount point is in use
};
int exit_code_for(int err);

}  // namespace linfsp::launcher
