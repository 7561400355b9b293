// The readiness announcement (readiness.h): a line on the starter's pipe and
// systemd's notification datagram, written here rather than through
// libsystemd so that the host has no dependency for one message.
#include "readiness.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace linfsp {

namespace {

void write_ready_fd(int fd) {
  static constexpr char kLine[] = "READY=1\n";
  size_t done = 0;
  while (done < sizeof(kLine) - 1) {
    ssize_t n = write(fd, kLine + done, sizeof(kLine) - 1 - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
}

void notify_systemd() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  static constexpr char kMessage[] = "READY=1";
  sendto(fd, kMessage, sizeof(kMessage) - 1, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

}  // namespace

void announce_ready(int ready_fd) {
  if (ready_fd >= 0) write_ready_fd(ready_fd);
  notify_systemd();
}

}  // namespace linfsp
