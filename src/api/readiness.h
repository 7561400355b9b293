// Readiness: telling whoever started this file system that its mount is
// usable, so that nobody polls /proc/mounts.
#pragma once

namespace linfsp {

// Called once the volume is mounted and answers requests. Writes
// "READY=1\n" to `ready_fd` (the --ready-fd option; -1: none) and closes it,
// and sends the sd_notify datagram "READY=1" to $NOTIFY_SOCKET when set
// (systemd's protocol: a path, or '@' for an abstract name). Failures are
// ignored: the starter then sees no readiness and its own timeout applies.
void announce_ready(int ready_fd);

}  // namespace linfsp
