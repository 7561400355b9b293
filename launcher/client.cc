#include "client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace linfsp::launcher {

std::string socket_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("LINFSP_LAUNCHER_SOCKET");
  return env != nullptr && *env != '\0' ? env : kDefaultSocket;
}

Result<Message> call(const std::string& path, const Message& request, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Status::error(ENAMETOOLONG, "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(errno, std::string("socket: ") + std::strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return Status::error(err, "cannot reach the launcher at " + path + ": " + std::strerror(err));
  }
  std::string out = request.frame();
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      explicit_bzero(out.data(), out.size());
      close(fd);
      return Status::error(err, std::string("cannot send to the launcher: ") + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  explicit_bzero(out.data(), out.size());  // may hold a secret
  std::string in;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    size_t want = 4;
    if (in.size() >= 4) {
      uint32_t len = frame_length(in.data());
      if (len > kMaxBody) break;
      want = 4 + len;
      if (in.size() >= want) break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0) {
      close(fd);
      return Status::error(ETIMEDOUT, "the launcher did not answer in time");
    }
    char buf[8192];
    ssize_t n = recv(fd, buf, std::min(sizeof(buf), want - in.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (in.size() < 4 || in.size() < 4 + frame_length(in.data())) {
    return Status::error(EPROTO, "the launcher closed the connection without an answer");
  }
  auto m = Message::parse(std::string_view(in).substr(4));
  if (!m) return Status::error(EPROTO, "bad answer from the launcher: " + m.status().message());
  return m;
}

int exit_code_for(int err) {
  switch (err) {
    case 0:
      return kExitOk;
    case EACCES:
    case EPERM:
      return kExitDenied;
    case ENOENT:
      return kExitNotFound;
    case EEXIST:
    case EBUSY:
      return kExitExists;
    default:
      return kExitFailed;
  }
}

}  // namespace linfsp::launcher
