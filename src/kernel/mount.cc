// Mounting and unmounting: mount(2) when privileged, fusermount3 otherwise.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/channel.h"

namespace linfsp::kernel {
namespace {

Status sys_error(const std::string& what) {
  int err = errno;
  return Status::error(err, what + ": " + std::strerror(err));
}

// Runs fusermount3 with `args`; when comm_fd >= 0 the helper sends the
// /dev/fuse descriptor back over it.
Status run_fusermount(const std::vector<std::string>& args, int comm_fd) {
  std::vector<char*> argv;
  std::string prog = "fusermount3";
  argv.push_back(prog.data());
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return sys_error("fork");
  if (pid == 0) {
    if (comm_fd >= 0) {
      std::string env = std::to_string(comm_fd);
      setenv("_FUSE_COMMFD", env.c_str(), 1);
    }
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status::error(EIO, WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127
                                  ? "fusermount3 not found (install package fuse3)"
                                  : "fusermount3 failed");
  }
  return Status::ok();
}

Result<int> receive_fd(int sock) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return Status::error(EIO, "fusermount3 sent no descriptor");
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == nullptr || cmsg->cmsg_type != SCM_RIGHTS) {
    return Status::error(EIO, "fusermount3 sent no descriptor");
  }
  int fd;
  std::memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
  return fd;
}

// The flags fusermount3 (3.14) knows by name. MS_RELATIME is the kernel's
// default, so it needs no word; the rest cannot be had without privilege.
struct FlagWord {
  unsigned long flag;
  const char* word;
};
constexpr FlagWord kFusermountWords[] = {
    {MS_NOEXEC, "noexec"}, {MS_NOATIME, "noatime"}, {MS_SYNCHRONOUS, "sync"}, {MS_DIRSYNC, "dirsync"},
};
// What MountOptions::flags may carry; anything else (MS_BIND, MS_REMOUNT...) is dropped.
constexpr unsigned long kMountFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC |
                                      MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME |
                                      MS_LAZYTIME;
constexpr unsigned long kPrivilegedOnly = MS_STRICTATIME | MS_NODIRATIME | MS_LAZYTIME;

Result<int> mount_unprivileged(const MountOptions& o) {
  if (unsigned long f = o.flags & kPrivilegedOnly) {
    const char* word = (f & MS_STRICTATIME) ? "strictatime" : (f & MS_NODIRATIME) ? "nodiratime" : "lazytime";
    return Status::error(EPERM, std::string("mount option ") + word + " needs a privileged mount");
  }
  // An unprivileged mount is always nosuid,nodev (fusermount3 ignores suid and dev).
  std::string opts = "nosuid,nodev";
  opts += o.read_only ? ",ro" : ",rw";
  for (const FlagWord& w : kFusermountWords) {
    if (o.flags & w.flag) opts += std::string(",") + w.word;
  }
  opts += ",fsname=" + o.fsname;
  if (!o.subtype.empty()) opts += ",subtype=" + o.subtype;
  if (o.allow_other) opts += ",allow_other";
  if (o.default_permissions) opts += ",default_permissions";
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return sys_error("socketpair");
  // The child end must survive exec.
  fcntl(sv[0], F_SETFD, 0);
  Status s = run_fusermount({"-o", opts, "--", o.mountpoint}, sv[0]);
  close(sv[0]);
  if (!s) {
    close(sv[1]);
    return s;
  }
  Result<int> fd = receive_fd(sv[1]);
  close(sv[1]);
  if (fd) fcntl(*fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

}  // namespace

Result<int> mount_fuse(const MountOptions& o) {
  struct stat st;
  if (stat(o.mountpoint.c_str(), &st) < 0) return sys_error("mount point " + o.mountpoint);
  // As libfuse: a directory, or a regular file (a file system whose root is a
  // file); the kernel takes the root's type from rootmode.
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return Status::error(ENOTDIR, "mount point " + o.mountpoint + " is not a directory or a regular file");
  }
  // fusermount3 derives rootmode from the mount point itself.
  if (geteuid() != 0) return mount_unprivileged(o);

  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return sys_error("open /dev/fuse");
  char rootmode[16];
  std::snprintf(rootmode, sizeof rootmode, "%o", static_cast<unsigned>(st.st_mode & S_IFMT));
  std::string data = "fd=" + std::to_string(fd) + ",rootmode=" + rootmode + ",user_id=" +
                     std::to_string(getuid()) + ",group_id=" + std::to_string(getgid());
  if (o.allow_other) data += ",allow_other";
  if (o.default_permissions) data += ",default_permissions";
  // No subtype: plain "fuse", as libfuse mounts without one.
  std::string type = o.subtype.empty() ? "fuse" : "fuse." + o.subtype;
  // Privileged: suid and dev are honoured when the caller cleared them.
  unsigned long flags = (o.flags & kMountFlags) | (o.read_only ? MS_RDONLY : 0);
  if (mount(o.fsname.c_str(), o.mountpoint.c_str(), type.c_str(), flags, data.c_str()) < 0) {
    Status s = sys_error("mount " + o.mountpoint);
    close(fd);
    return s;
  }
  return fd;
}

Status unmount_fuse(const std::string& mountpoint, bool lazy) {
  if (geteuid() != 0) {
    std::vector<std::string> args = {"-u", "-q"};
    if (lazy) args.push_back("-z");
    args.push_back("--");
    args.push_back(mountpoint);
    return run_fusermount(args, -1);
  }
  if (umount2(mountpoint.c_str(), lazy ? MNT_DETACH : 0) < 0) {
    return sys_error("umount " + mountpoint);
  }
  return Status::ok();
}

}  // namespace linfsp::kernel
